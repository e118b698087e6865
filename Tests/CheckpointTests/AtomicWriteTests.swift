import Checkpoint
import Foundation
import XCTest

/// A save that fails, wherever it fails, leaves the old destination intact and no temporary file.
final class AtomicWriteTests: CheckpointTestCase {
    private let old = Checkpoint(arrays: ["params/w": ArrayValue(shape: [3], [Float(1), 2, 3])],
                                 attributes: ["step": .int(1)])

    /// Asserts the destination still holds `old`, unchanged, and nothing else was left behind.
    private func assertOldIntact(_ p: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let back = try Checkpoint.load(from: p)
        XCTAssertEqual(back.arrays, old.arrays, file: file, line: line)
        XCTAssertEqual(back.attributes, old.attributes, file: file, line: line)
        XCTAssertEqual(try leftoverTempFiles(), [], file: file, line: line)
    }

    func testOverwriteReplacesAndLeavesNoTempFile() throws {
        let p = path("ckpt.h5")
        try old.save(to: p)
        let new = Checkpoint(arrays: ["params/w": ArrayValue(shape: [1], [Float(9)])], attributes: ["step": .int(2)])
        try new.save(to: p)
        let back = try Checkpoint.load(from: p)
        XCTAssertEqual(back.arrays, new.arrays)
        XCTAssertEqual(back.attributes, new.attributes)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ckpt.h5"])
    }

    func testInvalidNamesAreRefusedAndOldFileKept() throws {
        let p = path("ckpt.h5")
        try old.save(to: p)
        let badNames = ["", "/params/w", "params/w/", "params//w", "params/./w", "params/../w", "a\u{0}b"]
        for name in badNames {
            var bad = referenceCheckpoint()
            bad.arrays[name] = .scalar(Float(1))
            assertCheckpointError(.invalidName, path: p, mentions: ["'\(name)'"]) { try bad.save(to: p) }
            try assertOldIntact(p)
        }
    }

    func testArrayThatIsAlsoAGroupIsRefused() throws {
        let p = path("ckpt.h5")
        try old.save(to: p)
        let clash = Checkpoint(arrays: ["ema/w": .scalar(Float(1)), "ema/w/m": .scalar(Float(2))])
        assertCheckpointError(.invalidName, path: p, mentions: ["'ema/w/m'", "'ema/w'"]) { try clash.save(to: p) }
        try assertOldIntact(p)
    }

    func testReservedAttributesAndNULStringsAreRefused() throws {
        let p = path("ckpt.h5")
        try old.save(to: p)
        for (key, value) in [("rdd_checksum", AttributeValue.int(0)), ("rdd_format_version", .int(1)), ("", .int(0))] {
            assertCheckpointError(.invalidName, path: p, mentions: ["'\(key)'"]) {
                try Checkpoint(attributes: [key: value]).save(to: p)
            }
        }
        assertCheckpointError(.invalidValue, path: p, mentions: ["'note'", "NUL"]) {
            try Checkpoint(attributes: ["note": .string("a\u{0}b")]).save(to: p)
        }
        try assertOldIntact(p)
    }

    /// The temporary file is fully written and fsynced, then the rename fails (the destination
    /// is a non-empty directory): the temporary file must be removed and the directory untouched.
    func testFailureAtTheFinalRenameRemovesTheTempFile() throws {
        let p = path("ckpt.h5")
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: p).appendingPathComponent("inside.txt"))
        assertCheckpointError(.io, path: p, mentions: ["rename"]) { try referenceCheckpoint().save(to: p) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ckpt.h5"])
        XCTAssertEqual(try String(contentsOfFile: p + "/inside.txt", encoding: .utf8), "keep")
    }

    func testMissingDestinationDirectoryIsAClearError() throws {
        let p = path("no/such/dir/ckpt.h5")
        assertCheckpointError(.hdf5, path: p, mentions: ["H5Fcreate", "temporary file"]) { try old.save(to: p) }
        XCTAssertEqual(try leftoverTempFiles(), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: p))
    }

    func testRelativePathInCurrentDirectory() throws {
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.path))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try old.save(to: "relative.h5")
        XCTAssertEqual(try Checkpoint.load(from: "relative.h5").arrays, old.arrays)
        XCTAssertEqual(try leftoverTempFiles(), [])
    }
}
