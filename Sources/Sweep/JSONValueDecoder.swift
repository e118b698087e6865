import Foundation

/// Decodes a `Decodable` value straight from a `JSON` tree, where `JSON.decode` writes the tree out and runs
/// Foundation's `JSONDecoder` on the text: a spec's expansion decodes one `ExperimentConfig` per trial, and that
/// round trip (writing the text, then Foundation's decoding) was 36% of `plan`'s instructions (callgrind, issue 29).
///
/// Every value it returns is the one Foundation would decode from `serialized()`: numbers are read from the text
/// `serialized()` writes for them (so a `Float` is rounded once from the decimal text, never through a `Double`
/// first unless both agree), integers only from integer text. Anything else — a missing key, a type mismatch, a
/// number that is not exact in the requested type — throws `Declined`, and `JSON.decode` then asks Foundation,
/// whose error messages (with their coding paths) are the ones users see.
struct JSONValueDecoder: Decoder {
    /// This decoder does not decide this value: Foundation does (and words the error, if there is one).
    struct Declined: Error {}

    /// The top-level members last decoded, by key: the JSON subtree and the value decoded from it. A sweep's trials
    /// are one base configuration with a few paths set, so most members of a trial's tree are identical to the
    /// previous trial's (`JSON.identical`, mostly by shared storage) and are taken from here instead of decoded
    /// again. Decoding is a function of the subtree, so a remembered value is the one decoding would return.
    final class Memo {
        var last: [String: (json: JSON, value: Any)] = [:]
        /// Members taken from the memo and members decoded (for tests and profiles).
        var hits = 0, misses = 0
        init() {}
    }

