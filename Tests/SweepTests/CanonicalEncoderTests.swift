import XCTest
import Foundation
@testable import Sweep
import Pipeline
import RunModel
import Tensor

/// `plan` encodes each trial's configuration and its stages' settings with `CanonicalEncoder` (members memoized) and
/// decodes each trial's configuration with a `JSONValueDecoder.Memo`: both must give exactly what Foundation gives —
/// the bytes of `canonicalJSON`, the value of `JSONDecoder` — whatever the sequence of values, so that stage
/// identities and spec hashes never depend on which trial came before.
final class CanonicalEncoderTests: XCTestCase {
    /// A walk through configurations: each step changes a few leaves of the previous one (so most members repeat, as
    /// in a sweep, and the memo is hit) and now and then jumps to another preset (so every member changes).
    func walk(_ steps: Int, seed: UInt64, _ body: (Int, JSON, ExperimentConfig) throws -> Void) throws {
        var r = RNG(seed: seed)
        var tree = JSON.null
        for i in 0..<steps {
            if i % 25 == 0 {
                var c = try ExperimentConfig.defaults(preset: ["tiny", "small", "paper"][(i / 25) % 3])
                if r.int(below: 2) == 0 { c.evaluation.metrics.append(.fidEvaluator); c.replicate = .chain; c.dataRoot = "/data/c10" }
                if r.int(below: 3) == 0 { c.evaluation.every = 5 }
                tree = try JSON.encode(c)
                tree.set(["evaluator"], try JSON.encode(c.evaluator))
            }
            let next = JSONValueDecoderTests.mutate(tree, &r, rate: 40 + r.int(below: 100))
            guard let c = try? JSONDecoder().decode(ExperimentConfig.self, from: Data(next.serialized().utf8)) else { continue }
            tree = next
            try body(i, tree, c)
        }
    }

    func testMemoizedEncodingIsFoundationsBytes() throws {
        let configs = CanonicalEncoder(), stages = CanonicalEncoder()
        var checked = 0, stageChecks = 0
        try walk(400, seed: 29) { i, _, c in
            XCTAssertEqual(configs.encode(c), canonicalJSON(c), "configuration \(i)")
            checked += 1
            guard c.validationErrors().isEmpty else { return }   // the plan of an invalid configuration is never made
            for n in StagePlan.plan(c) {
                XCTAssertEqual(stages.encode(n.settings.payload), n.config, "configuration \(i), stage \(n.name)")
                stageChecks += 1
            }
        }
        XCTAssertGreaterThan(checked, 200)
        XCTAssertGreaterThan(stageChecks, 200)
        // Both paths ran: members taken from the memo and members encoded by Foundation.
        XCTAssertGreaterThan(configs.hits, 1000)
        XCTAssertGreaterThan(configs.encodes, 100)
        XCTAssertGreaterThan(stages.hits, 1000)
    }

    /// `stageIdentity` feeds the hasher in pieces: the digest of `stageIdentityText`, the documented preimage.
    func testStageIdentityHashesItsText() throws {
        for n in StagePlan.plan(try ExperimentConfig.defaults(preset: "tiny")) {
            let inputs = Dictionary(uniqueKeysWithValues: n.inputs.keys.map { ($0, SHA256.hex($0)) })
            XCTAssertEqual(stageIdentity(kind: n.kind, config: n.config, inputs: inputs),
                           SHA256.hex(stageIdentityText(kind: n.kind, config: n.config, inputs: inputs)))
        }
    }

    /// A value the recorder does not take apart (a top-level array, an enum) is encoded whole, still Foundation's bytes.
    func testValuesNotTakenApartAreEncodedWhole() throws {
        let e = CanonicalEncoder()
        XCTAssertEqual(e.encode([3, 1, 2]), canonicalJSON([3, 1, 2]))
        XCTAssertEqual(e.encode(StageKind.distill), canonicalJSON(StageKind.distill))
        XCTAssertEqual(e.encode(["b/x": 1, "a": 2]), canonicalJSON(["b/x": 1, "a": 2]))   // a key Foundation escapes
    }

    func testMemoizedDecodingIsFoundationsValue() throws {
        let memo = JSONValueDecoder.Memo()
        var decoded = 0
        try walk(400, seed: 2929) { i, tree, c in
            XCTAssertEqual(try tree.decode(ExperimentConfig.self, memo: memo), c, "configuration \(i)")
            decoded += 1
        }
        XCTAssertGreaterThan(decoded, 200)
        XCTAssertGreaterThan(memo.hits, 1000)
        XCTAssertGreaterThan(memo.misses, 100)
        // 1 and 1.0 are equal JSON but not identical trees: the memo must not hand an integer's decoding to a double's.
        XCTAssertEqual(JSON.int(1), JSON.double(1))
        XCTAssertFalse(JSON.identical(.int(1), .double(1)))
        XCTAssertFalse(JSON.identical(.object([("a", .int(1)), ("b", .int(2))]), .object([("b", .int(2)), ("a", .int(1))])))
        var copy = try JSON.encode(try ExperimentConfig.defaults(preset: "tiny"))
        let original = copy
        XCTAssertTrue(JSON.identical(copy, original))
        copy.set(["distill", "alpha"], .double(0.25))
        XCTAssertFalse(JSON.identical(copy, original))
        XCTAssertTrue(JSON.identical(copy["unet"]!, original["unet"]!))
    }
}
