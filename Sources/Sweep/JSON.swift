import Foundation

/// A JSON value that keeps object key order (the order axes are written in a spec is the order trials
/// are enumerated in) and tells integers from other numbers (so `"distill.queue.size": 2.5` is a type
/// error, not silently 2). Parsed by `JSONParser`, which records the line of every value for messages.
public indirect enum JSON: Equatable, Sendable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Ordered key–value pairs; duplicate keys are rejected by the parser.
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return false }
            let dy = Dictionary(y, uniquingKeysWith: { a, _ in a })
            return x.allSatisfy { dy[$0.0] == $0.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        if case .object(let kv) = self { return kv.first(where: { $0.0 == key })?.1 }
        return nil
    }

    public var objectPairs: [(String, JSON)]? { if case .object(let kv) = self { return kv }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var intValue: Int? { if case .int(let i) = self { return Int(i) }; return nil }

    /// What kind of value this is, for messages ("a string", "an integer", …).
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Compact JSON; `sortedKeys` gives the canonical form used for hashing and trial keys.
    public func serialized(sortedKeys: Bool = false) -> String {
        var out = ""
        write(&out, sorted: sortedKeys)
        return out
    }

    public var description: String { serialized() }

    private func write(_ o: inout String, sorted: Bool) {
        switch self {
        case .null: o += "null"
        case .bool(let b): o += b ? "true" : "false"
        case .int(let i): o += String(i)
        case .double(let d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { o += String(Int64(d)) } else { o += "\(d)" }
        case .string(let s): JSON.quote(s, into: &o)
        case .array(let a):
            o += "["
            for (i, v) in a.enumerated() { if i > 0 { o += "," }; v.write(&o, sorted: sorted) }
            o += "]"
        case .object(let kv):
            o += "{"
            let pairs = sorted ? kv.sorted { $0.0 < $1.0 } : kv
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { o += "," }
                JSON.quote(k, into: &o); o += ":"; v.write(&o, sorted: sorted)
            }
            o += "}"
        }
    }

    static func quote(_ s: String, into o: inout String) {
        o += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\t": o += "\\t"
            default:
                if u.value < 0x20 { o += String(format: "\\u%04x", u.value) } else { o.unicodeScalars.append(u) }
            }
        }
        o += "\""
    }

    /// Encodes a Codable value (keys sorted).
    public static func encode<T: Encodable>(_ v: T) throws -> JSON {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try JSONParser.parse(String(decoding: try enc.encode(v), as: UTF8.self)).value
    }

    /// Decodes a Codable value from this JSON: straight from the tree when `JSONValueDecoder` can (the value
    /// Foundation would decode), else with Foundation's `JSONDecoder` on the serialized text, whose errors users see.
    public func decode<T: Decodable>(_ t: T.Type) throws -> T {
        if let v = try? JSONValueDecoder.decode(T.self, from: self) { return v }
        return try JSONDecoder().decode(T.self, from: Data(serialized().utf8))
    }

    /// Decodes a keyed value (a struct) as `decode(_:)` does, taking each top-level member that is identical to the one
    /// last decoded with `memo` from the memo instead of decoding it again (`JSONValueDecoder.Memo`).
    func decode<T: Decodable>(_ t: T.Type, memo: JSONValueDecoder.Memo) throws -> T {
        if let v = try? T(from: JSONValueDecoder(value: self, memo: memo)) { return v }
        return try JSONDecoder().decode(T.self, from: Data(serialized().utf8))
    }

    /// Whether two trees are the same value written the same way: same cases, same numbers bit for bit, same key
    /// order. Stricter than `==` (which equates 1 with 1.0 and reordered objects), as a memo must be; a subtree
    /// shared by both (the untouched parts of a copy) is recognised by its storage without visiting it.
    static func identical(_ a: JSON, _ b: JSON) -> Bool {
        func sameStorage<E>(_ x: [E], _ y: [E]) -> Bool {
            x.withUnsafeBufferPointer { p in y.withUnsafeBufferPointer { q in p.baseAddress == q.baseAddress } }
        }
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)):
            return x.count == y.count && (sameStorage(x, y) || zip(x, y).allSatisfy { identical($0, $1) })
        case let (.object(x), .object(y)):
            return x.count == y.count && (sameStorage(x, y) || zip(x, y).allSatisfy { $0.0 == $1.0 && identical($0.1, $1.1) })
        default: return false
        }
    }

    /// The value at a dotted path ("distill.queue.size").
    public func value(at path: [String]) -> JSON? {
        var cur: JSON? = self
        for k in path { cur = cur?[k] }
        return cur
    }

    /// Sets the value at a dotted path, creating objects on the way; objects given as values are merged
    /// key by key into existing objects (so an axis `"distill.queue": {"size": 64}` keeps the other keys).
    public mutating func set(_ path: ArraySlice<String>, _ v: JSON) {
        guard let k = path.first else { self = JSON.merge(self, v); return }
        var kv = objectPairs ?? []
        if let i = kv.firstIndex(where: { $0.0 == k }) {
            kv[i].1.set(path.dropFirst(), v)
        } else {
            var child = JSON.object([])
            child.set(path.dropFirst(), v)
            kv.append((k, child))
        }
        self = .object(kv)
    }

    /// Deep merge: objects merge key by key, anything else replaces.
    public static func merge(_ base: JSON, _ over: JSON) -> JSON {
        guard case .object(var kv) = base, case .object(let ov) = over else { return over }
        for (k, v) in ov {
            if let i = kv.firstIndex(where: { $0.0 == k }) { kv[i].1 = merge(kv[i].1, v) } else { kv.append((k, v)) }
        }
        return .object(kv)
    }
}

