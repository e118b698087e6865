/// The element types the `.npy` reader accepts (numpy's `descr` without the byte-order character).
public enum NpyDType: String, Sendable, CaseIterable {
    case uint8 = "u1", int32 = "i4", int64 = "i8", float32 = "f4", float64 = "f8"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .uint8: return 1
        case .int32, .float32: return 4
        case .int64, .float64: return 8
        }
    }
}

/// A numpy array read from `.npy` bytes: a dtype, a shape, and the raw little-endian C-order payload.
///
/// Why keep raw bytes: the big arrays here are uint8 images (ImageNet-64 batches are ~1.5 GB as uint8 and four
/// times that as Float32), so conversion happens once, straight into the layout the caller wants.
public struct NpyArray: Sendable, Equatable {
    public let dtype: NpyDType
    /// The shape; `[]` for a scalar.
    public let shape: [Int]
    /// The elements, little endian, C (row-major) order.
    public let payload: [UInt8]
    /// Where the array came from ("file.npz!/data.npy"), for error messages.
    public let source: String

    /// Number of elements (the product of the shape).
    public var count: Int { shape.reduce(1, *) }

    /// Reads a standalone `.npy` file.
    public init(path: String) throws {
        try self.init(npyBytes: try readFileBytes(path), source: path)
    }

    /// Parses `.npy` bytes: the magic "\x93NUMPY", a version (1.0 with a 16-bit header length, 2.0/3.0 with a
    /// 32-bit one), a Python-literal header dict {'descr', 'fortran_order', 'shape'}, then the data.
    /// Fortran order and big-endian dtypes are refused rather than silently transposed or byte-swapped.
    public init(npyBytes bytes: [UInt8], source: String) throws {
        let r = ByteReader(bytes: bytes, source: source)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 6, Array(bytes[0..<6]) == magic else {
            throw DataError.invalid(file: source, field: "npy magic",
                                    value: bytes.prefix(6).map { String($0, radix: 16) }.joined(separator: " "),
                                    reason: "expected 93 4e 55 4d 50 59 (\"\\x93NUMPY\"); not an .npy array")
        }
        let major = try r.u8(6, field: "npy version")
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1: headerLength = Int(try r.u16le(8, field: "npy header length")); headerStart = 10
        case 2, 3: headerLength = Int(try r.u32le(8, field: "npy header length")); headerStart = 12
        default:
            throw DataError.invalid(file: source, field: "npy version", value: "\(major).\(bytes.count > 7 ? bytes[7] : 0)",
                                    reason: "only versions 1.0, 2.0 and 3.0 exist")
        }
        let headerText = String(decoding: try r.slice(headerStart, headerLength, field: "npy header"), as: UTF8.self)
        let header = try NpyHeader(text: headerText, source: source)
        let dataStart = headerStart + headerLength

