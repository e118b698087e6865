import XCTest
@testable import Report
import RunModel

/// Issue 20 §4 in the reports: the "not converged" marker and footnote in Table 3 and `rdd-report sweep`, and
/// `rdd-report curves` (one SVG per configuration, FID of the snapshots against the step) on a synthetic export
/// whose answers are known by hand.
final class LearningCurveReportTests: XCTestCase {
    /// 2 − 0.004·step on 0…200: falls 0.2/1.3 = 15.4% over its last quarter (ConvergenceTests); 1 + ±0.05: flat.
    static let falling = (0...200).map { SeriesPoint(step: $0, value: 2 - 0.004 * Double($0)) }
    static let flat = (0...200).map { SeriesPoint(step: $0, value: 1 + ($0 % 2 == 0 ? 0.05 : -0.05)) }

    /// rcfd and rdd × seeds 0, 1, 2 (sweep "ablation"), 1-step FIDs; each trial's `distill-<m>-1` logs `total`:
    /// falling for rdd seed 0, flat otherwise. rcfd trials also have `curve-rcfd-1`: fid_classifier 10 at step 0
    /// for every seed, and 3, 4, 5 (seeds 0, 1, 2) at step 200.
    func export() -> RunExport {
        var x = SyntheticExport()
        x.sweep("ablation", axes: [SweepAxisRecord(path: "distill.method", source: "grid", values: ["\"rcfd\"", "\"rdd\""]),
                                   SweepAxisRecord(path: "seed", source: "seeds", values: ["0", "1", "2"])])
        for m in ["rcfd", "rdd"] {
            for s in 0..<3 {
                x.trial(axes: ["distill.method": "\"\(m)\"", "seed": "\(s)"], config: ["distill.method": m, "seed": s, "evaluation.every": 100],
                        metrics: ["eval-\(m)-1": ["fid_classifier": Double(10 + s) + (m == "rdd" ? 0.5 : 0)]])
                let i = x.trials.count - 1
                x.trials[i].stages.append(StageRecord(name: "distill-\(m)-1", kind: .distill, identity: "d-\(m)-\(s)", status: .completed, seconds: 1,
                                                      peakMemoryBytes: 1, series: ["total": m == "rdd" && s == 0 ? Self.falling : Self.flat]))
                if m == "rcfd" {
                    x.trials[i].stages.append(StageRecord(name: "curve-rcfd-1", kind: .eval, identity: "c-\(s)", status: .completed, seconds: 1, peakMemoryBytes: 1,
                                                          series: ["fid_classifier": [SeriesPoint(step: 0, value: 10), SeriesPoint(step: 200, value: Double(3 + s))]]))
                }
            }
        }
        return x.export
    }

    func testTable3MarksTheCellWhoseStageIsStillFalling() throws {
        let md = table3Report(ReportData(export()), links: LinkStyle(stem: "table3"))
        let rdd = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| CFD + IS_P2P + M_P2P (RDD)") })
        let cfd = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| CFD (= RCFD)") })
        XCTAssertTrue(rdd.contains("(8.16) †"), String(rdd))
        XCTAssertFalse(cfd.contains("†"), String(cfd))
        XCTAssertTrue(md.contains("- † **not converged**"), md)
        XCTAssertTrue(md.contains("by more than 5% over the last quarter"), md)
        XCTAssertTrue(md.contains("CFD + IS_P2P + M_P2P (RDD): s0 15%. 1 of the 6 stages behind these cells are not converged."), md)
    }

