import XCTest
import Foundation
import Checkpoint
@testable import Pipeline
import RunModel

/// Learning curves end to end at a toy size (issue 20 §4): the distillation stage keeps snapshots without changing
/// what it trains, and the curve stage evaluates each exactly as an evaluation stage would.
final class LearningCurveTests: XCTestCase {
    func testSnapshotsAreEvaluatedAndChangeNoTrainedNumber() throws {
        var c = try TrialTests.toyEightToFour(method: "rcfd", steps: 4)
        c.evaluation.every = 2
        c.evaluation.everySamples = 16   // = evaluation.samples: the last point must equal eval-rcfd-4
        let root = scratchRoot("curve")
        try runTrialInProcess(c, root: root) { _ in }
        for s in [0, 2] { XCTAssertTrue(FileManager.default.fileExists(atPath: distillSnapshotPath(stageDirectory: root + "/distill-rcfd-4", step: s)), "snapshot \(s)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: distillSnapshotPath(stageDirectory: root + "/distill-rcfd-4", step: 4)), "the final step is final.h5")

        let points = Journal.read(path: root + "/curve-rcfd-4/journal.jsonl").filter { $0.name == "fid_classifier" }
        XCTAssertEqual(points.map(\.step), [0, 2, 4])
        XCTAssertTrue(points.allSatisfy { $0.value.isFinite && $0.value > 0 })
        // The final point is the ordinary evaluation of final.h5 (same N, seed, sampler, steps): identical.
        let eval = try JSONDecoder().decode(EvaluationResult.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/eval-rcfd-4/result.json")))
        XCTAssertEqual(points.last?.value, eval.metrics.first { $0.name == "fid_classifier" }?.value)
        XCTAssertNotEqual(points.first?.value, points.last?.value, "step 0 is the untrained student")
        let curve = try JSONDecoder().decode(EvaluationResult.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/curve-rcfd-4/result.json")))
        XCTAssertEqual(curve.metrics, [], "no table reads a snapshot as a finished student")

        // The same stage without snapshots trains the same weights.
        var off = c
        off.evaluation.every = nil
        off.evaluation.everySamples = nil
        let node = StagePlan.plan(off).first { $0.kind == .distill }!
        XCTAssertNotEqual(node.config, StagePlan.plan(c).first { $0.kind == .distill }!.config, "snapshots are part of the identity")
        try runStage(StageRequest(kind: .distill, config: node.config, inputs: ["teacher": root + "/pd8/final.h5", "classifier": root + "/classifier/final.h5"],
                                  classifierNetwork: c.classifier.network, directory: root + "/nosnap"))
        let a = try Checkpoint.load(from: root + "/distill-rcfd-4/final.h5"), b = try Checkpoint.load(from: root + "/nosnap/final.h5")
        for (k, v) in a.arrays where k.hasPrefix("params/") { XCTAssertEqual(v, b.arrays[k], "\(k): snapshots changed training") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/nosnap/snapshots"))
    }
}

extension TrialTests {
    /// The toy trial with one distillation stage, 8 → 4, of `steps` steps, its 4-step student evaluated.
    static func toyEightToFour(method: String, steps: Int) throws -> ExperimentConfig {
        var c = try toy(method: method)
        c.distill.steps = [steps]
        c.distill.to = 4
        c.evaluation.studentSteps = [4]
        return c
    }
}

extension XCTestCase {
    /// A fresh directory removed when the test ends.
    func scratchRoot(_ name: String) -> String {
        let root = NSTemporaryDirectory() + "rdd-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        return root
    }
}
