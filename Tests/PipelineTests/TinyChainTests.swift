import XCTest
import Foundation
import Pipeline
import RunModel

/// Issue 4's end-to-end check at the `tiny` preset (the CI chain): classifier, teacher, PD 1024 → 8,
/// then 8-step sampling of the PD student and of the teacher (DDIM, stride 128). The teacher's loss
/// falls, and the PD student's samples are closer to the data (classifier-feature FID, N = 256, vs the
/// digits test split) than 8-step DDIM of the teacher — the reason progressive distillation exists.
final class TinyChainTests: XCTestCase {
    func testTinyChainPDBeatsDDIMAtEightSteps() throws {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        c.distill.to = 8                      // stop after the PD chain: no distillation stage
        c.evaluation.studentSteps = []
        c.evaluation.baselines = [Baseline(.pd, steps: 8), Baseline(.sampler(.ddim), steps: 8)]
        let root = NSTemporaryDirectory() + "rdd-tiny-chain-\(getpid())"
        let clock = ContinuousClock(), t0 = clock.now
        try runTrialInProcess(c, root: root)
        let seconds = (clock.now - t0) / .seconds(1)
        print(String(format: "tiny chain (classifier, teacher, PD 1024→8, two evaluations): %.1f s", seconds))

        let loss = Journal.read(path: root + "/teacher/journal.jsonl").filter { $0.name == "loss" }.map(\.value)
        let first = loss.prefix(10).reduce(0, +) / 10, last = loss.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(last, 0.5 * first, "teacher loss falls: first 10 logged mean \(first), last 10 \(last)")

        func fid(_ stage: String) throws -> Double {
            let r = try JSONDecoder().decode(EvaluationResult.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/\(stage)/result.json")))
            return r.metrics.first { $0.name == "fid_classifier" }!.value
        }
        let pd8 = try fid("eval-pd-8"), ddim8 = try fid("eval-ddim-8")
        print(String(format: "classifier-feature FID, N=256: PD 8 steps %.3f, DDIM 8 steps %.3f", pd8, ddim8))
        XCTAssertLessThan(pd8, ddim8, "8-step PD student closer to data than 8-step DDIM of the teacher")
    }
}