    /// A flagged stage with its learning curve: the footnote adds the FID's change over the curve's second half (the
    /// plateau rule's (b): least-squares line over the snapshots in [S/2, S], relative to their mean). Still falling:
    /// 6, 5.5, 5 at steps 100, 150, 200 → slope −0.01/step × 100 / mean 5.5 = 18.2% fall, "FID −18%". Flat: 5, 5.1, 5.1
    /// → slope +0.001 (Σdx·dy = 5, Σdx² = 5000) × 100 / 5.0667 = a 2.0% rise, "FID +2%", counted as flat and as rising.
    func testFootnoteGivesTheFIDCurveOfAFlaggedStage() throws {
        func table3(_ late: [Double]) throws -> String {
            var ex = export()
            let i = try XCTUnwrap(ex.trials.firstIndex { $0.axes["distill.method"] == "\"rdd\"" && $0.axes["seed"] == "0" })
            let points = [SeriesPoint(step: 0, value: 10)] + zip([100, 150, 200], late).map { SeriesPoint(step: $0.0, value: $0.1) }
            ex.trials[i].stages.append(StageRecord(name: "curve-rdd-1", kind: .eval, identity: "c-rdd-0", status: .completed, seconds: 1,
                                                   peakMemoryBytes: 1, series: ["fid_evaluator": points]))
            return table3Report(ReportData(ex), links: LinkStyle(stem: "table3"))
        }
        let falling = try table3([6, 5.5, 5])
        XCTAssertTrue(falling.contains("CFD + IS_P2P + M_P2P (RDD): s0 15% (FID −18%). 1 of the 6 stages behind these cells are not converged."), falling)
        XCTAssertTrue(falling.contains("the change of the student's FID (`fid_evaluator`) over the second half of the stage"), falling)
        XCTAssertTrue(falling.contains("0 of the 1 flagged stages with a curve lowered their FID by at most 5% there (0 of them raised it)"), falling)
        let flat = try table3([5, 5.1, 5.1])
        XCTAssertTrue(flat.contains("(RDD): s0 15% (FID +2%)."), flat)
        XCTAssertTrue(flat.contains("1 of the 1 flagged stages with a curve lowered their FID by at most 5% there (1 of them raised it)"), flat)
        // Without a curve for the flagged stage (the rcfd curves belong to unflagged stages) nothing is added.
        let none = table3Report(ReportData(export()), links: LinkStyle(stem: "table3"))
        XCTAssertFalse(none.contains("In parentheses"), none)
    }

    func testSweepReportMarksTheRowAndSaysTheRule() throws {
        let (md, _) = try sweepReport(ReportData(export()), options: SweepReportOptions(name: "ablation"), links: LinkStyle(stem: "s"))
        let rdd = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| rdd |") })
        XCTAssertTrue(rdd.contains("[n=3] †"), String(rdd))
        XCTAssertTrue(md.contains("method = rdd, 1-step student: s0 15%"), md)
    }

    func testCurvesOneFigurePerConfigurationWithTheSnapshotFID() throws {
        let o = try produceReport(.curves, ReportData(export()), request: ReportRequest(kind: .curves), links: LinkStyle(stem: "curves"))
        XCTAssertEqual(o.files.map(\.name), ["curves-1.svg", "curves-2.svg"])
        // Step 0: 10, 10, 10 → 10.00 ± 0.00; step 200: 3, 4, 5 → 4.00 ± t(0.975, 2)·1/√3 = 4.302653·0.577350 = 2.48.
        XCTAssertTrue(o.markdown.contains("`fid_classifier` step 0: 10.00 ± 0.00 [n=3] → step 200: 4.00 ± 2.48 [n=3]"), o.markdown)
        XCTAssertTrue(o.markdown.contains("same network as the distillation losses: biased toward feature-matching methods"), o.markdown)
        XCTAssertTrue(o.markdown.contains("s0: **not converged** (falls 15.4%)"), o.markdown)
        let rcfd = String(decoding: o.files[0].data, as: UTF8.self), rdd = String(decoding: o.files[1].data, as: UTF8.self)
        XCTAssertTrue(rcfd.contains("distill-rcfd-1: fid_classifier of the student"))
        XCTAssertFalse(rdd.contains("of the student"), "no curve stage, no FID panel")
        XCTAssertTrue(rdd.contains("distill-rdd-1: loss / first value"))
        // Not part of `all`, which writes one Markdown file per report.
        let all = try produceReport(.all, ReportData(export()), request: ReportRequest(kind: .all), links: LinkStyle(stem: "index"))
        XCTAssertFalse(all.files.contains { $0.name.hasPrefix("curves") })
        guard case .report(let r) = try ReportCommandLine.invocation(["curves", "--out-dir", "x", "--sweep", "ablation"]) else { return XCTFail("curves is a report") }
        XCTAssertEqual([r.kind.rawValue, r.outDir, r.sweep], ["curves", "x", "ablation"])
    }

