import Foundation
import RunModel

/// The canonical JSON of many values of a few types that differ in few members — a sweep's trial configurations and
/// their stages' settings — byte for byte what `RunModel.canonicalJSON` (Foundation's `JSONEncoder`, sorted keys)
/// writes, without encoding every member of every value again.
///
/// Foundation writes a keyed value as `{"k₁":v₁,"k₂":v₂,…}`, keys in its sorted order, each `vᵢ` the member's
/// own encoding (no spacing, so a member's text does not depend on where it sits). So a value is taken apart into
/// its top-level members by a recording `Encoder` (its own `encode(to:)` says which members and keys, with any
/// custom rules such as `ExperimentConfig`'s optional `evaluator`), each member's text comes from Foundation — or,
/// when the member has the same type and bytes as the one last written at that position of that type (`memberText`),
/// from that memo — and the texts are joined in the order Foundation sorts those keys (asked of Foundation once per key
/// set). In a 10,000-trial grid of τ_IS × α × seeds, a trial's configuration then re-encodes its `seed` (and its
/// `distill` when τ_IS or α changed) instead of all 13 members, and its distillation stage mostly its `seed` and
/// `settings`. (Comparing bytes rather than values through `any Equatable` casts saved the runtime's conformance
/// look-ups, 8% of `plan`'s instructions.)
///
/// Anything the recorder does not take apart — no keyed container, a nested or super container, a key that
/// Foundation would escape, a member Foundation cannot encode alone — is encoded whole by `canonicalJSON`, as before.
/// `CanonicalEncoderTests` checks the bytes against `canonicalJSON` on random configurations and their stages.
final class CanonicalEncoder {
    fileprivate let foundation: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
    /// What was last written for a type: its keys in `encode(to:)` order, their order in Foundation's output (with each
    /// key's `"key":` text), each member's last value and text, and the length of the last output (a capacity hint).
    fileprivate final class TypeMemo {
        var keys: [String] = []
        var order: [Int] = []
        var prefixes: [String] = []
        var entries: [Entry?] = []
        var length = 0
    }
    /// A member's last value: its type, its bytes (compared bit for bit), the value itself (held, so that no storage it
    /// refers to is freed and reused while the bytes are remembered), and its JSON text.
    fileprivate struct Entry {
        var type: ObjectIdentifier
        var bytes: [UInt8]
        var value: Any
        var text: String
    }
    private var memos: [ObjectIdentifier: TypeMemo] = [:]

    /// Memo hits and members encoded (for tests and profiles).
    fileprivate(set) var hits = 0, encodes = 0

    /// `RunModel.canonicalJSON(value)`.
    func encode<T: Encodable>(_ value: T) -> String {
        if let text = try? byMembers(value) { return text }
        return canonicalJSON(value)
    }

    private func byMembers<T: Encodable>(_ value: T) throws -> String? {
        let type = ObjectIdentifier(Swift.type(of: value))
        let memo = memos[type] ?? TypeMemo()
        memos[type] = memo
        let recorder = MemberRecorder(encoder: self, memo: memo)
        try value.encode(to: recorder)
        guard !recorder.declined, recorder.containers == 1 else { return nil }
        if recorder.keys != memo.keys {
            // Foundation escapes '/' and control characters in keys; Swift's keys here are identifiers.
            guard Set(recorder.keys).count == recorder.keys.count, recorder.keys.allSatisfy({ k in
                k.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
            }) else { return nil }
            let sorted = try foundationOrder(recorder.keys)
            let position = Dictionary(uniqueKeysWithValues: recorder.keys.enumerated().map { ($0.element, $0.offset) })
            memo.keys = recorder.keys
            memo.order = sorted.map { position[$0]! }
            memo.prefixes = recorder.keys.map { "\"" + $0 + "\":" }
        }
        memo.entries = recorder.entries
        var out = "{"
        out.reserveCapacity(memo.length)
        for (n, i) in memo.order.enumerated() {
            if n > 0 { out += "," }
            out += memo.prefixes[i]
            out += recorder.texts[i]
        }
        out += "}"
        memo.length = out.utf8.count
        return out
    }

