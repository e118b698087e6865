import XCTest
import Foundation
import RunModel

/// `evaluation.reference` (issue 24 §2) in the stage plan: absent or `test`, every identity is what it was before
/// the field existed; `validation` changes the evaluations and learning curves only, never a training stage.
final class ReferencePlanTests: XCTestCase {
    func plan(_ reference: EvaluationReference?) throws -> [StageNode] {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        c.distill.method = .rdd
        c.evaluation.metrics = [.fidClassifier, .fidEvaluator]
        c.evaluation.baselines = [Baseline(.sampler(.ddim), steps: 8), Baseline(.pd, steps: 8)]
        c.evaluation.every = 10
        c.evaluation.reference = reference
        return StagePlan.plan(c)
    }

    func testAbsentReferenceIsInNoJSON() throws {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        XCTAssertNil(c.evaluation.reference)
        XCTAssertFalse(canonicalJSON(c).contains("\"reference\""))
        c.evaluation.every = 10
        for n in StagePlan.plan(c) { XCTAssertFalse(n.config.contains("\"reference\""), n.name.description) }
    }

    /// `"reference": "test"` names the default: the same stages, byte for byte, as leaving it out.
    func testExplicitTestSharesEveryStage() throws {
        XCTAssertEqual(try plan(.test).map(\.config), try plan(nil).map(\.config))
    }

    /// `validation`: every evaluation (students, baselines and curves) carries it and so has its own identity;
    /// the classifier, evaluator, teacher, PD and distillation stages are the test run's (a pilot shares them).
    func testValidationChangesEvaluationsOnly() throws {
        let test = try plan(nil), validation = try plan(.validation)
        XCTAssertEqual(test.map(\.name), validation.map(\.name))
        var evaluations = 0
        for (t, v) in zip(test, validation) {
            if t.kind == .eval {
                evaluations += 1
                XCTAssertNotEqual(t.config, v.config, t.name.description)
                guard case .eval(let e) = v.settings else { return XCTFail(v.name.description) }
                XCTAssertEqual(e.reference, .validation)
            } else {
                XCTAssertEqual(t.config, v.config, "\(t.name) is a training stage: the reference set must not touch it")
            }
        }
        // 1-step student, ddim:8 and pd:8, and three learning curves.
        XCTAssertEqual(evaluations, 6)
    }
}
