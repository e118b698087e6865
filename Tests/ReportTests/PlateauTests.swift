import XCTest
import Foundation
@testable import Report

/// `rdd-report plateau` (issue 24 §2) on synthetic curves whose answer is known by hand.
final class PlateauTests: XCTestCase {
    /// Loss 1 + 9·e^(−step/100) logged every 10 steps, FID 10 + 40·e^(−step/100) at snapshots every 200 steps, to 1600.
    static let loss = stride(from: 0, through: 1600, by: 10).map { SeriesPoint(step: $0, value: 1 + 9 * exp(-Double($0) / 100)) }
    static let fid = stride(from: 0, through: 1600, by: 200).map { SeriesPoint(step: $0, value: 10 + 40 * exp(-Double($0) / 100)) }

    /// One trial per (loss, fid) pair, with `distill-rcfd-4` and its curve stage `curve-rcfd-4`.
    func export(_ curves: [([SeriesPoint], [SeriesPoint])]) -> ReportData {
        var x = SyntheticExport()
        x.sweep("pilot")
        for (seed, c) in curves.enumerated() {
            x.trial(axes: ["seed": "\(seed)"], config: ["seed": seed], metrics: [:],
                    series: ["distill-rcfd-4": ["total": c.0], "curve-rcfd-4": ["fid_evaluator": c.1]])
        }
        for i in x.trials.indices {
            for j in x.trials[i].stages.indices where x.trials[i].stages[j].name.hasPrefix("curve") { x.trials[i].stages[j].kind = .eval }
        }
        return ReportData(x.export)
    }

    /// Three equally spaced points: the least-squares slope is (y₃ − y₁)/(x₃ − x₁), so the fall is (y₁ − y₃)/mean.
    func testFallOfThreePoints() {
        let pts = [SeriesPoint(step: 400, value: 3), SeriesPoint(step: 600, value: 2.5), SeriesPoint(step: 800, value: 1)]
        XCTAssertEqual(relativeFall(pts, minimumPoints: 3)!, 2 / (6.5 / 3), accuracy: 1e-12)
        XCTAssertNil(relativeFall(Array(pts.prefix(2)), minimumPoints: 3), "fewer than three snapshots: undetermined")
    }

    /// Candidates start at 800 (the first S with three snapshots in [S/2, S]). At S = 800 the FID over 400, 600, 800
    /// falls (40e^−4 − 40e^−8)/mean = 0.719207/10.281732 = 7.0% > 5%; at S = 1000 (600, 800, 1000) it falls
    /// (40e^−6 − 40e^−10)/mean = 1.0%, and the loss's last quarter [750, 1000] has long flattened: S = 1000.
    func testChoosesTheFirstStepWhereEveryStageHasPlateaued() throws {
        let md = try plateauReport(export([(Self.loss, Self.fid), (Self.loss, Self.fid)]), options: PlateauOptions())
        XCTAssertTrue(md.contains("| S = 800 | S = 1000 | S = 1200 | S = 1400 | S = 1600 |"), md)
        let at800 = PlateauRule(threshold: 0.05).reading(loss: Self.loss, fid: Self.fid, at: 800)
        XCTAssertEqual(at800.fidFall!, (40 * exp(-4.0) - 40 * exp(-8.0)) / ((30 + 40 * (exp(-4.0) + exp(-6.0) + exp(-8.0))) / 3), accuracy: 1e-12)
        XCTAssertFalse(at800.qualifies)
        XCTAssertTrue(PlateauRule(threshold: 0.05).reading(loss: Self.loss, fid: Self.fid, at: 1000).qualifies)
        XCTAssertTrue(md.contains("/ 7.0 |"), md)
        XCTAssertTrue(md.contains("**S = 1000**: the smallest candidate at which all 2 stages qualify."), md)
        XCTAssertTrue(md.contains("| **stages not qualifying** | | | 2 | 0 | 0 | 0 | 0 |"), md)
    }

    /// A second seed whose loss keeps falling linearly never qualifies: the report says so and names the fallback.
    func testNoCandidateWhenAStageNeverPlateaus() throws {
        let falling = stride(from: 0, through: 1600, by: 10).map { SeriesPoint(step: $0, value: 2 - 0.001 * Double($0)) }
        let md = try plateauReport(export([(Self.loss, Self.fid), (falling, Self.fid)]), options: PlateauOptions())
        XCTAssertTrue(md.contains("**No candidate qualifies for every stage**: the rule then trains the largest, S = 1600"), md)
    }

    func testRefusals() {
        var x = SyntheticExport()
        x.sweep("plain")
        x.trial(axes: ["seed": "0"], config: [:], metrics: [:], series: ["distill-rcfd-4": ["total": Self.loss]])
        XCTAssertThrowsError(try plateauReport(ReportData(x.export), options: PlateauOptions())) { e in
            XCTAssertTrue("\(e)".contains("set evaluation.every"), "\(e)")
        }
        XCTAssertThrowsError(try plateauReport(export([(Self.loss, Self.fid)]), options: PlateauOptions(threshold: 5))) { e in
            XCTAssertTrue("\(e)".contains("--threshold 5.0: must be a fraction in (0, 1)"), "\(e)")
        }
    }
}