    /// The order Foundation writes `keys` in with sorted keys: read off its encoding of a dictionary of them.
    private func foundationOrder(_ keys: [String]) throws -> [String] {
        let dictionary = Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) })
        let text = String(decoding: try foundation.encode(dictionary), as: UTF8.self)
        guard let pairs = try JSONParser.parse(text).value.objectPairs, pairs.count == keys.count else { throw MemberRecorder.Declined() }
        return pairs.map(\.0)
    }

    /// The text of member number `index` (key `key`) of a value: the last text when the member is the same type with the
    /// same bytes as last time, else Foundation's encoding of it alone (a JSON fragment). Equal bytes mean an equal
    /// value for the configuration types (structs, enums, numbers, strings and arrays, whose storage is immutable while
    /// shared — and the entry holds the old value, so its storage is not reused); unequal bytes (another array buffer
    /// with the same elements) only cost an encode.
    fileprivate func memberText<V: Encodable>(_ value: V, key: String, index: Int, memo: TypeMemo, into entries: inout [Entry?]) throws -> String {
        let type = ObjectIdentifier(V.self)
        if index < memo.entries.count, index < memo.keys.count, memo.keys[index] == key, let e = memo.entries[index], e.type == type,
           withUnsafeBytes(of: value, { $0.elementsEqual(e.bytes) }) {
            hits += 1
            entries.append(e)
            return e.text
        }
        encodes += 1
        let text = String(decoding: try foundation.encode(value), as: UTF8.self)
        entries.append(Entry(type: type, bytes: withUnsafeBytes(of: value) { Array($0) }, value: value, text: text))
        return text
    }
}

/// An `Encoder` that takes a value's one keyed container apart into its members' texts (each through
/// `CanonicalEncoder.memberText`; nil values as `null`), and declines anything else.
private final class MemberRecorder: Encoder {
    struct Declined: Error {}
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let encoder: CanonicalEncoder?
    let memo: CanonicalEncoder.TypeMemo
    var keys: [String] = [], texts: [String] = []
    var entries: [CanonicalEncoder.Entry?] = []
    var containers = 0
    var declined = false

    init(encoder: CanonicalEncoder?, memo: CanonicalEncoder.TypeMemo) { self.encoder = encoder; self.memo = memo }
    /// A recorder for what is declined: it records nothing that is used.
    static func discarding() -> MemberRecorder { MemberRecorder(encoder: nil, memo: CanonicalEncoder.TypeMemo()) }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        containers += 1
        return KeyedEncodingContainer(Members<Key>(recorder: self))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { declined = true; return Refusing() }
    func singleValueContainer() -> SingleValueEncodingContainer { declined = true; return Refusing() }

    func record<V: Encodable>(_ value: V, _ key: String) throws {
        guard let encoder else { throw Declined() }
        texts.append(try encoder.memberText(value, key: key, index: keys.count, memo: memo, into: &entries))
        keys.append(key)
    }
    func recordNil(_ key: String) { keys.append(key); texts.append("null"); entries.append(nil) }

    struct Members<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let recorder: MemberRecorder
        var codingPath: [CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws { recorder.recordNil(key.stringValue) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: String, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Double, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Float, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Int, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { try recorder.record(value, key.stringValue) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            recorder.declined = true
            return KeyedEncodingContainer(Members<NestedKey>(recorder: .discarding()))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { recorder.declined = true; return Refusing() }
        mutating func superEncoder() -> Encoder { recorder.declined = true; return MemberRecorder.discarding() }
        mutating func superEncoder(forKey key: Key) -> Encoder { recorder.declined = true; return MemberRecorder.discarding() }
    }

    /// The container handed out for what the recorder declines: every write throws.
    struct Refusing: SingleValueEncodingContainer, UnkeyedEncodingContainer {
        var codingPath: [CodingKey] { [] }
        var count: Int { 0 }
        mutating func encodeNil() throws { throw Declined() }
        mutating func encode<T: Encodable>(_ value: T) throws { throw Declined() }
        mutating func encode(_ value: Bool) throws { throw Declined() }
        mutating func encode(_ value: String) throws { throw Declined() }
        mutating func encode(_ value: Double) throws { throw Declined() }
        mutating func encode(_ value: Float) throws { throw Declined() }
        mutating func encode(_ value: Int) throws { throw Declined() }
        mutating func encode(_ value: Int8) throws { throw Declined() }
        mutating func encode(_ value: Int16) throws { throw Declined() }
        mutating func encode(_ value: Int32) throws { throw Declined() }
        mutating func encode(_ value: Int64) throws { throw Declined() }
        mutating func encode(_ value: UInt) throws { throw Declined() }
        mutating func encode(_ value: UInt8) throws { throw Declined() }
        mutating func encode(_ value: UInt16) throws { throw Declined() }
        mutating func encode(_ value: UInt32) throws { throw Declined() }
        mutating func encode(_ value: UInt64) throws { throw Declined() }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(Members<NestedKey>(recorder: .discarding()))
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { Refusing() }
        mutating func superEncoder() -> Encoder { MemberRecorder.discarding() }
    }
}