    /// The synthetic export with the evaluator's FID (20 + seed, + 0.5 for RDD) and KID recorded beside each
    /// trial's classifier FID, except for the trials `without` names ("method/seed").
    func exportWithEvaluator(without: Set<String> = []) -> RunExport {
        var ex = export()
        let label = "FID (independent evaluator ResNet-6 (widths [16, 32], blocks [1, 1]), N=256, vs digits test split (252 images)), ddim 1 steps (NFE 1)"
        for i in ex.trials.indices {
            let m = ex.trials[i].axes["distill.method"]!.replacingOccurrences(of: "\"", with: ""), seed = ex.trials[i].axes["seed"]!
            if without.contains("\(m)/\(seed)") { continue }
            let base = ex.trials[i].evaluations[0], s = Double(seed)! + (m == "rdd" ? 0.5 : 0)
            for (metric, value, text) in [("fid_evaluator", 20 + s, label), ("kid_evaluator", 0.01 * (1 + s), "KID (independent evaluator …), ddim 1 steps (NFE 1)")] {
                ex.trials[i].evaluations.append(EvaluationRecord(stage: base.stage, model: base.model, metric: metric, value: value, label: text,
                                                                 featureNetwork: "ResNet-6", samples: 256, reference: "digits test split (252 images)",
                                                                 sampler: "ddim", steps: 1, nfe: 1, secondsPerImage: 0.001, artifactDirectory: base.artifactDirectory))
            }
        }
        return ex
    }

    /// Item 3: where some evaluations lack the independent evaluator, the tables stay on the classifier FID (its
    /// heading says it is the losses' own network) and show the evaluator's FID and KID beside it under their label.
    func testTablesShowTheIndependentEvaluator() throws {
        let ex = exportWithEvaluator(without: ["rdd/2"])
        let t3 = table3Report(ReportData(ex), links: LinkStyle(stem: "table3"))
        XCTAssertTrue(t3.contains("| Loss | Method | FID ours (paper) | Per seed | `fid_evaluator` ↓ | `kid_evaluator` ↓ | Term diagnostics |"), t3)
        // rcfd seeds 0, 1, 2: 20, 21, 22 → 21.00 ± 2.48 (t_{0.975,2}·1/√3 = 4.303/1.732); 0.01, 0.02, 0.03 → 0.0200 ± 0.0248.
        let cfd = try XCTUnwrap(t3.split(separator: "\n").first { $0.hasPrefix("| CFD (= RCFD)") })
        XCTAssertTrue(cfd.contains("| 21.00 ± 2.48 [n=3] | 0.0200 ± 0.0248 [n=3] |"), String(cfd))
        XCTAssertTrue(t3.contains("- `fid_evaluator`: FID (independent evaluator ResNet-6 (widths [16, 32], blocks [1, 1]), N=256, vs digits test split (252 images)) — no loss sees this network."), t3)
        XCTAssertTrue(t3.contains("(`fid_classifier`: classifier features — same network as the distillation losses: biased toward feature-matching methods;"), t3)
        let t1 = table1Report(ReportData(ex), links: LinkStyle(stem: "table1"))
        XCTAssertTrue(t1.contains("**FID (independent evaluator ResNet-6 (widths [16, 32], blocks [1, 1]), N=256, vs digits test split (252 images)) ↓** (`fid_evaluator`"), t1)
        XCTAssertTrue(t1.contains("21.00 ± 2.48 [n=3] (–)"), t1)
    }

    /// Issue 24 §4: when every evaluation recorded the independent evaluator's FID, it is the tables' FID — their
    /// cells, figures and verdicts — and the classifier FID becomes a column labelled biased.
    func testEvaluatorFIDLeadsWhenEveryEvaluationHasIt() throws {
        let data = ReportData(exportWithEvaluator())
        XCTAssertEqual(fidMetric(data.trials), "fid_evaluator")
        XCTAssertEqual(fidMetric(ReportData(exportWithEvaluator(without: ["rcfd/0"])).trials), "fid_classifier", "one evaluation without it")
        let t3 = table3Report(data, links: LinkStyle(stem: "table3"))
        XCTAssertTrue(t3.contains("**FID ↓** (`fid_evaluator`: independent evaluator — no loss sees this network; ours, mean ± 95% CI [n seeds] (paper))"), t3)
        XCTAssertTrue(t3.contains("| Loss | Method | FID ours (paper) | Per seed | `kid_evaluator` ↓ | `fid_classifier` ↓ | Term diagnostics |"), t3)
        // RCFD: evaluator 20, 21, 22 (paper CFD 8.92); classifier 10, 11, 12 → 11.00 ± 2.48.
        let cfd = try XCTUnwrap(t3.split(separator: "\n").first { $0.hasPrefix("| CFD (= RCFD)") })
        XCTAssertTrue(cfd.contains("| 21.00 ± 2.48 [n=3] (8.92) | s0: 20.00, s1: 21.00, s2: 22.00 | 0.0200 ± 0.0248 [n=3] | 11.00 ± 2.48 [n=3] |"), String(cfd))
        // The caveat is said once: added here, where the (synthetic) label lacks it; a real label carries it itself.
        XCTAssertTrue(t3.contains("- `fid_classifier`: fid_classifier — same network as the distillation losses: biased toward feature-matching methods.\n"), t3)
        XCTAssertTrue(t3.contains("FID metric: `fid_evaluator`"), t3)
        XCTAssertTrue(t3.contains("FID here is computed on the independent evaluator's features"), t3)
        // The verdicts are on the evaluator (RDD − RCFD = +0.50 on every seed) with the classifier as a companion.
        let verdict = try XCTUnwrap(t3.split(separator: "\n").first { $0.hasPrefix("- RDD < CFD (= RCFD):") })
        XCTAssertTrue(verdict.contains("+0.50") && verdict.contains("FID (`fid_evaluator`)") && verdict.contains("`fid_classifier`: +0.50"), String(verdict))
        let t1 = table1Report(data, links: LinkStyle(stem: "table1"))
        XCTAssertTrue(t1.contains("(`fid_classifier`; same network as the distillation losses: biased toward feature-matching methods; each cell"), t1)
    }