    let value: JSON
    /// Used by the top-level container only (nested values are members' insides).
    var memo: Memo? = nil
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let pairs) = value else { throw Declined() }
        return KeyedDecodingContainer(Keyed<Key>(pairs: pairs, memo: memo))
    }
    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw Declined() }
        return Unkeyed(items: items)
    }
    func singleValueContainer() throws -> SingleValueDecodingContainer { Single(value: value) }

    /// The text `JSON.serialized()` writes for a number, which is what Foundation would parse.
    static func numberText(_ v: JSON) throws -> String {
        switch v {
        case .int(let i): return String(i)
        case .double: return v.serialized()
        default: throw Declined()
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from v: JSON) throws -> T {
        switch type {
        case is Bool.Type: guard case .bool(let b) = v else { throw Declined() }; return b as! T
        case is String.Type: guard case .string(let s) = v else { throw Declined() }; return s as! T
        case is Int.Type: return try integer(Int.self, v) as! T
        case is Int64.Type: return try integer(Int64.self, v) as! T
        case is UInt64.Type: return try integer(UInt64.self, v) as! T
        case is Int32.Type: return try integer(Int32.self, v) as! T
        case is UInt32.Type: return try integer(UInt32.self, v) as! T
        case is UInt.Type: return try integer(UInt.self, v) as! T
        case is Float.Type:
            let text = try numberText(v)
            // Foundation's number parsing may go through Double: decide only where both readings agree.
            guard let f = Float(text), let d = Double(text), Float(d) == f, f.isFinite else { throw Declined() }
            return f as! T
        case is Double.Type:
            guard let d = Double(try numberText(v)), d.isFinite else { throw Declined() }
            return d as! T
        case is Date.Type, is Data.Type, is URL.Type, is Decimal.Type, is Int8.Type, is Int16.Type, is UInt8.Type, is UInt16.Type:
            throw Declined()
        default: return try T(from: JSONValueDecoder(value: v))
        }
    }

    static func integer<I: FixedWidthInteger>(_ type: I.Type, _ v: JSON) throws -> I {
        let text = try numberText(v)
        guard !text.contains(where: { !$0.isNumber && $0 != "-" }), let i = I(text) else { throw Declined() }
        return i
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let pairs: [(String, JSON)]
        var memo: Memo? = nil
        var codingPath: [CodingKey] { [] }
        var allKeys: [Key] { pairs.compactMap { Key(stringValue: $0.0) } }

        func find(_ key: Key) -> JSON? {
            let k = key.stringValue
            return pairs.first(where: { $0.0 == k })?.1
        }
        func contains(_ key: Key) -> Bool { find(key) != nil }
        func decodeNil(forKey key: Key) throws -> Bool {
            guard let v = find(key) else { throw Declined() }
            return v == .null
        }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decode(type, key) }
        private func decode<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T {
            guard let v = find(key) else { throw Declined() }
            guard let memo else { return try JSONValueDecoder.decode(type, from: v) }
            if let m = memo.last[key.stringValue], let value = m.value as? T, JSON.identical(m.json, v) { memo.hits += 1; return value }
            let value = try JSONValueDecoder.decode(type, from: v)
            memo.last[key.stringValue] = (v, value)
            memo.misses += 1
            return value
        }
        func decode(_ t: Bool.Type, forKey key: Key) throws -> Bool { try decode(t, key) }
        func decode(_ t: String.Type, forKey key: Key) throws -> String { try decode(t, key) }
        func decode(_ t: Double.Type, forKey key: Key) throws -> Double { try decode(t, key) }
        func decode(_ t: Float.Type, forKey key: Key) throws -> Float { try decode(t, key) }
        func decode(_ t: Int.Type, forKey key: Key) throws -> Int { try decode(t, key) }
        func decode(_ t: Int8.Type, forKey key: Key) throws -> Int8 { try decode(t, key) }
        func decode(_ t: Int16.Type, forKey key: Key) throws -> Int16 { try decode(t, key) }
        func decode(_ t: Int32.Type, forKey key: Key) throws -> Int32 { try decode(t, key) }
        func decode(_ t: Int64.Type, forKey key: Key) throws -> Int64 { try decode(t, key) }
        func decode(_ t: UInt.Type, forKey key: Key) throws -> UInt { try decode(t, key) }
        func decode(_ t: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(t, key) }
        func decode(_ t: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(t, key) }
        func decode(_ t: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(t, key) }
        func decode(_ t: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(t, key) }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            guard let v = find(key) else { throw Declined() }
            return try JSONValueDecoder(value: v).container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
            guard let v = find(key) else { throw Declined() }
            return try JSONValueDecoder(value: v).unkeyedContainer()
        }
        func superDecoder() throws -> Decoder { throw Declined() }
        func superDecoder(forKey key: Key) throws -> Decoder { throw Declined() }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let items: [JSON]
        var currentIndex = 0
        var codingPath: [CodingKey] { [] }
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        mutating func next() throws -> JSON {
            guard !isAtEnd else { throw Declined() }
            defer { currentIndex += 1 }
            return items[currentIndex]
        }
        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else { throw Declined() }
            if items[currentIndex] == .null { currentIndex += 1; return true }
            return false
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONValueDecoder.decode(type, from: try next()) }
        mutating func decode(_ t: Bool.Type) throws -> Bool { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: String.Type) throws -> String { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Double.Type) throws -> Double { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Float.Type) throws -> Float { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Int.Type) throws -> Int { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Int8.Type) throws -> Int8 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Int16.Type) throws -> Int16 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Int32.Type) throws -> Int32 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: Int64.Type) throws -> Int64 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: UInt.Type) throws -> UInt { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: UInt8.Type) throws -> UInt8 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: UInt16.Type) throws -> UInt16 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: UInt32.Type) throws -> UInt32 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func decode(_ t: UInt64.Type) throws -> UInt64 { try JSONValueDecoder.decode(t, from: try next()) }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            try JSONValueDecoder(value: try next()).container(keyedBy: type)
        }
        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try JSONValueDecoder(value: try next()).unkeyedContainer() }
        mutating func superDecoder() throws -> Decoder { throw Declined() }
    }

    struct Single: SingleValueDecodingContainer {
        let value: JSON
        var codingPath: [CodingKey] { [] }
        func decodeNil() -> Bool { value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONValueDecoder.decode(type, from: value) }
        func decode(_ t: Bool.Type) throws -> Bool { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: String.Type) throws -> String { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Double.Type) throws -> Double { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Float.Type) throws -> Float { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Int.Type) throws -> Int { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Int8.Type) throws -> Int8 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Int16.Type) throws -> Int16 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Int32.Type) throws -> Int32 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: Int64.Type) throws -> Int64 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: UInt.Type) throws -> UInt { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: UInt8.Type) throws -> UInt8 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: UInt16.Type) throws -> UInt16 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: UInt32.Type) throws -> UInt32 { try JSONValueDecoder.decode(t, from: value) }
        func decode(_ t: UInt64.Type) throws -> UInt64 { try JSONValueDecoder.decode(t, from: value) }
    }
}
