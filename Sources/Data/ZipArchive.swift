/// One member of a ZIP archive, as described by the archive's central directory.
public struct ZipEntry: Sendable, Equatable {
    /// The member's path inside the archive ("data.npy", "archive/data/0").
    public let name: String
    /// 0 = stored, 8 = deflate; other methods are listed but refused by `ZipArchive.data(for:)`.
    public let method: UInt16
    /// The general-purpose flags (bit 0 = encrypted, bit 3 = sizes in a data descriptor).
    public let flags: UInt16
    public let crc32: UInt32
    public let compressedSize: Int
    public let uncompressedSize: Int
    /// Where the member's local header starts.
    public let localHeaderOffset: Int
}

/// A minimal read-only ZIP reader: enough for `.npz` files (numpy), Python wheels and TorchScript archives.
///
/// Why our own: the project reads three ZIP-based formats and needs only "list the members, give me one
/// member's bytes, checked". Doing that on zlib (already a dependency) is ~200 lines; a general ZIP library
/// would bring writing, streaming and encryption we do not use.
///
/// What it does: finds the end-of-central-directory record (and the ZIP64 one when counts or offsets overflow
/// 32 bits, as numpy's `force_zip64` writer and large archives produce), reads every central-directory entry
/// (with ZIP64 extra fields), and on request locates the member's data through its local header (whose extra
/// field may differ from the central one: numpy and PyTorch both pad it), inflates it if needed and checks the
/// CRC-32. Sizes and CRCs always come from the central directory, so members written with data descriptors
/// (flag bit 3) work too. Multi-disk archives and encryption are refused.
public struct ZipArchive: Sendable {
    /// The archive's path (or a descriptive name for an in-memory archive), used in error messages.
    public let source: String
    /// The members in central-directory order.
    public let entries: [ZipEntry]
    private let bytes: [UInt8]
    private let index: [String: Int]

    /// Opens the archive at `path` (read fully into memory).
    public init(path: String, hint: String = "") throws {
        try self.init(bytes: try readFileBytes(path, hint: hint), source: path)
    }

