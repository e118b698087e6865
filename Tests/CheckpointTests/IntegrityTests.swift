import CHDF5
import Checkpoint
import Foundation
import XCTest

/// Corrupted, truncated, modified and foreign files are refused with an error naming the file;
/// nothing traps.
final class IntegrityTests: CheckpointTestCase {
    /// A recognisable int64 sequence so the test can find the data bytes inside the file.
    private let marker: [Int64] = (0..<16).map { 0x0DDB_A11C_AFEF_0000 + Int64($0) }

    private func writeMarkedCheckpoint(_ p: String) throws {
        try Checkpoint(arrays: ["data/marker": ArrayValue(shape: [16], marker),
                                "params/w": ArrayValue(shape: [2], [Float(1), 2])],
                       attributes: ["step": .int(3)]).save(to: p)
    }

    func testFlippedDataByteIsDetected() throws {
        let p = path("flip.h5")
        try writeMarkedCheckpoint(p)
        XCTAssertNoThrow(try Checkpoint.load(from: p), "the intact file must load")

        var bytes = try Data(contentsOf: URL(fileURLWithPath: p))
        let needle = marker.withUnsafeBytes { Data($0) }  // little-endian host: the on-disk bytes
        let range = try XCTUnwrap(bytes.range(of: needle), "marker data not found in the file")
        let target = range.lowerBound + 8 * 5 + 2  // a byte inside element 5
        bytes[target] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: p))

        assertCheckpointError(.checksumMismatch, path: p, mentions: ["rdd_checksum"]) { _ = try Checkpoint.load(from: p) }
        // Verification covers the whole file even when only another subtree is requested.
        assertCheckpointError(.checksumMismatch, path: p) { _ = try Checkpoint.load(from: p, prefix: "params") }
        // The flip really changed the stored value (so the checksum is what caught it).
        let unverified = try Checkpoint.load(from: p, verifyChecksum: false)
        let values = try XCTUnwrap(unverified.arrays["data/marker"]?.int64Values)
        XCTAssertNotEqual(values[5], marker[5])
        XCTAssertEqual(Array(values[6...]), Array(marker[6...]))
    }

    func testValueRewrittenThroughHDF5IsDetected() throws {
        let p = path("rewrite.h5")
        try writeMarkedCheckpoint(p)
        try withRawHDF5File(p) { file in
            let dset = H5Dopen2(file, "params/w", swh5_p_default())
            XCTAssertGreaterThanOrEqual(dset, 0)
            var values: [Float] = [1, 2.0000002]  // one ulp away
            XCTAssertGreaterThanOrEqual(H5Dwrite(dset, swh5_native_float(), swh5_s_all(), swh5_s_all(),
                                                 swh5_p_default(), &values), 0)
            H5Dclose(dset)
        }
        assertCheckpointError(.checksumMismatch, path: p) { _ = try Checkpoint.load(from: p) }
    }

    func testDeletedDatasetIsDetected() throws {
        let p = path("deleted.h5")
        try writeMarkedCheckpoint(p)
        try withRawHDF5File(p) { file in XCTAssertGreaterThanOrEqual(H5Ldelete(file, "params/w", swh5_p_default()), 0) }
        XCTAssertEqual(try Checkpoint.inspect(p).arrays.map(\.name), ["data/marker"])
        assertCheckpointError(.checksumMismatch, path: p, mentions: ["1 datasets"]) { _ = try Checkpoint.load(from: p) }
    }

    func testTruncatedFileIsRefused() throws {
        let p = path("truncated.h5")
        try writeMarkedCheckpoint(p)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: p))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: p))
        let error = assertCheckpointError(.hdf5, path: p, mentions: ["H5Fopen"]) { _ = try Checkpoint.load(from: p) }
        XCTAssertTrue(error.map { "\($0)".contains("truncated") } ?? false, "\(String(describing: error))")
        assertCheckpointError(.hdf5, path: p) { _ = try Checkpoint.inspect(p) }
    }

    func testGarbageAndMissingFilesAreRefused() throws {
        let garbage = path("garbage.h5")
        try Data("this is not HDF5 at all\n".utf8).write(to: URL(fileURLWithPath: garbage))
        assertCheckpointError(.hdf5, path: garbage, mentions: ["H5Fopen"]) { _ = try Checkpoint.load(from: garbage) }

        let empty = path("empty.h5")
        try Data().write(to: URL(fileURLWithPath: empty))
        assertCheckpointError(.hdf5, path: empty) { _ = try Checkpoint.load(from: empty) }

        let missing = path("missing.h5")
        assertCheckpointError(.io, path: missing, mentions: ["No such file"]) { _ = try Checkpoint.load(from: missing) }
        assertCheckpointError(.io, path: dir.path, mentions: ["directory"]) { _ = try Checkpoint.load(from: dir.path) }
    }

    func testForeignOrNewerFormatIsRefused() throws {
        let p = path("version.h5")
        try writeMarkedCheckpoint(p)
        try withRawHDF5File(p) { setRawInt64Attribute($0, "rdd_format_version", 2) }
        assertCheckpointError(.notACheckpoint, path: p, mentions: ["rdd_format_version", "2"]) {
            _ = try Checkpoint.load(from: p)
        }
        try withRawHDF5File(p) { XCTAssertGreaterThanOrEqual(H5Adelete($0, "rdd_format_version"), 0) }
        assertCheckpointError(.notACheckpoint, path: p, mentions: ["rdd_format_version"]) { _ = try Checkpoint.inspect(p) }

        let q = path("nochecksum.h5")
        try writeMarkedCheckpoint(q)
        try withRawHDF5File(q) { setRawInt64Attribute($0, "rdd_checksum", -5) }
        assertCheckpointError(.notACheckpoint, path: q, mentions: ["rdd_checksum", "-5"]) { _ = try Checkpoint.load(from: q) }
    }

    func testUnsupportedDatasetTypeIsNamed() throws {
        let p = path("uint8.h5")
        try writeMarkedCheckpoint(p)
        try withRawHDF5File(p) { file in
            var dims: [hsize_t] = [3]
            let space = H5Screate_simple(1, &dims, nil)
            let dset = H5Dcreate2(file, "params/mask", swh5_native_uint8(), space, swh5_p_default(),
                                  swh5_p_default(), swh5_p_default())
            XCTAssertGreaterThanOrEqual(dset, 0)
            H5Dclose(dset)
            H5Sclose(space)
        }
        assertCheckpointError(.unsupportedType, path: p, mentions: ["'params/mask'", "uint8"]) {
            _ = try Checkpoint.inspect(p)
        }
    }
}
