import XCTest
import Foundation
@testable import Report

/// FID (and KID) of the 1-step student for a τ_IS value and seed: falls with τ_IS ↓, seed 1 a little lower.
func tauValues(_ tau: Double, _ seed: Int) -> [String: Double] {
    let fid = 5.5 + tau * 1.0 - Double(seed) * 0.35 + (tau == 0.2 ? 0.1 * Double(seed) : 0)
    return ["fid_classifier": fid, "kid_classifier": 0.01 + tau * 0.004 - Double(seed) * 0.001, "classifier_score": 3.0 - tau * 0.2]
}

/// The example: cfd+is_p2p, grid distill.tauIS ∈ {0.05, 0.2, 1}, seeds 0 and 1.
func tauSweep(unfinished: Bool = false) -> SyntheticExport {
    var s = SyntheticExport()
    s.sweep("tau-is", description: "Does a lower IS_P2P temperature help the 1-step student?",
            axes: [SweepAxisRecord(path: "distill.tauIS", source: "grid", values: ["0.05", "0.2", "1"]),
                   SweepAxisRecord(path: "seed", source: "seeds", values: ["0", "1"])])
    for tau in [0.05, 0.2, 1.0] { for seed in 0..<2 {
        let last = unfinished && tau == 1.0 && seed == 1
        s.trial(axes: ["distill.tauIS": compact(tau), "seed": "\(seed)"], config: ["distill.method": "cfd+is_p2p", "distill.tauIS": tau, "seed": seed],
                metrics: ["eval-cfd+is_p2p-1": tauValues(tau, seed)], status: last ? .queued : .completed)
    } }
    return s
}

/// `rdd-report sweep` (issue 28) on synthetic exports whose numbers are chosen: golden reports for a
/// one-axis grid, a two-axis grid, a zip and a sweep with an unfinished trial, and the bad-input refusals.
final class SweepReportTests: XCTestCase {
    func render(_ s: SyntheticExport, _ o: SweepReportOptions, stem: String) throws -> (String, [ReportFile]) {
        try sweepReport(ReportData(s.export), options: o, links: LinkStyle(stem: stem))
    }

    func golden(_ s: SyntheticExport, _ o: SweepReportOptions, stem: String) throws -> String {
        let (md, files) = try render(s, o, stem: stem)
        try assertGolden(Data(md.utf8), "sweep-\(stem).md")
        for f in files {
            assertValidXML(f.data, f.name)
            try assertGolden(f.data, "sweep-" + f.name)
        }
        return md
    }