    /// Opens an archive held in memory, e.g. a TorchScript archive that is itself a member of a wheel.
    /// - Parameter source: how to name the archive in error messages ("x.whl!/model.pt").
    public init(bytes: [UInt8], source: String) throws {
        self.bytes = bytes
        self.source = source
        let r = ByteReader(bytes: bytes, source: source)
        let (count, cdOffset, cdSize) = try ZipArchive.locateCentralDirectory(r)
        try r.require(cdOffset, cdSize, field: "central directory")
        var entries: [ZipEntry] = []
        entries.reserveCapacity(count)
        var p = cdOffset
        for k in 0..<count {
            let f = "central directory entry \(k)"
            let sig = try r.u32le(p, field: f + " signature")
            guard sig == 0x0201_4B50 else {
                throw DataError.invalid(file: source, field: f + " signature", value: hex(sig),
                                        reason: "expected 0x02014b50 (corrupt central directory)")
            }
            let flags = try r.u16le(p + 8, field: f + " flags")
            let method = try r.u16le(p + 10, field: f + " method")
            let crc = try r.u32le(p + 16, field: f + " crc32")
            var csize = UInt64(try r.u32le(p + 20, field: f + " compressed size"))
            var usize = UInt64(try r.u32le(p + 24, field: f + " uncompressed size"))
            let nameLen = Int(try r.u16le(p + 28, field: f + " name length"))
            let extraLen = Int(try r.u16le(p + 30, field: f + " extra length"))
            let commentLen = Int(try r.u16le(p + 32, field: f + " comment length"))
            let disk = try r.u16le(p + 34, field: f + " disk number")
            var offset = UInt64(try r.u32le(p + 42, field: f + " local header offset"))
            let name = String(decoding: try r.slice(p + 46, nameLen, field: f + " name"), as: UTF8.self)
            // ZIP64 extra field (id 1): 64-bit values for exactly those fields whose 32-bit slot is 0xFFFFFFFF.
            var e = p + 46 + nameLen
            let extraEnd = e + extraLen
            try r.require(e, extraLen, field: "\(name) extra field")
            while e + 4 <= extraEnd {
                let id = try r.u16le(e, field: "\(name) extra id")
                let len = Int(try r.u16le(e + 2, field: "\(name) extra length"))
                if id == 1 {
                    var q = e + 4
                    for slot in 0..<3 {
                        let wide: Bool = [usize, csize, offset][slot] == 0xFFFF_FFFF
                        guard wide else { continue }
                        guard q + 8 <= e + 4 + len else {
                            throw DataError.invalid(file: source, field: "\(name) zip64 extra field",
                                                    value: "\(len) bytes", reason: "too short for its 64-bit sizes")
                        }
                        let v = try r.u64le(q, field: "\(name) zip64 extra field")
                        if slot == 0 { usize = v } else if slot == 1 { csize = v } else { offset = v }
                        q += 8
                    }
                }
                e += 4 + len
            }
            guard disk == 0 || disk == 0xFFFF else {
                throw DataError.invalid(file: source, field: "\(name) disk number", value: "\(disk)",
                                        reason: "multi-disk (spanned) archives are not supported")
            }
            guard csize <= UInt64(bytes.count), usize < UInt64(Int.max / 2), offset <= UInt64(bytes.count) else {
                throw DataError.invalid(file: source, field: "\(name) sizes",
                                        value: "compressed \(csize), uncompressed \(usize), offset \(offset)",
                                        reason: "larger than the \(bytes.count)-byte archive (corrupt entry)")
            }
            entries.append(ZipEntry(name: name, method: method, flags: flags, crc32: crc,
                                    compressedSize: Int(csize), uncompressedSize: Int(usize),
                                    localHeaderOffset: Int(offset)))
            p = extraEnd + commentLen
        }
        self.entries = entries
        var index: [String: Int] = [:]
        for (k, entry) in entries.enumerated() where index[entry.name] == nil { index[entry.name] = k }
        self.index = index
    }

    /// The member names in archive order.
    public var names: [String] { entries.map(\.name) }