/// A JSON parser that records where each value starts (line, column) by its JSON path.
public struct JSONParser {
    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int, column: Int, message: String
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// The parsed value and the line of every value by path ("" for the root, "grid.seed[1]").
    public static func parse(_ text: String) throws -> (value: JSON, lines: [String: Int]) {
        var p = JSONParser(Array(text.utf8))
        p.skipSpace()
        let v = try p.value(path: "")
        p.skipSpace()
        if p.i < p.b.count { throw p.error("unexpected text after the JSON value") }
        return (v, p.lines)
    }

    private let b: [UInt8]
    private var i = 0
    private var line = 1, lineStart = 0
    private var lines: [String: Int] = [:]

    private init(_ b: [UInt8]) { self.b = b }

    private func error(_ m: String) -> ParseError { ParseError(line: line, column: i - lineStart + 1, message: m) }

    private mutating func skipSpace() {
        while i < b.count {
            switch b[i] {
            case 0x20, 0x09, 0x0D: i += 1
            case 0x0A: i += 1; line += 1; lineStart = i
            default: return
            }
        }
    }

    private mutating func expect(_ c: UInt8) throws {
        guard i < b.count, b[i] == c else { throw error("expected '\(Character(UnicodeScalar(c)))'") }
        i += 1
    }

    private mutating func value(path: String) throws -> JSON {
        guard i < b.count else { throw error("unexpected end of file") }
        lines[path] = line
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var kv: [(String, JSON)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw error("expected a quoted key") }
                let k = try string()
                if kv.contains(where: { $0.0 == k }) { throw error("duplicate key '\(k)'") }
                skipSpace(); try expect(UInt8(ascii: ":")); skipSpace()
                kv.append((k, try value(path: path.isEmpty ? k : path + "." + k)))
                skipSpace()
                guard i < b.count else { throw error("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                throw error("expected ',' or '}' in an object")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipSpace()
                a.append(try value(path: path + "[\(a.count)]"))
                skipSpace()
                guard i < b.count else { throw error("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw error("expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return try number()
        }
    }

    private mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard i + u.count <= b.count, Array(b[i..<i + u.count]) == u else { throw error("invalid literal") }
        i += u.count
    }

    private mutating func number() throws -> JSON {
        let start = i
        var isInt = true
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        while i < b.count {
            let c = b[i]
            if c >= 0x30 && c <= 0x39 { i += 1 }
            else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") { isInt = false; i += 1 }
            else { break }
        }
        let s = String(decoding: b[start..<i], as: UTF8.self)
        if s.isEmpty || s == "-" { i = start; throw error("unexpected character '\(Character(UnicodeScalar(b[start])))'") }
        if isInt, let v = Int64(s) { return .int(v) }
        guard let d = Double(s) else { throw error("invalid number '\(s)'") }
        return .double(d)
    }

    private mutating func string() throws -> String {
        try expect(UInt8(ascii: "\""))
        var out = [UInt8]()
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; return String(decoding: out, as: UTF8.self) }
            if c == 0x0A { throw error("newline in a string") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { break }
                let e = b[i]; i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard i + 4 <= b.count, var code = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else { throw error("bad \\u escape") }
                    i += 4
                    if code >= 0xD800 && code < 0xDC00, i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u"),
                       let low = UInt32(String(decoding: b[i + 2..<i + 6], as: UTF8.self), radix: 16) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00); i += 6
                    }
                    out += Array(String(UnicodeScalar(code).map(Character.init) ?? "?").utf8)
                default: out.append(e)
                }
            } else { out.append(c); i += 1 }
        }
        throw error("unterminated string")
    }
}
