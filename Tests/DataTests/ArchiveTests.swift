import Foundation
import XCTest
@testable import Data

/// gzip, ZIP and npy parsing on hand-built bytes (valid and corrupt) and on files numpy writes.
final class ArchiveTests: XCTestCase {
    // MARK: gzip

    func testGzipDecodesMultiBlockStream() throws {
        // 70 000 bytes need two stored blocks, so block chaining is exercised too.
        let data = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        XCTAssertEqual(try Gzip.decompress(gzipStored(data), source: "x.gz"), data)
        // Concatenated members decode to the concatenation, as gzip(1) does.
        let two = gzipStored([1, 2, 3]) + gzipStored([4, 5])
        XCTAssertEqual(try Gzip.decompress(two, source: "two.gz"), [1, 2, 3, 4, 5])
    }

    func testGzipRefusesTruncatedCorruptAndForeignInput() {
        let good = gzipStored(Array(repeating: 7, count: 1000))
        assertDataError(try Gzip.decompress(Array(good.prefix(good.count - 20)), source: "cut.gz"),
                        field: "gzip stream", contains: "truncated")
        var badCRC = good
        badCRC[badCRC.count - 6] ^= 0xFF  // inside the CRC-32 trailer
        assertDataError(try Gzip.decompress(badCRC, source: "crc.gz"), field: "gzip stream", contains: "crc.gz")
        assertDataError(try Gzip.decompress(Array("plain text".utf8), source: "t.txt"), field: "gzip magic")
        assertDataError(try Gzip.decompress(good + [9, 9, 9], source: "tail.gz"), field: "gzip stream",
                        contains: "trailing")
    }

    // MARK: ZIP

    func testZipStoredMembersRoundTrip() throws {
        let a: [UInt8] = Array("hello".utf8), b: [UInt8] = (0..<300).map { UInt8($0 % 256) }
        let zip = try ZipArchive(bytes: zipStored([("a.txt", a), ("dir/b.bin", b)]), source: "t.zip")
        XCTAssertEqual(zip.names, ["a.txt", "dir/b.bin"])
        XCTAssertEqual(zip.entry(named: "dir/b.bin")?.uncompressedSize, 300)
        XCTAssertEqual(try zip.data(for: "a.txt"), a)
        XCTAssertEqual(try zip.data(for: "dir/b.bin"), b)
        // The same members through ZIP64 records and extra fields.
        let zip64 = try ZipArchive(bytes: zipStored([("a.txt", a), ("dir/b.bin", b)], zip64: true), source: "t64.zip")
        XCTAssertEqual(zip64.entries, zip.entries)
        XCTAssertEqual(try zip64.data(for: "dir/b.bin"), b)
    }

    func testZipRefusesCorruptArchives() throws {
        let bytes = zipStored([("a.txt", Array("hello world".utf8))])
        var flipped = bytes
        flipped[30 + 5 + 2] ^= 0x20  // a byte of the member's data: CRC must catch it
        let zip = try ZipArchive(bytes: flipped, source: "crc.zip")
        assertDataError(try zip.data(for: "a.txt"), field: "a.txt crc32", contains: "crc.zip")
        assertDataError(try zip.data(for: "nope"), field: "member", contains: "a.txt")
        assertDataError(try ZipArchive(bytes: Array("not a zip at all, just text".utf8), source: "t"),
                        field: "end of central directory")
        // Cut inside the central directory: the end record is gone.
        assertDataError(try ZipArchive(bytes: Array(bytes.prefix(bytes.count - 30)), source: "cut.zip"),
                        contains: "cut.zip")
        let dir = try makeTempDirectory(self)
        assertDataError(try ZipArchive(path: dir + "/absent.zip", hint: "HINT"), contains: "HINT")
    }

    /// Python's zipfile writing to an unseekable stream puts sizes and CRCs in data descriptors after each
    /// member (flag bit 3) and zeros in the local headers, as streaming writers do: the central directory
    /// must be what counts.
    func testZipWithDataDescriptorsWrittenByPython() throws {
        let dir = try makeTempDirectory(self)
        let script = """
        import zipfile
        class Unseekable:
            def __init__(self, f): self.f = f
            def write(self, b): return self.f.write(b)
            def flush(self): self.f.flush()
        with open('\(dir)/stream.zip', 'wb') as raw:
            with zipfile.ZipFile(Unseekable(raw), 'w', compression=zipfile.ZIP_DEFLATED) as z:
                z.writestr('x/one.txt', 'one ' * 1000)
                with z.open('two.bin', 'w') as f: f.write(bytes(range(256)) * 3)
        z = zipfile.ZipFile('\(dir)/stream.zip')
        assert all(i.flag_bits & 8 for i in z.infolist()), [i.flag_bits for i in z.infolist()]
        """
        try runPython(script)
        let zip = try ZipArchive(path: dir + "/stream.zip")
        XCTAssertEqual(zip.names, ["x/one.txt", "two.bin"])
        XCTAssertTrue(zip.entries.allSatisfy { $0.flags & 8 != 0 && $0.method == 8 })
        XCTAssertEqual(try zip.data(for: "x/one.txt"), Array(String(repeating: "one ", count: 1000).utf8))
        XCTAssertEqual(try zip.data(for: "two.bin"), (0..<768).map { UInt8($0 % 256) })
    }