        let descr = header.descr
        let order = descr.first ?? " "
        let code = String(descr.dropFirst())
        guard let dtype = NpyDType(rawValue: code), "<|=".contains(order) || (order == ">" && code == "u1") else {
            throw DataError.invalid(file: source, field: "descr", value: "'\(descr)'",
                                    reason: "supported dtypes are little-endian u1, i4, i8, f4, f8")
        }
        guard !header.fortranOrder else {
            throw DataError.invalid(file: source, field: "fortran_order", value: "True",
                                    reason: "only C-order arrays are supported (save with np.ascontiguousarray)")
        }
        if let bad = header.shape.first(where: { $0 < 0 }) {
            throw DataError.invalid(file: source, field: "shape", value: "\(header.shape)",
                                    reason: "negative dimension \(bad)")
        }
        let expected = checkedProduct(header.shape + [dtype.size])
        guard bytes.count - dataStart == expected else {
            throw DataError.invalid(file: source, field: "data size", value: "\(bytes.count - dataStart) bytes",
                                    reason: "shape \(header.shape) of \(descr) needs \(expected.map(String.init) ?? "too many") bytes")
        }
        self.dtype = dtype
        self.shape = header.shape
        self.payload = Array(bytes[dataStart...])
        self.source = source
    }

    /// The elements as Float32 (every supported dtype converts; int64 and float64 may round).
    public func floats() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        payload.withUnsafeBytes { raw in
            switch dtype {
            case .uint8: for i in out.indices { out[i] = Float(raw[i]) }
            case .int32: for i in out.indices { out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .int64: for i in out.indices { out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .float32: for i in out.indices { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .float64: for i in out.indices { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            }
        }
        return out
    }

    /// The elements as Int. Refused for float dtypes: labels stored as floats mean something went wrong upstream.
    public func ints() throws -> [Int] {
        var out = [Int](repeating: 0, count: count)
        try payload.withUnsafeBytes { raw in
            switch dtype {
            case .uint8: for i in out.indices { out[i] = Int(raw[i]) }
            case .int32: for i in out.indices { out[i] = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .int64: for i in out.indices { out[i] = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .float32, .float64:
                throw DataError.invalid(file: source, field: "descr", value: dtype.rawValue,
                                        reason: "an integer array was expected")
            }
        }
        return out
    }
}

/// The header dict of an `.npy` file, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
///
/// A tiny parser for exactly the Python literals numpy writes (quoted strings, True/False, integers and
/// tuples of integers) instead of pattern matching, so a reordered or differently spaced header still parses
/// and a malformed one is refused with the place it went wrong.
struct NpyHeader {
    var descr = ""
    var fortranOrder = false
    var shape: [Int] = []

    private enum Value { case string(String), bool(Bool), int(Int), tuple([Int]) }

    init(text: String, source: String) throws {
        var s = Substring(text)
        func fail(_ what: String) -> DataError {
            DataError.invalid(file: source, field: "npy header", value: "\"\(text.trimmingTrailingWhitespace)\"",
                              reason: "cannot parse: \(what) at \"\(s.prefix(20))\"")
        }
        func skip() { while let c = s.first, c == " " || c == "\n" || c == "\t" { s.removeFirst() } }
        func eat(_ c: Character) -> Bool { skip(); if s.first == c { s.removeFirst(); return true }; return false }
        func int() throws -> Int {
            skip()
            let digits = s.prefix { $0.isNumber || $0 == "-" }
            guard let v = Int(digits) else { throw fail("expected an integer") }
            s.removeFirst(digits.count)
            skip()
            if s.first == "L" { s.removeFirst() }  // Python 2 longs
            return v
        }
        func string() throws -> String {
            skip()
            guard let q = s.first, q == "'" || q == "\"" else { throw fail("expected a quoted string") }
            s.removeFirst()
            guard let end = s.firstIndex(of: q) else { throw fail("unterminated string") }
            let v = String(s[..<end])
            s = s[s.index(after: end)...]
            return v
        }
        func value() throws -> Value {
            skip()
            if s.first == "'" || s.first == "\"" { return .string(try string()) }
            if s.hasPrefix("True") { s.removeFirst(4); return .bool(true) }
            if s.hasPrefix("False") { s.removeFirst(5); return .bool(false) }
            if eat("(") {
                var items: [Int] = []
                while !eat(")") {
                    items.append(try int())
                    if !eat(",") { guard eat(")") else { throw fail("expected , or )") }; break }
                }
                return .tuple(items)
            }
            return .int(try int())
        }
        guard eat("{") else { throw fail("expected {") }
        var seen = Set<String>()
        while !eat("}") {
            let key = try string()
            guard eat(":") else { throw fail("expected :") }
            let v = try value()
            seen.insert(key)
            switch (key, v) {
            case ("descr", .string(let d)): descr = d
            case ("fortran_order", .bool(let b)): fortranOrder = b
            case ("shape", .tuple(let t)): shape = t
            case ("descr", _), ("fortran_order", _), ("shape", _): throw fail("wrong value type for '\(key)'")
            default: break
            }
            if !eat(",") { guard eat("}") else { throw fail("expected , or }") }; break }
        }
        for key in ["descr", "fortran_order", "shape"] where !seen.contains(key) {
            throw DataError.invalid(file: source, field: key, value: "(absent)", reason: "the npy header lacks it")
        }
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// An `.npz` file: a ZIP archive of `.npy` members, as written by `np.savez` (stored) and
/// `np.savez_compressed` (deflated). Keys are the member names without ".npy", as numpy's `np.load` shows them.
public struct NpzArchive: Sendable {
    public let zip: ZipArchive

    public init(path: String, hint: String = "") throws {
        zip = try ZipArchive(path: path, hint: hint)
    }

    public init(zip: ZipArchive) { self.zip = zip }

    /// The array names ("data", "labels", ...).
    public var keys: [String] { zip.names.map { $0.hasSuffix(".npy") ? String($0.dropLast(4)) : $0 } }

    public func contains(_ key: String) -> Bool { zip.entry(named: key + ".npy") != nil }

    /// The array stored under `key`; a missing key names the keys that exist.
    public func array(_ key: String) throws -> NpyArray {
        guard contains(key) else {
            throw DataError.invalid(file: zip.source, field: "key", value: "'\(key)'",
                                    reason: "not in the npz file; its keys are \(keys)")
        }
        return try NpyArray(npyBytes: try zip.data(for: key + ".npy"), source: zip.source + "!/" + key + ".npy")
    }
}