    /// The entry called `name`, or nil.
    public func entry(named name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// The decompressed, CRC-checked bytes of the member called `name`.
    public func data(for name: String) throws -> [UInt8] {
        guard let entry = entry(named: name) else {
            let listed = names.prefix(20).joined(separator: ", ")
            throw DataError.invalid(file: source, field: "member", value: name,
                                    reason: "no such member; the archive holds: \(listed)\(names.count > 20 ? ", ..." : "")")
        }
        return try data(for: entry)
    }

    /// The decompressed, CRC-checked bytes of `entry`.
    public func data(for entry: ZipEntry) throws -> [UInt8] {
        let r = ByteReader(bytes: bytes, source: source)
        let f = "\(entry.name) local header"
        let sig = try r.u32le(entry.localHeaderOffset, field: f)
        guard sig == 0x0403_4B50 else {
            throw DataError.invalid(file: source, field: f + " signature", value: hex(sig),
                                    reason: "expected 0x04034b50 (corrupt archive or wrong offset)")
        }
        guard entry.flags & 1 == 0 else {
            throw DataError.invalid(file: source, field: "\(entry.name) flags", value: hex(UInt32(entry.flags)),
                                    reason: "the member is encrypted")
        }
        // The local header's own name and extra lengths decide where the data starts.
        let nameLen = Int(try r.u16le(entry.localHeaderOffset + 26, field: f + " name length"))
        let extraLen = Int(try r.u16le(entry.localHeaderOffset + 28, field: f + " extra length"))
        let start = entry.localHeaderOffset + 30 + nameLen + extraLen
        let payload = try r.slice(start, entry.compressedSize, field: "\(entry.name) data")
        let out: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw DataError.invalid(file: source, field: "\(entry.name) sizes",
                                        value: "\(entry.compressedSize) vs \(entry.uncompressedSize)",
                                        reason: "a stored member must have equal compressed and uncompressed sizes")
            }
            out = Array(payload)
        case 8:
            guard entry.uncompressedSize <= entry.compressedSize * Gzip.maxDeflateRatio + 1024 else {
                throw DataError.invalid(file: source, field: "\(entry.name) uncompressed size",
                                        value: "\(entry.uncompressedSize)",
                                        reason: "impossible for \(entry.compressedSize) deflated bytes (corrupt entry)")
            }
            out = try Gzip.inflateRaw(payload, expectedSize: entry.uncompressedSize, source: source,
                                      field: "\(entry.name) deflate data")
        default:
            throw DataError.invalid(file: source, field: "\(entry.name) compression method", value: "\(entry.method)",
                                    reason: "only 0 (stored) and 8 (deflate) are supported")
        }
        let crc = CRC32.checksum(out)
        guard crc == entry.crc32 else {
            throw DataError.invalid(file: source, field: "\(entry.name) crc32", value: hex(crc),
                                    reason: "the data's CRC-32 differs from the recorded \(hex(entry.crc32)) (corrupt member)")
        }
        return out
    }

    /// Finds the end-of-central-directory record by scanning back over the (at most 64 KiB) archive comment,
    /// then follows the ZIP64 locator when any field is saturated.
    private static func locateCentralDirectory(_ r: ByteReader) throws -> (count: Int, offset: Int, size: Int) {
        let n = r.count
        var eocd = -1
        var p = n - 22
        while p >= max(0, n - 22 - 65_535) {
            if r.bytes[p] == 0x50 && r.bytes[p + 1] == 0x4B && r.bytes[p + 2] == 5 && r.bytes[p + 3] == 6 {
                eocd = p
                break
            }
            p -= 1
        }
        guard eocd >= 0 else {
            throw DataError.invalid(file: r.source, field: "end of central directory", value: "\(n)-byte file",
                                    reason: "no ZIP end record found (not a ZIP/npz file, or truncated)")
        }
        let disk = try r.u16le(eocd + 4, field: "end record disk number")
        var count = UInt64(try r.u16le(eocd + 10, field: "end record entry count"))
        var size = UInt64(try r.u32le(eocd + 12, field: "end record directory size"))
        var offset = UInt64(try r.u32le(eocd + 16, field: "end record directory offset"))
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let loc = eocd - 20
            if loc >= 0, try r.u32le(loc, field: "zip64 locator") == 0x0706_4B50 {
                let z = Int(try r.u64le(loc + 8, field: "zip64 end record offset"))
                guard try r.u32le(z, field: "zip64 end record") == 0x0606_4B50 else {
                    throw DataError.invalid(file: r.source, field: "zip64 end record", value: "offset \(z)",
                                            reason: "signature 0x06064b50 not found there")
                }
                count = try r.u64le(z + 32, field: "zip64 entry count")
                size = try r.u64le(z + 40, field: "zip64 directory size")
                offset = try r.u64le(z + 48, field: "zip64 directory offset")
            }
        } else if disk != 0 {
            throw DataError.invalid(file: r.source, field: "end record disk number", value: "\(disk)",
                                    reason: "multi-disk (spanned) archives are not supported")
        }
        guard offset <= UInt64(n), size <= UInt64(n), count <= UInt64(n / 46) else {
            throw DataError.invalid(file: r.source, field: "central directory",
                                    value: "\(count) entries, \(size) bytes at offset \(offset)",
                                    reason: "does not fit in the \(n)-byte file (truncated or corrupt)")
        }
        return (Int(count), Int(offset), Int(size))
    }
}

/// "0x04034b50"-style hex for error messages.
func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
