import XCTest
import Foundation
@testable import Sweep

/// The harness at scale (docs/benchmarks.md, "Harness at scale"), small enough for CI: the benchmark
/// of `rdd-bench harness` runs end to end, and no operation's cost grows faster than linearly.
final class HarnessScaleTests: XCTestCase {
    /// Two sweep sizes 4× apart: each operation must cost less than 4 × 2 = 8× the CPU time at the larger one
    /// (linear is 4×, quadratic 16×; the factor 2 absorbs a loaded machine, and each time is a best of 3).
    /// Scheduler bookkeeping per stage must not grow more than 2× (it is constant when linear).
    func testHarnessCostsGrowAtMostLinearly() throws {
        let scratch = NSTemporaryDirectory() + "rdd-harness-scale-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let sizes = [HarnessScaleTests.small, HarnessScaleTests.small * 4]
        var ms: [HarnessBench.Measurement] = []
        for n in sizes {
            var m = try HarnessBench.measurePlan(trials: n, scratch: scratch, repeats: 3)
            try HarnessBench.measureRun(trials: n, scratch: scratch, repeats: 3, into: &m)
            try? FileManager.default.removeItem(atPath: scratch + "/root-\(n)")
            ms.append(m)
        }
        let table = HarnessBench.table(ms)
        print(table)
        let (a, b) = (ms[0], ms[1])
        // The synthetic grid: 11 stages per trial in `tiny` (classifier, teacher, 7 PD halvings, distillation,
        // evaluation), the first nine shared by every trial (the chain's seed is not swept); 96 metric rows
        // per distillation stage.
        // The generator rounds a size up to whole grids (τ_IS × α × 10 seeds): 150 → 200 trials, 600 → 600.
        XCTAssertGreaterThanOrEqual(a.trials, sizes[0])
        XCTAssertGreaterThanOrEqual(b.trials, sizes[1])
        let growth = Double(b.trials) / Double(a.trials)   // linear cost grows by this; the limit is twice it
        XCTAssertEqual(a.links, 11 * a.trials)
        XCTAssertEqual(a.stages, 2 * a.trials + 9)
        XCTAssertGreaterThanOrEqual(b.metricRows, b.trials * HarnessBench.journalSteps * HarnessBench.distillSeries.count)
        // CPU time: on a shared machine it varies far less than wall time, and a quadratic path is CPU.
        // (Start-up by adoption is `measureAdopted`'s, for sizes the stand-in run would take too long for.)
        for op in HarnessBench.Operation.allCases where op != .startupAdopt {
            guard let x = a.times[op]?.cpu, let y = b.times[op]?.cpu else { XCTFail("\(op.rawValue) not measured"); continue }
            switch op {
            case .show: XCTAssertLessThan(y / x, 4, "show (one trial) grew with the sweep:\n\(table)")
            case .perStage: XCTAssertLessThan(y / x, 2, "scheduler bookkeeping per stage grew with the sweep:\n\(table)")
            default: XCTAssertLessThan(y / x, 2 * growth, "\(op.rawValue) grew superlinearly from \(a.trials) to \(b.trials) trials:\n\(table)")
            }
        }
    }

    /// 150 and 600 trials (309 and 1209 stages): about 10 s on an idle 2-core machine, most of it the stand-in
    /// run's file writes. At these sizes a quadratic term shows where the linear cost per item is small
    /// (rendering the plan, the database reads), not in `plan` as a whole, whose JSON work per trial dominates.
    static let small = 150
}
