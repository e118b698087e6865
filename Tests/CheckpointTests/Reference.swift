// Shared test material: the reference checkpoint (mirrored in scripts/check_checkpoint_h5py.py),
// per-test temporary directories, direct HDF5 access for corrupting files, and a python runner.

import CHDF5
import Checkpoint
import Foundation
import XCTest

/// The reference contents, identical to `reference_arrays()` / `reference_attributes()` in
/// scripts/check_checkpoint_h5py.py. Every value is exact in binary, so both sides agree bitwise.
/// `params/*` + `buffers/*` form the state dict of `Sequential(Linear(3, 2), BatchNorm1d(2))`.
func referenceCheckpoint() -> Checkpoint {
    let i6 = (0..<6).map(Double.init)
    let words: [UInt64] = [0, 1, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0x0123_4567_89AB_CDEF]
    let arrays: [String: ArrayValue] = [
        "params/0.weight": ArrayValue(shape: [2, 3], i6.map { Float($0 * 0.5 - 1) }),
        "params/0.bias": ArrayValue(shape: [2], [Float(0.25), -0.75]),
        "params/1.weight": ArrayValue(shape: [2], [Float(1.5), 2.0]),
        "params/1.bias": ArrayValue(shape: [2], [Float(-0.125), 0.0625]),
        "buffers/1.running_mean": ArrayValue(shape: [2], [Float(0.5), -0.5]),
        "buffers/1.running_var": ArrayValue(shape: [2], [Float(2.0), 4.0]),
        "buffers/1.num_batches_tracked": .scalar(Int64(17)),
        "ema/0.weight": ArrayValue(shape: [2, 3], i6.map { $0 / 3.0 }),
        "optimizer/adam/step": .scalar(Int64(7)),
        "rng/state": ArrayValue(uint64Words: words),
        "queue/embeddings": ArrayValue(shape: [0, 4], [Float]()),
        "deep/a/b/c/odd": ArrayValue(shape: [3, 1, 5], (0..<15).map { Double($0) * 1.25 - 7 }),
        "scalars/pi": .scalar(Double.pi),
        "scalars/specials": ArrayValue(shape: [5], [Float.nan, -0.0, .infinity, -.infinity, Float(bitPattern: 1)]),
    ]
    let attributes: [String: AttributeValue] = [
        "config_json": .string("{\"model\":{\"channels\":64},\"name\":\"digits-\u{e9}\"}"),
        "code_version": .string("rdd 0.1 (h\u{e9}llo \u{2713})"),
        "empty": .string(""),
        "step": .int(1000),
        "T": .int(1024),
        "seed": .int(42),
        "time_scale": .int(1),
        "ema_decay": .double(0.9999),
    ]
    return Checkpoint(arrays: arrays, attributes: attributes)
}

/// A fresh directory per test, removed afterwards.
class CheckpointTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("rdd-ckpt-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Names in the test directory that look like leftover temporary files.
    func leftoverTempFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
    }

    /// Asserts that `body` throws a `CheckpointError` of `kind` whose message contains `path`
    /// and every string in `mentions`; returns the error for further checks.
    @discardableResult
    func assertCheckpointError(_ kind: CheckpointError.Kind, path: String, mentions: [String] = [],
                               file: StaticString = #filePath, line: UInt = #line,
                               _ body: () throws -> Void) -> CheckpointError? {
        do {
            try body()
            XCTFail("expected a \(kind) error, but nothing was thrown", file: file, line: line)
        } catch let error as CheckpointError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(path), "message does not name the file: \(error)", file: file, line: line)
            XCTAssertTrue(error.localizedDescription.contains(path), "\(error.localizedDescription)", file: file, line: line)
            for m in mentions {
                XCTAssertTrue("\(error)".contains(m), "message does not mention '\(m)': \(error)", file: file, line: line)
            }
            return error
        } catch {
            XCTFail("expected a CheckpointError, got \(error)", file: file, line: line)
        }
        return nil
    }
}

/// Opens `path` read-write with the raw HDF5 API, for tests that modify a file behind the
/// Checkpoint module's back (rewriting a value, deleting a dataset, changing an attribute).
func withRawHDF5File(_ path: String, _ body: (hid_t) throws -> Void) throws {
    let file = H5Fopen(path, swh5_f_acc_rdwr(), swh5_p_default())
    guard file >= 0 else { throw NSError(domain: "H5Fopen failed for \(path)", code: 1) }
    defer { H5Fclose(file) }
    try body(file)
}

/// Overwrites the int64 root attribute `name` in `file` (creating it if needed).
func setRawInt64Attribute(_ file: hid_t, _ name: String, _ value: Int64) {
    if H5Aexists(file, name) > 0 { H5Adelete(file, name) }
    let space = H5Screate(H5S_SCALAR)
    let attr = H5Acreate2(file, name, swh5_native_int64(), space, swh5_p_default(), swh5_p_default())
    var v = value
    H5Awrite(attr, swh5_native_int64(), &v)
    H5Aclose(attr)
    H5Sclose(space)
}

/// Runs `python3 args...` and returns (exit status, combined output).
func runPython(_ args: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3"] + args
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// scripts/check_checkpoint_h5py.py in this repository.
let crossCheckScript = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("scripts/check_checkpoint_h5py.py").path
