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
/// when the member equals the one last seen under the same type and key, from that memo — and the texts are joined
/// in the order Foundation sorts those keys (asked of Foundation once per key set). In a 10,000-trial grid of
/// τ_IS × α × seeds, a trial's configuration then re-encodes its `seed` (and its `distill` when τ_IS or α
/// changed) instead of all 13 members, and its distillation stage its `seed` and `settings`.
///
/// Anything the recorder does not take apart — no keyed container, a nested or super container, a key that
/// Foundation would escape, a member Foundation cannot encode alone — is encoded whole by `canonicalJSON`, as before.
/// `CanonicalEncoderTests` checks the bytes against `canonicalJSON` on random configurations and their stages.
final class CanonicalEncoder {
    private let foundation: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()
    /// A member of a type: where a member's last value and text are remembered.
    private struct Slot: Hashable {
        var type: ObjectIdentifier
        var key: String
    }
    private var memo: [Slot: (value: any Encodable, text: String)] = [:]
    /// The keys of a value, in the order its `encode(to:)` wrote them → the order Foundation writes them in.
    private var orders: [[String]: [String]] = [:]

    /// Memo hits and members encoded (for tests and profiles).
    private(set) var hits = 0, encodes = 0

    /// `RunModel.canonicalJSON(value)`.
    func encode<T: Encodable>(_ value: T) -> String {
        if let text = try? byMembers(value) { return text }
        return canonicalJSON(value)
    }

    private func byMembers<T: Encodable>(_ value: T) throws -> String? {
        let recorder = MemberRecorder()
        try value.encode(to: recorder)
        guard !recorder.declined, recorder.containers == 1 else { return nil }
        var byKey: [String: (any Encodable)?] = [:]
        for (k, v) in recorder.members {
            // Foundation escapes '/' and control characters in keys; Swift's keys here are identifiers.
            guard byKey[k] == nil, k.utf8.allSatisfy({ $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) })
            else { return nil }
            byKey[k] = .some(v)
        }
        let keys = recorder.members.map(\.0)
        let order = try orders[keys] ?? foundationOrder(keys)
        orders[keys] = order
        var out = "{"
        for (i, k) in order.enumerated() {
            if i > 0 { out += "," }
            out += "\"" + k + "\":"
            out += try memberText(Slot(type: ObjectIdentifier(type(of: value)), key: k), byKey[k]!)
        }
        return out + "}"
    }

    /// The order Foundation writes `keys` in with sorted keys: read off its encoding of a dictionary of them.
    private func foundationOrder(_ keys: [String]) throws -> [String] {
        let dictionary = Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) })
        let text = String(decoding: try foundation.encode(dictionary), as: UTF8.self)
        guard let pairs = try JSONParser.parse(text).value.objectPairs, pairs.count == keys.count else { throw MemberRecorder.Declined() }
        return pairs.map(\.0)
    }

    private func memberText(_ slot: Slot, _ value: (any Encodable)?) throws -> String {
        guard let value else { return "null" }
        if let m = memo[slot], Self.equal(m.value, value) { hits += 1; return m.text }
        encodes += 1
        let text = try fragment(value)
        memo[slot] = (value, text)
        return text
    }

    /// Foundation's text of one member on its own (a number, a string, an array, an object: JSON fragments).
    private func fragment<V: Encodable>(_ v: V) throws -> String { String(decoding: try foundation.encode(v), as: UTF8.self) }

    /// Whether two members are equal values (a type that is not `Equatable` is never taken from the memo).
    private static func equal(_ a: any Encodable, _ b: any Encodable) -> Bool {
        guard let a = a as? any Equatable else { return false }
        return a.isEqual(toAny: b)
    }
}

private extension Equatable {
    func isEqual(toAny other: Any) -> Bool { (other as? Self).map { $0 == self } ?? false }
}

/// An `Encoder` that records the members a value's `encode(to:)` writes into one keyed container (nil: an explicit
/// null), and declines anything else.
private final class MemberRecorder: Encoder {
    struct Declined: Error {}
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var members: [(String, (any Encodable)?)] = []
    var containers = 0
    var declined = false

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        containers += 1
        return KeyedEncodingContainer(Members<Key>(recorder: self))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer { declined = true; return Refusing() }
    func singleValueContainer() -> SingleValueEncodingContainer { declined = true; return Refusing() }

    struct Members<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let recorder: MemberRecorder
        var codingPath: [CodingKey] { [] }
        private func record(_ v: (any Encodable)?, _ key: Key) { recorder.members.append((key.stringValue, v)) }
        mutating func encodeNil(forKey key: Key) throws { record(nil, key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Bool, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: String, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Double, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Float, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Int, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Int8, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Int16, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Int32, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: Int64, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: UInt, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: UInt8, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: UInt16, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: UInt32, forKey key: Key) throws { record(value, key) }
        mutating func encode(_ value: UInt64, forKey key: Key) throws { record(value, key) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
            recorder.declined = true
            return KeyedEncodingContainer(Members<NestedKey>(recorder: MemberRecorder()))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { recorder.declined = true; return Refusing() }
        mutating func superEncoder() -> Encoder { recorder.declined = true; return MemberRecorder() }
        mutating func superEncoder(forKey key: Key) -> Encoder { recorder.declined = true; return MemberRecorder() }
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
            KeyedEncodingContainer(Members<NestedKey>(recorder: MemberRecorder()))
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { Refusing() }
        mutating func superEncoder() -> Encoder { MemberRecorder() }
    }
}
