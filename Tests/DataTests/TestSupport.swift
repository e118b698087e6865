import Foundation
import XCTest
@testable import Data

// Helpers that write small files in each format the loaders read, so every loader is tested on bytes whose
// content the test knows exactly. Written in Swift (no external tools) except the npz files numpy writes,
// which are the real thing when python3 + numpy are available.

/// A fresh temporary directory, removed when the test case ends.
func makeTempDirectory(_ test: XCTestCase) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("rdd-data-tests-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Foundation.Data(bytes).write(to: URL(fileURLWithPath: path))
}

func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xFF) } }
func be32(_ v: Int) -> [UInt8] { (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xFF) } }

/// A valid gzip file whose DEFLATE stream uses stored (uncompressed) blocks: header, blocks of ≤ 65535 bytes
/// (BFINAL on the last), then CRC-32 and length. Real zlib must decode it like any other gzip file.
func gzipStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF]
    var offset = 0
    repeat {
        let n = min(65_535, data.count - offset)
        let final: UInt8 = offset + n == data.count ? 1 : 0
        out.append(final)
        out += le16(n) + le16(n ^ 0xFFFF)
        out += data[offset ..< offset + n]
        offset += n
    } while offset < data.count
    out += le32(CRC32.checksum(data)) + le32(UInt32(truncatingIfNeeded: data.count))
    return out
}

/// A ZIP archive of stored members (what `np.savez` writes), with a correct central directory.
/// With `zip64`, the central entries' sizes and offsets are 0xFFFFFFFF with the real values in a ZIP64 extra
/// field, and the end record is saturated and points (through the ZIP64 locator) at a ZIP64 end record: the
/// layout archives over 4 GiB or 65 535 members must use.
func zipStored(_ members: [(name: String, data: [UInt8])], zip64: Bool = false) -> [UInt8] {
    func le64(_ v: Int) -> [UInt8] { le32(UInt32(v & 0xFFFF_FFFF)) + le32(UInt32(v >> 32)) }
    var out: [UInt8] = []
    var central: [UInt8] = []
    for m in members {
        let offset = out.count
        let name = Array(m.name.utf8)
        let crc = CRC32.checksum(m.data)
        out += le32(0x0403_4B50) + le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21)
        out += le32(crc) + le32(UInt32(m.data.count)) + le32(UInt32(m.data.count)) + le16(name.count) + le16(0)
        out += name + m.data
        let extra = zip64 ? le16(1) + le16(24) + le64(m.data.count) + le64(m.data.count) + le64(offset) : []
        let size = zip64 ? 0xFFFF_FFFF : UInt32(m.data.count)
        central += le32(0x0201_4B50) + le16(45) + le16(45) + le16(0) + le16(0) + le16(0) + le16(0x21)
        central += le32(crc) + le32(size) + le32(size) + le16(name.count)
        central += le16(extra.count) + le16(0) + le16(0) + le16(0) + le32(0)
        central += le32(zip64 ? 0xFFFF_FFFF : UInt32(offset)) + name + extra
    }
    let cdOffset = out.count
    out += central
    if zip64 {
        let z = out.count
        out += le32(0x0606_4B50) + le64(44) + le16(45) + le16(45) + le32(0) + le32(0)
        out += le64(members.count) + le64(members.count) + le64(central.count) + le64(cdOffset)
        out += le32(0x0706_4B50) + le32(0) + le64(z) + le32(1)
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF)
        out += le32(0xFFFF_FFFF) + le32(0xFFFF_FFFF) + le16(0)
    } else {
        out += le32(0x0605_4B50) + le16(0) + le16(0) + le16(members.count) + le16(members.count)
        out += le32(UInt32(central.count)) + le32(UInt32(cdOffset)) + le16(0)
    }
    return out
}

/// `.npy` bytes (version `major`.0) for a little-endian array given as raw element bytes.
func npyBytes(descr: String, shape: [Int], payload: [UInt8], major: UInt8 = 1, fortran: Bool = false) -> [UInt8] {
    let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shapeText), }"
    let prefix = major == 1 ? 10 : 12
    while (prefix + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
    out += major == 1 ? le16(header.utf8.count) : le32(UInt32(header.utf8.count))
    return out + Array(header.utf8) + payload
}

/// Runs a python3 snippet; throws `XCTSkip` if python3, or numpy when the snippet imports it, is unavailable
/// (scripts/setup.sh installs both; CI fails on a skip). Any other failure of the snippet fails the test.
func runPython(_ script: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", "-c", script]
    let err = Pipe()
    p.standardError = err
    do { try p.run() } catch {
        throw XCTSkip("python3 not available (\(error)); bash scripts/setup.sh installs it")
    }
    let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        if message.contains("No module named 'numpy'") || message.contains("No such file") {
            throw XCTSkip("python3 with numpy not available (bash scripts/setup.sh installs it): \(message)")
        }
        throw PythonFailed(message: message)
    }
}

/// A python3 snippet that failed for another reason than a missing interpreter or numpy: a test failure.
struct PythonFailed: Error, CustomStringConvertible {
    let message: String
    var description: String { "python3 failed: \(message)" }
}

/// Asserts that `body` throws a `DataError`, and optionally that it blames `field` and mentions `contains`.
func assertDataError<T>(_ body: @autoclosure () throws -> T, field: String? = nil, contains: String? = nil,
                        file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected a DataError, got a value", file: file, line: line)
    } catch let error as DataError {
        if let field { XCTAssertEqual(error.field, field, "\(error)", file: file, line: line) }
        if let contains {
            XCTAssertTrue(error.description.contains(contains), "\"\(error)\" lacks \"\(contains)\"",
                          file: file, line: line)
        }
    } catch {
        XCTFail("expected a DataError, got \(error)", file: file, line: line)
    }
}

/// uint8 → [−1, 1] as the loaders must compute it.
func scaled(_ x: UInt8) -> Float { (Float(x) / 255 - 0.5) / 0.5 }