    /// The IS column: `score_evaluator` (the IS formula on the evaluator's softmax) leads when every evaluation with a
    /// score has it, the classifier's score shown beside it labelled biased; otherwise the classifier's score leads
    /// (the same rule as `fidMetric`). Synthetic values: evaluator score 5 + seed, classifier score 8 + seed.
    func testEvaluatorScoreLeadsTheScoreColumn() throws {
        func withScores(without: Set<String> = []) -> RunExport {
            var ex = exportWithEvaluator()
            for i in ex.trials.indices {
                let m = ex.trials[i].axes["distill.method"]!.replacingOccurrences(of: "\"", with: ""), seed = ex.trials[i].axes["seed"]!
                let base = ex.trials[i].evaluations[0], s = Double(seed)!
                var scores = [("classifier_score", 8 + s)]
                if !without.contains("\(m)/\(seed)") { scores.append(("score_evaluator", 5 + s)) }
                for (metric, value) in scores {
                    ex.trials[i].evaluations.append(EvaluationRecord(stage: base.stage, model: base.model, metric: metric, value: value, label: metric,
                                                                     featureNetwork: "softmax", samples: 256, reference: "none", sampler: "ddim", steps: 1,
                                                                     nfe: 1, secondsPerImage: 0.001, artifactDirectory: base.artifactDirectory))
                }
            }
            return ex
        }
        let data = ReportData(withScores())
        XCTAssertEqual(scoreMetric(data.trials), "score_evaluator")
        XCTAssertEqual(scoreMetric(ReportData(withScores(without: ["rdd/1"])).trials), "classifier_score", "one evaluation without it")
        XCTAssertEqual(scoreMetric(ReportData(exportWithEvaluator()).trials), "classifier_score", "no score at all")
        let t1 = table1Report(data, links: LinkStyle(stem: "table1"))
        XCTAssertTrue(t1.contains("**IS-style score (independent evaluator) ↑** (`score_evaluator`; the paper's column is the Inception Score)"), t1)
        // RCFD 1 step: 5, 6, 7 → 6.00 ± 2.48 beside the paper's IS 8.87 (paper-tables.json, Table 1); classifier 8, 9, 10.
        XCTAssertTrue(t1.contains("| 1 | missing (7.88) | missing (8.51) | 6.00 ± 2.48 [n=3] (8.87) |"), t1)
        XCTAssertTrue(t1.contains("**Classifier score ↑** (`classifier_score`: the same formula on the distillation classifier's softmax — same network as the distillation losses"), t1)
        XCTAssertTrue(t1.contains("| 1 | missing (–) | missing (–) | 9.00 ± 2.48 [n=3] (–) |"), t1)
        XCTAssertTrue(t1.contains("score metric: `score_evaluator` (the IS formula on the independent evaluator's softmax, not Inception's; no loss sees this network)"), t1)
        let fallback = table1Report(ReportData(withScores(without: ["rdd/1"])), links: LinkStyle(stem: "table1"))
        XCTAssertTrue(fallback.contains("**Classifier score ↑** (`classifier_score`; the paper's column is the Inception Score)"), fallback)
        XCTAssertFalse(fallback.contains("IS-style score (independent evaluator)"), fallback)
    }
}
