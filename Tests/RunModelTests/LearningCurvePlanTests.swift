import XCTest
import Foundation
import RunModel

/// `evaluation.every` (issue 20 §4) in the stage plan: absent, nothing changes; set, every distillation stage keeps
/// snapshots and a `curve-<method>-<steps>` evaluation reads them with the right feature network.
final class LearningCurvePlanTests: XCTestCase {
    func config(_ method: DistillMethod = .rdd, metrics: [EvaluationMetric] = [.fidClassifier, .classifierScore, .kidClassifier],
                every: Int? = nil) throws -> ExperimentConfig {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        c.distill.method = method
        c.evaluation.metrics = metrics
        c.evaluation.every = every
        return c
    }

    /// Without `evaluation.every` no JSON mentions it: the trial's configuration, and so its spec hash, and
    /// every stage's settings, and so its identity, are what they were before learning curves existed.
    func testAbsentByDefaultAndInNoCanonicalJSON() throws {
        let c = try config()
        XCTAssertNil(c.evaluation.every)
        for text in [canonicalJSON(c)] + StagePlan.plan(c).map(\.config) {
            for key in ["\"every\"", "\"everySamples\"", "\"snapshotEvery\"", "\"snapshots\""] { XCTAssertFalse(text.contains(key), "\(key) in \(text.prefix(80))") }
        }
        XCTAssertFalse(StagePlan.plan(c).contains { if case .curve = $0.name { return true }; return false })
    }

    /// every = 5 on the tiny preset (20 steps per stage): snapshots after 0, 5, 10, 15 steps and the final 20, one
    /// curve per distillation stage at min(N, 128) = 128 samples, DDIM at the student's step count, the model input
    /// being that stage; the classifier-feature FID, or the evaluator's when an evaluator metric is requested.
    func testCurvesFollowEachDistillationStage() throws {
        let c = try config(every: 5)
        let nodes = StagePlan.plan(c)
        for steps in [4, 2, 1] {
            guard case .distill(let d)? = nodes.first(where: { $0.name == .distill(method: .rdd, steps: steps) })?.settings else { return XCTFail("distill \(steps)") }
            XCTAssertEqual(d.snapshotEvery, 5)
            XCTAssertEqual(d.snapshotSteps, [0, 5, 10, 15, 20])
            let curve = try XCTUnwrap(nodes.first { $0.name == .curve(method: .rdd, steps: steps) })
            XCTAssertEqual(curve.name.description, "curve-rdd-\(steps)")
            XCTAssertEqual(StageName(curve.name.description), curve.name)
            XCTAssertEqual(curve.inputs, ["model": .distill(method: .rdd, steps: steps), "classifier": .classifier])
            guard case .eval(let e) = curve.settings else { return XCTFail("a curve is an evaluation") }
            XCTAssertEqual(e.snapshots, [0, 5, 10, 15, 20])
            XCTAssertEqual([e.samples, e.steps], [128, steps])
            XCTAssertEqual(e.metrics, [.fidClassifier])
            XCTAssertEqual(e.sampler, .ddim)
        }
        // The evaluator's FID when the trial requests an evaluator metric; a PD trial without classifier metrics gets a classifier for its curve.
        let ev = StagePlan.plan(try config(metrics: [.fidEvaluator], every: 5)).first { $0.name == .curve(method: .rdd, steps: 1) }
        XCTAssertEqual(ev?.inputs["evaluator"], .evaluator)
        guard case .eval(let e)? = ev?.settings else { return XCTFail() }
        XCTAssertEqual(e.metrics, [.fidEvaluator])
        let pd = StagePlan.plan(try config(.pd, metrics: [.fidInception], every: 10))
        XCTAssertTrue(pd.contains { $0.kind == .classifier })
        XCTAssertEqual(pd.first { $0.name == .curve(method: .pd, steps: 1) }?.inputs["classifier"], .classifier)
        XCTAssertFalse(StagePlan.plan(try config(.pd, metrics: [.fidInception])).contains { $0.kind == .classifier }, "without curves, as before")
    }

    /// every ≤ 0, everySamples < 2 and everySamples without every are refused, naming the field and value.
    func testBadValuesAreRefused() throws {
        func problems(_ edit: (inout ExperimentConfig) -> Void) throws -> [String] {
            var c = try config()
            edit(&c)
            return c.validationErrors(samplerStepsProblem: { _, _, _ in nil })
        }
        XCTAssertEqual(try problems { $0.evaluation.every = 0 }.filter { $0.hasPrefix("evaluation.every = 0") }.count, 1)
        XCTAssertEqual(try problems { $0.evaluation.every = -3 }.filter { $0.hasPrefix("evaluation.every = -3: must be ≥ 1") }.count, 1)
        XCTAssertEqual(try problems { $0.evaluation.every = 5; $0.evaluation.everySamples = 1 }.filter { $0.hasPrefix("evaluation.everySamples = 1") }.count, 1)
        XCTAssertEqual(try problems { $0.evaluation.everySamples = 64 }.filter { $0.contains("evaluation.every is not") }.count, 1)
        XCTAssertEqual(try problems { $0.evaluation.every = 5; $0.evaluation.everySamples = 64 }, [])
    }
}
