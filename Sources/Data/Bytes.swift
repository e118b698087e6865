import Foundation

/// Reads a whole file into memory.
///
/// Plain C stdio instead of `FileManager.contents(atPath:)`: it reads straight into a `[UInt8]` (no second copy
/// through `Foundation.Data`, which matters for CIFAR's 150 MB or an 87 MB TorchScript archive) and lets a
/// missing file be told apart from an unreadable one, so the error can carry the right hint.
///
/// - Parameter hint: appended to the "missing file" error: how the user obtains the file.
public func readFileBytes(_ path: String, hint: String = "") throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw DataError.missingFile(path: path, hint: hint)
    }
    if isDirectory.boolValue { throw DataError.unreadable(path: path, reason: "it is a directory, not a file") }
    guard let f = fopen(path, "rb") else {
        throw DataError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    defer { fclose(f) }
    guard fseeko(f, 0, SEEK_END) == 0 else {
        throw DataError.unreadable(path: path, reason: "cannot seek: " + String(cString: strerror(errno)))
    }
    let size = Int(ftello(f))
    guard size >= 0, fseeko(f, 0, SEEK_SET) == 0 else {
        throw DataError.unreadable(path: path, reason: "cannot determine its size")
    }
    var readError: String?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialised in
        var done = 0
        while done < size {
            let n = fread(buffer.baseAddress! + done, 1, size - done, f)
            if n == 0 {
                readError = ferror(f) != 0 ? String(cString: strerror(errno)) : "file shrank while reading"
                break
            }
            done += n
        }
        if done < size { buffer.baseAddress!.advanced(by: done).initialize(repeating: 0, count: size - done) }
        initialised = size
    }
    if let readError { throw DataError.unreadable(path: path, reason: readError) }
    return bytes
}

/// A bounds-checked view of a byte buffer for parsing binary headers.
///
/// Every read names the field it is reading, so a truncated or corrupt file produces
/// "`file`: `field` = offset N: file ends at M bytes" instead of an out-of-range trap.
struct ByteReader {
    let bytes: [UInt8]
    /// The file (or archive member) the bytes came from, used in error messages.
    let source: String

    var count: Int { bytes.count }

    /// Throws unless `length` bytes starting at `offset` lie inside the buffer.
    func require(_ offset: Int, _ length: Int, field: String) throws {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw DataError.invalid(file: source, field: field, value: "\(length) bytes at offset \(offset)",
                                    reason: "the data ends at \(bytes.count) bytes (truncated or corrupt)")
        }
    }

    func u8(_ offset: Int, field: String) throws -> UInt8 {
        try require(offset, 1, field: field)
        return bytes[offset]
    }

    func u16le(_ offset: Int, field: String) throws -> UInt16 {
        try require(offset, 2, field: field)
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func u32le(_ offset: Int, field: String) throws -> UInt32 {
        try require(offset, 4, field: field)
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(bytes[offset + k]) << (8 * UInt32(k)) }
        return v
    }

    func u64le(_ offset: Int, field: String) throws -> UInt64 {
        try require(offset, 8, field: field)
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[offset + k]) << (8 * UInt64(k)) }
        return v
    }

    func u32be(_ offset: Int, field: String) throws -> UInt32 {
        try require(offset, 4, field: field)
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 8 | UInt32(bytes[offset + k]) }
        return v
    }

    /// The bytes `offset ..< offset + length`, bounds-checked.
    func slice(_ offset: Int, _ length: Int, field: String) throws -> ArraySlice<UInt8> {
        try require(offset, length, field: field)
        return bytes[offset ..< offset + length]
    }
}

/// The product of `factors`, or nil if it overflows `Int`: sizes read from a file header are multiplied
/// before anything is allocated, and a corrupt header must produce an error, not an overflow trap.
func checkedProduct(_ factors: [Int]) -> Int? {
    var p = 1
    for f in factors {
        let m = p.multipliedReportingOverflow(by: f)
        if m.overflow { return nil }
        p = m.partialValue
    }
    return p
}