    func testCRC32CheckValue() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)  // the standard CRC-32 check value
        XCTAssertEqual(CRC32.checksum(Array("x123456789".utf8).dropFirst()), 0xCBF4_3926)
    }

    // MARK: npy

    func testNpyParsesVersionsAndDtypes() throws {
        let f: [Float] = [1.5, -2, 0.25, 3e6, -0.0, 7]
        let fBytes = f.flatMap { le32($0.bitPattern) }
        let a = try NpyArray(npyBytes: npyBytes(descr: "<f4", shape: [2, 3], payload: fBytes), source: "f.npy")
        XCTAssertEqual(a.shape, [2, 3])
        XCTAssertEqual(a.dtype, .float32)
        XCTAssertEqual(a.floats(), f)
        assertDataError(try a.ints(), field: "descr")

        let v2 = try NpyArray(npyBytes: npyBytes(descr: "|u1", shape: [4], payload: [0, 9, 200, 255], major: 2),
                              source: "u.npy")
        XCTAssertEqual(try v2.ints(), [0, 9, 200, 255])

        let i64: [Int64] = [-5, 1 << 40, 0]
        let i64Bytes = i64.flatMap { v in (0..<8).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * UInt64($0))) } }
        XCTAssertEqual(try NpyArray(npyBytes: npyBytes(descr: "<i8", shape: [3], payload: i64Bytes), source: "i")
            .ints(), [-5, 1 << 40, 0])
        let i32Bytes = le32(UInt32(bitPattern: -7)) + le32(12)
        XCTAssertEqual(try NpyArray(npyBytes: npyBytes(descr: "<i4", shape: [2], payload: i32Bytes), source: "i")
            .ints(), [-7, 12])
        let d = 0.1
        let dBytes = (0..<8).map { UInt8(truncatingIfNeeded: d.bitPattern >> (8 * UInt64($0))) }
        XCTAssertEqual(try NpyArray(npyBytes: npyBytes(descr: "<f8", shape: [1], payload: dBytes), source: "d")
            .floats(), [Float(0.1)])
    }

    func testNpyRefusesWhatItCannotRead() {
        assertDataError(try NpyArray(npyBytes: npyBytes(descr: "<f4", shape: [2], payload: [0, 0, 0, 0]),
                                     source: "short.npy"), field: "data size", contains: "short.npy")
        assertDataError(try NpyArray(npyBytes: npyBytes(descr: ">f4", shape: [1], payload: [0, 0, 0, 0]),
                                     source: "be.npy"), field: "descr", contains: "'>f4'")
        assertDataError(try NpyArray(npyBytes: npyBytes(descr: "<c8", shape: [1], payload: Array(repeating: 0, count: 8)),
                                     source: "c.npy"), field: "descr")
        assertDataError(try NpyArray(npyBytes: npyBytes(descr: "<f4", shape: [1, 1], payload: [0, 0, 0, 0],
                                                        fortran: true), source: "f.npy"), field: "fortran_order")
        assertDataError(try NpyArray(npyBytes: Array("PK\u{3}\u{4}....".utf8), source: "x.npy"), field: "npy magic")
        assertDataError(try NpyArray(npyBytes: npyBytes(descr: "<f8", shape: [1 << 40, 1 << 30], payload: []),
                                     source: "huge.npy"), field: "data size", contains: "too many")
        var garbled = npyBytes(descr: "<f4", shape: [1], payload: [0, 0, 0, 0])
        garbled[10] = UInt8(ascii: "[")  // the header dict's opening brace
        assertDataError(try NpyArray(npyBytes: garbled, source: "g.npy"), field: "npy header")
    }

    // MARK: npz written by numpy

    /// np.savez (stored members, written with force_zip64 local headers) and np.savez_compressed (deflate)
    /// must give identical arrays of every supported dtype.
    func testNpzWrittenByNumpyStoredAndCompressed() throws {
        let dir = try makeTempDirectory(self)
        let script = """
        import numpy as np
        arrs = dict(u1=np.arange(12, dtype=np.uint8).reshape(3, 4) * 20,
                    i4=np.array([-3, 0, 2**31 - 1], dtype=np.int32),
                    i8=np.array([[-(2**40)], [5]], dtype=np.int64),
                    f4=np.linspace(-1, 1, 7, dtype=np.float32),
                    f8=np.array([0.1, -2.5e-3], dtype=np.float64),
                    big=(np.arange(100000) % 251).astype(np.uint8))
        np.savez('\(dir)/stored.npz', **arrs)
        np.savez_compressed('\(dir)/deflated.npz', **arrs)
        """
        try runPython(script)
        for (file, method) in [("stored", UInt16(0)), ("deflated", UInt16(8))] {
            let npz = try NpzArchive(path: "\(dir)/\(file).npz")
            XCTAssertEqual(Set(npz.keys), ["u1", "i4", "i8", "f4", "f8", "big"], file)
            XCTAssertEqual(npz.zip.entry(named: "big.npy")?.method, method, file)
            let u1 = try npz.array("u1")
            XCTAssertEqual(u1.shape, [3, 4])
            XCTAssertEqual(try u1.ints(), (0..<12).map { $0 * 20 })
            XCTAssertEqual(try npz.array("i4").ints(), [-3, 0, Int(Int32.max)])
            let i8 = try npz.array("i8")
            XCTAssertEqual(i8.shape, [2, 1])
            XCTAssertEqual(try i8.ints(), [-(1 << 40), 5])
            let f4 = try npz.array("f4").floats()
            XCTAssertEqual(f4.count, 7)
            XCTAssertEqual(f4[0], -1)
            XCTAssertEqual(f4[3], 0, accuracy: 1e-7)
            XCTAssertEqual(f4[6], 1)
            XCTAssertEqual(try npz.array("f8").floats(), [Float(0.1), Float(-2.5e-3)])
            XCTAssertEqual(try npz.array("big").ints(), (0..<100_000).map { $0 % 251 })
            assertDataError(try npz.array("mean"), field: "key", contains: "big")
        }
    }
}
