import Checkpoint
import Foundation
import XCTest

/// Saving and loading gives back exactly what was saved: every dtype, scalars, empty and odd
/// shapes, nested names, attributes of every kind; partial loads and inspection.
final class RoundTripTests: CheckpointTestCase {
    func testReferenceRoundTripIsBitExact() throws {
        let original = referenceCheckpoint()
        let p = path("ref.h5")
        try original.save(to: p)
        let loaded = try Checkpoint.load(from: p)
        XCTAssertEqual(loaded.arrays, original.arrays)
        XCTAssertEqual(loaded.attributes, original.attributes)
        XCTAssertEqual(loaded.sourcePath, p)
        XCTAssertEqual(try loaded.array("rng/state").uint64Words,
                       [0, 1, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0x0123_4567_89AB_CDEF])
        // NaN and -0.0 survive with their exact bits.
        let specials = try XCTUnwrap(loaded.arrays["scalars/specials"]?.float32Values)
        XCTAssertEqual(specials.map(\.bitPattern), [Float.nan.bitPattern, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 1])
        XCTAssertEqual(try leftoverTempFiles(), [])
    }

    func testAllDtypesAndShapes() throws {
        var arrays: [String: ArrayValue] = [:]
        let shapes: [[Int]] = [[], [1], [7], [3, 5, 1], [1, 1, 1, 1, 13], [0], [2, 0, 3], [17, 3]]
        for (k, shape) in shapes.enumerated() {
            let n = shape.reduce(1, *)
            arrays["f32/s\(k)"] = ArrayValue(shape: shape, (0..<n).map { Float($0) * 0.37 - 2 })
            arrays["f64/s\(k)"] = ArrayValue(shape: shape, (0..<n).map { Double($0).squareRoot() * -1e300 })
            arrays["i64/s\(k)"] = ArrayValue(shape: shape, (0..<n).map { Int64($0) * 0x1234_5678_9ABC - Int64.max / 3 })
        }
        arrays["unicode/d\u{fc}nn.weight"] = .scalar(Float(3))
        let p = path("shapes.h5")
        try Checkpoint(arrays: arrays).save(to: p)
        let loaded = try Checkpoint.load(from: p)
        XCTAssertEqual(loaded.arrays, arrays)
        XCTAssertEqual(loaded.attributes, [:])
        for (name, value) in arrays { XCTAssertEqual(loaded.arrays[name]?.shape, value.shape, name) }
    }

    func testEmptyCheckpointRoundTrips() throws {
        let p = path("empty.h5")
        try Checkpoint().save(to: p)
        let loaded = try Checkpoint.load(from: p)
        XCTAssertTrue(loaded.arrays.isEmpty)
        XCTAssertTrue(loaded.attributes.isEmpty)
        XCTAssertEqual(try Checkpoint.inspect(p).storedChecksum, 0)  // CRC-32 of an empty stream
    }

    func testAttributesOfEveryKind() throws {
        let attributes: [String: AttributeValue] = [
            "s": .string("multi\nline \u{1F600} \"quoted\""), "blank": .string(""),
            "i": .int(Int64.min), "j": .int(Int64.max), "d": .double(-1.5e-300), "nan": .double(.nan),
        ]
        let p = path("attrs.h5")
        try Checkpoint(attributes: attributes).save(to: p)
        let loaded = try Checkpoint.load(from: p)
        XCTAssertEqual(loaded.attributes, attributes)
        XCTAssertEqual(try loaded.string("s"), "multi\nline \u{1F600} \"quoted\"")
        XCTAssertEqual(try loaded.int("i"), Int64.min)
        XCTAssertEqual(try loaded.double("d"), -1.5e-300)
    }

    func testJSONAttribute() throws {
        struct Config: Codable, Equatable { var channels: Int; var name: String; var lr: Double }
        let config = Config(channels: 64, name: "digits", lr: 2e-4)
        var ckpt = Checkpoint()
        try ckpt.setJSON(config, forKey: "config_json")
        let p = path("json.h5")
        try ckpt.save(to: p)
        let loaded = try Checkpoint.load(from: p)
        XCTAssertEqual(try loaded.json(Config.self, forKey: "config_json"), config)
        XCTAssertTrue(try loaded.string("config_json").hasPrefix("{\"channels\":64,"), "keys are sorted")
        assertCheckpointError(.invalidValue, path: p, mentions: ["'config_json'"]) {
            _ = try loaded.json([Int].self, forKey: "config_json")
        }
    }

    func testPrefixLoadKeepsOnlyThatSubtree() throws {
        let p = path("prefix.h5")
        try referenceCheckpoint().save(to: p)
        let params = try Checkpoint.load(from: p, prefix: "params")
        XCTAssertEqual(Set(params.arrays.keys), ["params/0.weight", "params/0.bias", "params/1.weight", "params/1.bias"])
        XCTAssertEqual(params.arrays["params/0.weight"], referenceCheckpoint().arrays["params/0.weight"])
        XCTAssertEqual(params.attributes, referenceCheckpoint().attributes, "attributes are always read")
        XCTAssertEqual(Set(try Checkpoint.load(from: p, prefix: "params/").arrays.keys), Set(params.arrays.keys))
        XCTAssertEqual(try Checkpoint.load(from: p, prefix: "param").arrays.count, 0, "prefixes match whole components")
        XCTAssertEqual(Set(try Checkpoint.load(from: p, prefix: "deep/a/b").arrays.keys), ["deep/a/b/c/odd"])
        XCTAssertEqual(Set(try Checkpoint.load(from: p, prefix: "rng/state").arrays.keys), ["rng/state"])
        XCTAssertEqual(Set(params.arrays(under: "params").keys), ["0.weight", "0.bias", "1.weight", "1.bias"])
    }

