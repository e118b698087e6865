import Checkpoint
import Foundation
import XCTest

/// The format as seen by an independent implementation: h5py reads what Swift writes (and
/// recomputes the checksum, and loads params into PyTorch), Swift reads what h5py writes.
/// Without h5py (scripts/setup.sh installs it) these are skipped, and CI fails on a skip (.ci/run); the
/// committed fixture still checks the h5py→Swift direction on every machine.
final class H5pyCrossCheckTests: CheckpointTestCase {
    private func requireH5py() throws {
        let (status, output) = try runPython(["-c", "import h5py, numpy"])
        if status != 0 {
            throw XCTSkip("python3 with h5py and numpy not available (bash scripts/setup.sh installs them): \(output)")
        }
    }

    func testH5pyReadsSwiftWrittenFile() throws {
        try requireH5py()
        let p = path("swift-written.h5")
        try referenceCheckpoint().save(to: p)
        let (status, output) = try runPython([crossCheckScript, "verify", p])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("OK:"), output)
    }

    /// The Python check is not a rubber stamp: a consistent file (valid checksum) whose contents
    /// differ from the reference in one value, one attribute type or one name must fail it.
    func testH5pyVerifierRejectsDifferentContents() throws {
        try requireH5py()
        var changedValue = referenceCheckpoint()
        changedValue.arrays["ema/0.weight"] = ArrayValue(shape: [2, 3], [0, 1, 2, 3, 4, 5.5])
        var changedAttribute = referenceCheckpoint()
        changedAttribute.attributes["step"] = .double(1000)
        var renamed = referenceCheckpoint()
        renamed.arrays["params/0.bias2"] = renamed.arrays.removeValue(forKey: "params/0.bias")
        for (k, ckpt) in [changedValue, changedAttribute, renamed].enumerated() {
            let p = path("different\(k).h5")
            try ckpt.save(to: p)
            let (status, output) = try runPython([crossCheckScript, "verify", p])
            XCTAssertNotEqual(status, 0, "case \(k) passed the Python check: \(output)")
            XCTAssertTrue(output.contains("FAIL"), output)
        }
    }

    func testSwiftReadsH5pyWrittenFile() throws {
        try requireH5py()
        let p = path("h5py-written.h5")
        let (status, output) = try runPython([crossCheckScript, "write", p])
        XCTAssertEqual(status, 0, output)
        let loaded = try Checkpoint.load(from: p)
        let ref = referenceCheckpoint()
        XCTAssertEqual(loaded.arrays, ref.arrays)
        XCTAssertEqual(loaded.attributes, ref.attributes)
    }

    /// Attribute encodings other writers use (ASCII vlen and fixed-length strings, int32, uint8,
    /// float32) are read as the corresponding string / int64 / float64 values.
    func testSwiftReadsOtherAttributeEncodings() throws {
        try requireH5py()
        let p = path("variants.h5")
        let (status, output) = try runPython([crossCheckScript, "write-variants", p])
        XCTAssertEqual(status, 0, output)
        let loaded = try Checkpoint.load(from: p)
        XCTAssertEqual(loaded.attributes, ["ascii": .string("plain"), "fixed": .string("fixed-length"),
                                           "i32": .int(-7), "u8": .int(200), "f32": .double(0.5)])
        XCTAssertEqual(loaded.arrays, ["w": ArrayValue(shape: [2], [Float(1), 2])])
    }

    /// h5py deleting a dataset or editing a value behind our back is caught by the checksum.
    func testH5pyModificationsAreDetected() throws {
        try requireH5py()
        let edits = ["del f['queue/embeddings']", "f['params/0.bias'][0] = 0.5", "f.move('rng/state', 'rng/state2')"]
        for (k, edit) in edits.enumerated() {
            let p = path("edited\(k).h5")
            try referenceCheckpoint().save(to: p)
            let script = "import h5py\nwith h5py.File('\(p)', 'r+') as f:\n    \(edit)\n"
            let (status, output) = try runPython(["-c", script])
            XCTAssertEqual(status, 0, output)
            assertCheckpointError(.checksumMismatch, path: p) { _ = try Checkpoint.load(from: p) }
        }
    }

    /// A file written by h5py (HDF5 2.x at the time) and committed, so that the h5py→Swift
    /// direction is checked even where h5py is not installed.
    func testCommittedH5pyFixtureLoads() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "h5py_reference", withExtension: "h5",
                                                  subdirectory: "Fixtures"), "fixture missing from the test bundle")
        let loaded = try Checkpoint.load(from: url.path)
        let ref = referenceCheckpoint()
        XCTAssertEqual(loaded.arrays, ref.arrays)
        XCTAssertEqual(loaded.attributes, ref.attributes)
    }
}