    func testOneAxisGrid() throws {
        let md = try golden(tauSweep(), SweepReportOptions(name: "tau-is"), stem: "one-axis")
        XCTAssertTrue(md.hasPrefix("## Sweep `tau-is@1` — Does a lower IS_P2P temperature help the 1-step student?\n"), md)
        XCTAssertTrue(md.contains("| 0.05 | 5.38 ± 2.22 [n=2] | s0: 5.55, s1: 5.20 | baseline |"), md)
        XCTAssertTrue(md.contains("`fid_classifier` at 1 step: τ_IS = 1 vs 0.05: differs: higher, difference +0.95 ± 0.00 FID"), md)
        XCTAssertFalse(md.contains("Every combination"), "one axis: no full table")
        XCTAssertTrue(md.contains("](one-axis.svg)"))
        // A score (higher is better) falling while FID rises is agreement, not "metrics disagree": only
        // distances (FID, KID) are set against each other (classifier_score = 3 − 0.2 τ here).
        let score = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("- `classifier_score` at 1 step: τ_IS = 1 vs 0.05:") }, md)
        XCTAssertFalse(score.contains("metrics disagree"), String(score))
        // The paper's stated τ_IS optima (0.7 and 0.9, Fig. 7) lie within 0.05…1: marked on the plot.
        let (_, files) = try render(tauSweep(), SweepReportOptions(name: "tau-is"), stem: "one-axis")
        let svg = String(decoding: try XCTUnwrap(files.first).data, as: UTF8.self)
        XCTAssertTrue(svg.contains(">paper: 0.7<") && svg.contains(">paper: 0.9<"), svg)
    }

    func testTwoAxisGrid() throws {
        var s = SyntheticExport()
        s.sweep("two-axes", axes: [SweepAxisRecord(path: "distill.method", source: "grid", values: ["\"cfd+is_p2p\"", "\"rcfd\""]),
                                   SweepAxisRecord(path: "distill.tauIS", source: "grid", values: ["0.5", "1"]),
                                   SweepAxisRecord(path: "seed", source: "seeds", values: ["0", "1", "2"])])
        for m in ["cfd+is_p2p", "rcfd"] { for tau in [0.5, 1.0] { for seed in 0..<3 {
            let fid = 4.0 + (m == "rcfd" ? 0.3 : 0) + tau * 0.2 + [0.0, 0.1, -0.05][seed]
            s.trial(axes: ["distill.method": "\"\(m)\"", "distill.tauIS": compact(tau), "seed": "\(seed)"],
                    config: ["distill.method": m, "distill.tauIS": tau, "seed": seed],
                    metrics: ["eval-\(m)-1": ["fid_classifier": fid], "eval-\(m)-2": ["fid_classifier": fid - 0.5]])
        } } }
        let md = try golden(s, SweepReportOptions(name: "two-axes"), stem: "two-axes")
        XCTAssertTrue(md.contains("baseline rcfd"), "the method axis defaults to rcfd: \(md)")
        XCTAssertTrue(md.contains("marginal: per seed, the mean over the other axes' values"))
        XCTAssertTrue(md.contains("Every combination:"))
        XCTAssertTrue(md.contains("### `fid_classifier` of the 2-step student"), "every step count evaluated")
        // --steps keeps one; --baseline moves the reference.
        var o = SweepReportOptions(name: "two-axes@1")
        o.steps = 2; o.baseline = "tauIS=1"
        let (one, _) = try render(s, o, stem: "x")
        XCTAssertFalse(one.contains("1-step student"))
        XCTAssertTrue(one.contains("τ_IS = 0.5 vs 1: differs: lower"), one)
    }

    func testZip() throws {
        var s = SyntheticExport()
        s.sweep("zipped", axes: [SweepAxisRecord(path: "distill.alpha", source: "zip[0]", values: ["0.5", "1", "2"]),
                                 SweepAxisRecord(path: "distill.beta", source: "zip[0]", values: ["0.05", "0.1", "0.2"]),
                                 SweepAxisRecord(path: "seed", source: "seeds", values: ["0", "1"])])
        for (a, b) in [(0.5, 0.05), (1.0, 0.1), (2.0, 0.2)] { for seed in 0..<2 {
            s.trial(axes: ["distill.alpha": compact(a), "distill.beta": compact(b), "seed": "\(seed)"],
                    config: ["distill.method": "rdd", "distill.alpha": a, "distill.beta": b, "seed": seed],
                    metrics: ["eval-rdd-1": ["fid_classifier": 4 + a * 0.1 + Double(seed) * 0.2, "kid_classifier": 0.02 - a * 0.001 + Double(seed) * 0.001]])
        } }
        let md = try golden(s, SweepReportOptions(name: "zipped"), stem: "zip")
        XCTAssertTrue(md.contains("α & β (`distill.alpha`, `distill.beta`, zip[0]): 0.5, 0.05; 1, 0.1; 2, 0.2"), md)
        // FID rises with α (+0.1 per unit) while KID falls: opposite signs with CIs of zero width excluding 0.
        XCTAssertTrue(md.contains("metrics disagree"), md)
    }

    func testUnfinishedTrial() throws {
        let md = try golden(tauSweep(unfinished: true), SweepReportOptions(name: "tau-is"), stem: "unfinished")
        XCTAssertTrue(md.contains("**Unfinished:** 1 trial (1 queued); `rdd-sweep run experiments/tiny/tau-is.json` resumes it:"), md)
        XCTAssertTrue(md.contains("- t005: τ_IS = 1, seed 1 — queued"), md)
        XCTAssertTrue(md.contains("| 1 | 6.50 [n=1] | s0: 6.50 |"), md)
    }

    func testBadInputIsRefusedWithTheValidChoices() throws {
        let s = tauSweep()
        func message(_ o: SweepReportOptions) -> String {
            do { _ = try render(s, o, stem: "x"); return "" } catch { return "\(error)" }
        }
        XCTAssertEqual(message(SweepReportOptions(name: "tau-iss")),
                       "rdd-report sweep: no sweep 'tau-iss' in this run export/database — did you mean 'tau-is'?; sweeps: tau-is@1")
        var o = SweepReportOptions(name: "tau-is")
        o.baseline = "tauM=0.1"
        XCTAssertEqual(message(o), "rdd-report sweep: --baseline tauM=0.1: the sweep has no axis 'tauM'; axes and values: distill.tauIS (0.05 | 0.2 | 1)")
        o.baseline = "distill.tauIS=0.7"
        XCTAssertEqual(message(o), "rdd-report sweep: --baseline distill.tauIS=0.7: axis distill.tauIS has no value '0.7'; its values: 0.05, 0.2, 1")
        o.baseline = nil; o.metrics = ["fid_inception"]
        XCTAssertEqual(message(o), "rdd-report sweep: --metric fid_inception: sweep tau-is@1 never recorded it; recorded: fid_classifier, kid_classifier, classifier_score")
        o.metrics = []; o.steps = 4
        XCTAssertEqual(message(o), "rdd-report sweep: --steps 4: sweep tau-is@1 evaluated no 4-step student; evaluated: 1")
    }

    /// An export without the spec's axes (written before they were recorded) reads them from the trials.
    func testAxesFromTrialsWithoutSpec() throws {
        var s = tauSweep()
        s.sweeps[0].axes = nil
        let (md, _) = try render(s, SweepReportOptions(name: "tau-is"), stem: "x")
        XCTAssertTrue(md.contains("τ_IS (`distill.tauIS`, trials): 0.05, 0.2, 1; baseline 0.05"), md)
    }

    /// Issue 28: Fig. 7 given the τ_IS sweep of 1-step students says exactly that and points to `rdd-report sweep`,
    /// instead of "missing" in every row.
    func testFigureOfAMismatchedSweepPointsToTheSweepReport() throws {
        let (md, files) = fig7Report(ReportData(tauSweep().export), links: LinkStyle(stem: "fig7"))
        XCTAssertTrue(md.contains("The 6 trials sweeping `distill.tauIS` (tau-is) evaluated only 1-step students, not the 4-step student of an 8 → 4 stage that this figure plots: `rdd-report sweep tau-is` reports that sweep at the step counts evaluated."), md)
        XCTAssertFalse(md.contains("| missing |"), md)
        XCTAssertTrue(files.isEmpty)
    }
}