    func testSetArraysUnderIsInverseOfArraysUnder() {
        var ckpt = Checkpoint()
        let module = ["fc.weight": ArrayValue(shape: [1], [Float(1)]), "fc.bias": .scalar(Float(2))]
        ckpt.setArrays(module, under: "ema")
        XCTAssertEqual(Set(ckpt.arrays.keys), ["ema/fc.weight", "ema/fc.bias"])
        XCTAssertEqual(ckpt.arrays(under: "ema/"), module)
        XCTAssertEqual(ckpt.arrays(under: "params"), [:])
    }

    func testInspectListsWithoutReadingData() throws {
        let p = path("inspect.h5")
        let ref = referenceCheckpoint()
        try ref.save(to: p)
        let info = try Checkpoint.inspect(p)
        XCTAssertEqual(info.path, p)
        XCTAssertEqual(info.arrays.map(\.name), ref.arrays.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        for entry in info.arrays {
            XCTAssertEqual(entry.shape, ref.arrays[entry.name]?.shape, entry.name)
            XCTAssertEqual(entry.dtype, ref.arrays[entry.name]?.dtype, entry.name)
        }
        XCTAssertEqual(info.attributes, ref.attributes)
        XCTAssertEqual(info.storedChecksum, 4_036_999_190, "value computed by scripts/check_checkpoint_h5py.py")
    }

    /// Golden CRC-32 values computed independently with Python's zlib (see docs/checkpoint-format.md).
    func testChecksumMatchesGoldenValues() throws {
        let cases: [(Checkpoint, UInt32)] = [
            (Checkpoint(arrays: ["a": .scalar(Int64(1))]), 996_211_017),
            (Checkpoint(arrays: ["w": ArrayValue(shape: [1, 3], [Float(1), 2, 3]),
                                 "b/c": ArrayValue(shape: [1], [0.5])]), 3_652_039_736),
        ]
        for (k, (ckpt, crc)) in cases.enumerated() {
            let p = path("golden\(k).h5")
            try ckpt.save(to: p)
            XCTAssertEqual(try Checkpoint.inspect(p).storedChecksum, crc, "case \(k)")
        }
    }

    func testAccessorsNameFileEntryAndValue() throws {
        let p = path("acc.h5")
        try referenceCheckpoint().save(to: p)
        let ckpt = try Checkpoint.load(from: p)
        XCTAssertEqual(try ckpt.array("params/0.weight", dtype: .float32, shape: [2, 3]).count, 6)
        assertCheckpointError(.missing, path: p, mentions: ["'params/nope'"]) { _ = try ckpt.array("params/nope") }
        assertCheckpointError(.missing, path: p, mentions: ["'params/0.bias'", "float32", "int64"]) {
            _ = try ckpt.array("params/0.bias", dtype: .int64)
        }
        assertCheckpointError(.missing, path: p, mentions: ["[2]", "[3]"]) { _ = try ckpt.array("params/0.bias", shape: [3]) }
        assertCheckpointError(.missing, path: p, mentions: ["'step'", "1000", "float64"]) { _ = try ckpt.double("step") }
        assertCheckpointError(.missing, path: p, mentions: ["'nope'"]) { _ = try ckpt.int("nope") }
        assertCheckpointError(.missing, path: "<in memory>") { _ = try Checkpoint().string("x") }
    }

    func testEqualityIsBitwise() {
        XCTAssertEqual(ArrayValue.scalar(Float.nan), .scalar(Float.nan))
        XCTAssertNotEqual(ArrayValue.scalar(Float(0)), .scalar(Float(-0.0)))
        XCTAssertNotEqual(ArrayValue.scalar(Float(1)), .scalar(Double(1)), "dtype is part of the value")
        XCTAssertNotEqual(ArrayValue(shape: [2], [Float(1), 2]), ArrayValue(shape: [2, 1], [Float(1), 2]))
        XCTAssertNotEqual(AttributeValue.double(0), .double(-0.0))
        XCTAssertNotEqual(AttributeValue.int(1), .double(1))
    }

    func testSavingFromSeveralThreadsAtOnce() throws {
        let ref = referenceCheckpoint()
        let failures = NSLock()
        var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { k in
            do {
                var ckpt = ref
                ckpt.attributes["thread"] = .int(Int64(k))
                try ckpt.save(to: path("t\(k).h5"))
                let back = try Checkpoint.load(from: path("t\(k).h5"))
                if back.arrays != ref.arrays || back.attributes["thread"] != .int(Int64(k)) { throw CocoaError(.coderInvalidValue) }
            } catch {
                failures.lock(); errors.append("thread \(k): \(error)"); failures.unlock()
            }
        }
        XCTAssertEqual(errors, [])
    }
}
