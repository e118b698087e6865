import CZlib

/// gzip decoding, raw DEFLATE decoding and CRC-32 on top of the system zlib.
///
/// Three formats in this project compress with DEFLATE: gzip files (Fashion-MNIST's IDX files, the embedded
/// digits CSV), ZIP members (`.npz`, wheels) and zlib streams (PNG, written elsewhere). zlib decodes all of them;
/// only the window-bits argument differs: `16 + MAX_WBITS` asks for a gzip wrapper (zlib then also checks the
/// gzip CRC and length), `-MAX_WBITS` for a bare DEFLATE stream as stored in a ZIP member.
public enum Gzip {
    /// True when `bytes` start with the gzip magic number 1f 8b.
    public static func isGzip<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        var it = bytes.makeIterator()
        return it.next() == 0x1F && it.next() == 0x8B
    }

    /// Decompresses a complete gzip file (all members, as gzip(1) does for concatenated files).
    ///
    /// A stream that stops before its end marker (a truncated download) is refused, as is a CRC or length
    /// mismatch (zlib checks the gzip trailer) and trailing bytes that are not another gzip member.
    /// - Parameter source: the file name used in error messages.
    public static func decompress(_ bytes: [UInt8], source: String) throws -> [UInt8] {
        guard isGzip(bytes) else {
            let head = bytes.prefix(2).map { String($0, radix: 16) }.joined(separator: " ")
            throw DataError.invalid(file: source, field: "gzip magic", value: head.isEmpty ? "(empty file)" : head,
                                    reason: "expected 1f 8b (not a gzip file)")
        }
        // The last 4 bytes hold the uncompressed size mod 2^32: a good first guess for the output size.
        var hint = bytes.count * 4
        if bytes.count >= 18 {
            let n = bytes.count
            hint = Int(UInt32(bytes[n - 4]) | UInt32(bytes[n - 3]) << 8 | UInt32(bytes[n - 2]) << 16
                       | UInt32(bytes[n - 1]) << 24)
        }
        // A corrupt trailer must not make us allocate gigabytes up front: DEFLATE expands at most ~1032:1.
        hint = min(hint, bytes.count * maxDeflateRatio)
        return try inflate(bytes[...], windowBits: 16 + MAX_WBITS, expectedSize: nil, sizeHint: hint,
                           multiMember: true, source: source, field: "gzip stream")
    }

    /// DEFLATE's largest possible expansion (a stream of maximal-length matches), used to refuse declared
    /// sizes that no valid stream could reach before allocating memory for them.
    static let maxDeflateRatio = 1032

    /// Decodes a raw DEFLATE stream (no header), as stored in a ZIP member with method 8, and checks that it
    /// produces exactly `expectedSize` bytes.
    static func inflateRaw(_ bytes: ArraySlice<UInt8>, expectedSize: Int, source: String,
                           field: String) throws -> [UInt8] {
        try inflate(bytes, windowBits: -MAX_WBITS, expectedSize: expectedSize, sizeHint: expectedSize,
                    multiMember: false, source: source, field: field)
    }

    /// The shared zlib loop. The output grows by doubling; input is fed in chunks below 2^31 bytes because
    /// zlib's counters are 32-bit.
    private static func inflate(_ input: ArraySlice<UInt8>, windowBits: Int32, expectedSize: Int?, sizeHint: Int,
                                multiMember: Bool, source: String, field: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(1024, (expectedSize ?? sizeHint) + 1))
        var produced = 0
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError.invalid(file: source, field: field, value: "inflateInit2",
                                    reason: "zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 30
        try input.withUnsafeBufferPointer { inBuf in
            var consumed = 0
            while true {
                if produced == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
                let availIn = min(chunk, inBuf.count - consumed)
                let availOut = min(chunk, out.count - produced)
                let status: Int32 = out.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress.map { $0 + consumed })
                    stream.avail_in = UInt32(availIn)
                    stream.next_out = outBuf.baseAddress! + produced
                    stream.avail_out = UInt32(availOut)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let usedIn = availIn - Int(stream.avail_in)
                let madeOut = availOut - Int(stream.avail_out)
                consumed += usedIn
                produced += madeOut
                if status == Z_STREAM_END {
                    let rest = inBuf.count - consumed
                    if multiMember && rest >= 2 && inBuf[consumed] == 0x1F && inBuf[consumed + 1] == 0x8B {
                        inflateReset(&stream)
                        continue
                    }
                    if rest > 0 && inBuf[consumed...].contains(where: { $0 != 0 }) {
                        throw DataError.invalid(file: source, field: field, value: "\(rest) bytes after the end",
                                                reason: "trailing data after the compressed stream")
                    }
                    break
                }
                if status == Z_OK { continue }
                if status == Z_BUF_ERROR && availIn == usedIn && consumed == inBuf.count && madeOut == 0 {
                    throw DataError.invalid(file: source, field: field, value: "\(inBuf.count) compressed bytes",
                                            reason: "the stream ends before its end marker after \(produced) "
                                                + "output bytes (truncated file)")
                }
                if status == Z_BUF_ERROR { continue }
                let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw DataError.invalid(file: source, field: field, value: "byte \(consumed) of the stream",
                                        reason: "corrupt compressed data: \(message)")
            }
        }
        if let expectedSize, produced != expectedSize {
            throw DataError.invalid(file: source, field: field, value: "\(produced) bytes",
                                    reason: "decompressed size differs from the declared \(expectedSize) bytes")
        }
        out.removeLast(out.count - produced)
        return out
    }
}

/// CRC-32 (the ZIP/gzip polynomial), as zlib computes it.
public enum CRC32 {
    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBufferPointer(checksum) }

    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 { bytes.withUnsafeBufferPointer(checksum) }

    /// Fed to zlib in chunks because its length argument is 32-bit.
    public static func checksum(_ buf: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var crc = crc32(0, nil, 0)
        var offset = 0
        while offset < buf.count {
            let n = min(1 << 30, buf.count - offset)
            crc = crc32(crc, buf.baseAddress! + offset, UInt32(n))
            offset += n
        }
        return UInt32(crc)
    }
}