/// `rdd-report compare A B` on the synthetic τ_IS sweep and a copy of it with another method.
final class CompareReportTests: XCTestCase {
    func testTwoSweepsAndTwoTrials() throws {
        var s = tauSweep()
        s.sweep("tau-is-rdd")
        for seed in 0..<2 {
            var v = tauValues(0.05, seed)
            v["fid_classifier"]! -= 0.3
            s.trial(axes: ["seed": "\(seed)"], config: ["distill.method": "rdd", "distill.tauIS": 0.05, "seed": seed], metrics: ["eval-rdd-1": v])
        }
        let data = ReportData(s.export)
        let md = try compareReport(data, "tau-is", "tau-is-rdd")
        XCTAssertTrue(md.contains("| distill.method | \"cfd+is_p2p\" | \"rdd\" |"), md)
        XCTAssertTrue(md.contains("| distill.tauIS | 0.05 \\| 0.2 \\| 1 | 0.05 |"), md)
        XCTAssertFalse(md.contains("| seed |"), "seeds are the replicates of a sweep, not a difference")
        XCTAssertTrue(md.contains("(paired)"), "the seeds match: paired")
        // Two trials: only the keys that differ, values without interval (n = 1).
        let t = try compareReport(data, "tau-is/0", "tau-is/4")
        XCTAssertTrue(t.contains("| distill.tauIS | 0.05 | 1 |"), t)
        XCTAssertFalse(t.contains("| seed |"), "equal keys are not listed")
        XCTAssertThrowsError(try compareReport(data, "tau-is/9", "tau-is/0")) { e in
            XCTAssertEqual("\(e)", "rdd-report compare: tau-is/9: sweep tau-is@1 has trials 0…5; '9' is not one of them")
        }
    }
}
