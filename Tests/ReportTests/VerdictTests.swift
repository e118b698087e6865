import XCTest
@testable import Report

final class VerdictTests: XCTestCase {
    func cellOf(_ values: [Double], seeds: [Int]? = nil) -> Cell {
        Cell(values.enumerated().map { SeedValue(seed: seeds?[$0.offset] ?? $0.offset, value: $0.element, trial: "s/t\($0.offset)", record: nil) })
    }

    /// Paired by seed: d = [−1, 0, −2], mean −1, s = 1, half-width t_{0.975,2}·1/√3 = 4.3026527297/√3.
    func testPairedDifference() throws {
        let d = try XCTUnwrap(Difference(cellOf([1, 2, 3]), cellOf([2, 2, 5])))
        XCTAssertEqual(d.kind, .paired)
        XCTAssertEqual(d.mean, -1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(d.halfWidth), 4.3026527297 / 3.0.squareRoot(), accuracy: 1e-9)
    }

    /// Paired over the shared seeds: A has seeds 0–2, B seeds 0–3; seed 3 is left out and named, and the pairs are
    /// those of testPairedDifference (d = [−1, 0, −2]), not mean_A − mean_B = 2 − 4.25.
    func testPairedOverSharedSeeds() throws {
        let d = try XCTUnwrap(Difference(cellOf([1, 2, 3]), cellOf([2, 2, 5, 8], seeds: [0, 1, 2, 3])))
        XCTAssertEqual(d.kind, .paired)
        XCTAssertEqual(d.mean, -1, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(d.halfWidth), 4.3026527297 / 3.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(d.nA, 3); XCTAssertEqual(d.nB, 3)
        XCTAssertEqual(d.unpairedB, [3]); XCTAssertEqual(d.unpairedA, [])
        XCTAssertEqual(d.nText, "n = 3 paired seeds (s3 on one side only, left out)")
        // Seeds interleaved on both sides: A {0, 2, 5}, B {1, 2, 5}: pairs at 2 and 5 only (d = [4 − 1, 9 − 7]).
        let e = try XCTUnwrap(Difference(cellOf([7, 4, 9], seeds: [0, 2, 5]), cellOf([3, 1, 7], seeds: [1, 2, 5])))
        XCTAssertEqual(e.kind, .paired)
        XCTAssertEqual(e.mean, 2.5, accuracy: 1e-12)
        XCTAssertEqual(e.nText, "n = 2 paired seeds (s0, s1 on one side only, left out)")
    }

    /// Welch: A = [1,2,3] (seeds 0–2), B = [2,4,6,8] (seeds 2–5: one shared, too few to pair): −3 ± t_{0.975,⌊4.0755⌋}·√2.
    func testWelchDifference() throws {
        let d = try XCTUnwrap(Difference(cellOf([1, 2, 3]), cellOf([2, 4, 6, 8], seeds: [2, 3, 4, 5])))
        XCTAssertEqual(d.kind, .welch)
        XCTAssertEqual(d.mean, -3, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(d.halfWidth), 2.7764451052 * 2.0.squareRoot(), accuracy: 1e-9)
        XCTAssertEqual(d.nText, "n = 3 vs 4")
    }

    /// p beside the 0.05 threshold keeps enough decimals to show its side; elsewhere three.
    func testPTextNearTheThreshold() {
        XCTAssertEqual(pText(0.0497), "p = 0.0497")
        XCTAssertEqual(pText(0.0502), "p = 0.0502")
        XCTAssertEqual(pText(0.049996), "p = 0.049996")
        XCTAssertEqual(pText(0.05), "p = 0.050")
        XCTAssertEqual(pText(0.0534), "p = 0.053")
        XCTAssertEqual(pText(0.0004), "p < 0.001")
    }

    func testNoIntervalWithOneValue() throws {
        let d = try XCTUnwrap(Difference(cellOf([1]), cellOf([2, 3])))
        XCTAssertEqual(d.kind, .none)
        XCTAssertNil(d.halfWidth)
        XCTAssertNil(Difference(cellOf([]), cellOf([1, 2])))
    }

    func testOutcomes() {
        func v(_ a: [Double], _ b: [Double]) -> Verdict {
            Verdict(claim: "A < B", a: cellOf(a), b: cellOf(b), unit: "FID", paper: -0.76, missingA: "A", missingB: "B")
        }
        let r = v([1.0, 1.1, 1.2], [2.0, 2.1, 2.3])
        XCTAssertEqual(r.outcome, .reproduced)
        XCTAssertTrue(r.line.hasPrefix("A < B: reproduced, difference −1.03 ± "), r.line)
        XCTAssertTrue(r.line.hasSuffix("(95% CI of the paired difference over seeds), n = 3, p = 0.001; paper: −0.76"), r.line)
        XCTAssertEqual(v([2.0, 2.1, 2.3], [1.0, 1.1, 1.2]).outcome, .notReproduced)
        XCTAssertEqual(v([1.0, 3.0, 1.5], [2.0, 2.1, 2.3]).outcome, .inconclusive)
        XCTAssertTrue(v([1.0, 3.0, 1.5], [2.0, 2.1, 2.3]).line.contains("inconclusive (CI includes 0)"))
        XCTAssertTrue(v([1.0], [2.0, 2.1]).line.contains("inconclusive (n = 1 on a side: no CI)"))
        let u = v([], [2.0])
        XCTAssertEqual(u.outcome, .untested)
        XCTAssertEqual(u.line, "A < B: untested (no data for A); paper: −0.76")
    }

    func testCombined() {
        let yes = Verdict(claim: "a", outcome: .reproduced, line: ""), no = Verdict(claim: "b", outcome: .notReproduced, line: "")
        let maybe = Verdict(claim: "c", outcome: .inconclusive, line: ""), none = Verdict(claim: "d", outcome: .untested, line: "")
        XCTAssertEqual(combined("all", [yes, yes]).outcome, .reproduced)
        XCTAssertEqual(combined("all", [yes, no, maybe]).outcome, .notReproduced)
        XCTAssertEqual(combined("all", [yes, maybe]).outcome, .inconclusive)
        XCTAssertEqual(combined("all", [yes, none]).outcome, .inconclusive)
        XCTAssertEqual(combined("all", [none]).outcome, .untested)
        XCTAssertEqual(combined("all", [yes, no, maybe]).line, "all: not reproduced (1 reproduced, 1 not reproduced, 1 inconclusive of 3)")
    }

    /// One value per seed: a repeated seed keeps the first trial's value.
    func testCellKeepsFirstValuePerSeed() {
        let c = Cell([SeedValue(seed: 1, value: 5, trial: "a", record: nil), SeedValue(seed: 0, value: 3, trial: "b", record: nil),
                      SeedValue(seed: 1, value: 9, trial: "c", record: nil)])
        XCTAssertEqual(c.values.map(\.value), [3, 5])
        XCTAssertEqual(c.duplicates, 1)
        XCTAssertEqual(c.text(2), "4.00 ± 12.71 [n=2; 1 duplicate seed not used]", "the set-aside value is counted beside n")
        XCTAssertEqual(c.text(2, paper: 8.16), "4.00 ± 12.71 [n=2; 1 duplicate seed not used] (8.16)")
        XCTAssertEqual(Cell([]).text(2, paper: nil), "missing (–)")
    }

    /// The optimum of a sweep line is "resolved" only when every other value is above the lowest beyond
    /// the CI of the paired difference; otherwise the close values are named.
    func testOptimumIsResolvedOnlyWhenSeparated() {
        func line(_ points: [(Double, [Double])]) -> SweepData {
            SweepData(key: SweepKey(path: "distill.tauIS", symbol: "τ_IS"),
                      lines: [.init(name: "cfd+is_p2p", points: points.map { AxisPoint(x: $0.0, cell: cellOf($0.1), trials: []) })], fid: "fid_classifier")
        }
        // 0.7 is lowest by 1.0 with per-seed differences 1.0, 1.1, 0.9: separated.
        let clear = optimumLine(line([(0.5, [4.0, 4.1, 3.9]), (0.7, [3.0, 3.0, 3.0])]))
        XCTAssertTrue(clear.contains("lowest mean FID at τ_IS = 0.7 (3.000), resolved"), clear)
        // Differences +0.5, −0.3, +0.1: the CI includes 0, so 0.9 is named as not separated.
        let tied = optimumLine(line([(0.5, [4.0, 4.1, 3.9]), (0.7, [3.0, 3.0, 3.0]), (0.9, [3.5, 2.7, 3.1])]))
        XCTAssertTrue(tied.contains("lowest mean FID at τ_IS = 0.7 (3.000), not resolved: τ_IS = 0.9 is not above it"), tied)
        XCTAssertFalse(tied.contains("0.5 is"), tied)
        // One seed: no interval, so nothing is separated.
        let single = optimumLine(line([(0.5, [4.0]), (0.7, [3.0])]))
        XCTAssertTrue(single.contains("not resolved: τ_IS = 0.5 is not above it"), single)
        XCTAssertTrue(optimumLine(line([(0.7, [3.0, 3.1])])).contains("the only value measured"))
    }
}

final class FormatTests: XCTestCase {
    func testFixedAndSigned() {
        XCTAssertEqual(fixed(-0.0001, 2), "0.00")
        XCTAssertEqual(fixed(2.345, 1), "2.3")
        XCTAssertEqual(fixed(.nan, 2), "nan")
        XCTAssertEqual(signed(-0.41, 2), "−0.41")
        XCTAssertEqual(signed(0.41, 2), "+0.41")
        XCTAssertEqual(signed(0, 2), "0.00")
        XCTAssertEqual(compact(0.5), "0.5")
        XCTAssertEqual(compact(2048), "2048")
        XCTAssertEqual(compact(0.05), "0.05")
    }

    func testMarkdownTableAndAnchors() {
        XCTAssertEqual(markdownTable(["a", "b|c"], [["1", "2"]], align: ["l", "r"]), "| a | b\\|c |\n|---|---:|\n| 1 | 2 |\n")
        XCTAssertEqual(anchorID("fixture-tables/t004"), "fixture-tables-t004")
        XCTAssertEqual(termsAnchor("Sweep A/t001"), "terms-sweep-a-t001")
    }

    func testNiceTicks() {
        let t = niceTicks(0, 1, 5)
        XCTAssertEqual(t.count, 6)
        XCTAssertEqual(t.first, 0)
        XCTAssertEqual(t.last ?? 0, 1, accuracy: 1e-12)
        XCTAssertEqual(niceTicks(0.3, 9.7, 5), [2, 4, 6, 8])
        XCTAssertEqual(tickLabel(0.05, [0, 0.05, 0.1]), "0.05")
        XCTAssertEqual(tickLabel(2048, [128, 512, 2048]), "2048")
    }
}

/// Issue 20 item 3: verdict words from Holm-adjusted p, metrics that disagree, the minimum detectable
/// effect, and values set aside counted beside n — on a synthetic export whose numbers are chosen.
final class VerdictStatisticsTests: XCTestCase {
    /// Table 1 at 1 step, three seeds. RDD − RCFD: FID −1.00, −1.05, −1.00 and KID −0.005 each: both metrics
    /// agree (reproduced). RCFD − PD: FID −1.0, −0.9, −1.0 but KID +0.010, +0.011, +0.009: opposite signs with
    /// both CIs excluding 0 (metrics disagree). PD+perceptual − PD: FID +0.5, −0.6, +0.2: inconclusive, with
    /// its minimum detectable effect (n = 3: 3.26 SD of the paired difference, scripts/stats/reference_values.py).
    func testAgreeDisagreeInconclusiveOnASyntheticExport() throws {
        var s = SyntheticExport()
        s.sweep("verdicts")
        let fid: [String: [Double]] = ["pd": [5.0, 5.2, 5.1], "rcfd": [4.0, 4.3, 4.1], "rdd": [3.0, 3.25, 3.1], "pd_perceptual": [5.5, 4.6, 5.3]]
        let kid: [String: [Double]] = ["pd": [0.010, 0.011, 0.012], "rcfd": [0.020, 0.022, 0.021], "rdd": [0.015, 0.017, 0.016], "pd_perceptual": [0.010, 0.012, 0.011]]
        for m in ["pd", "pd_perceptual", "rcfd", "rdd"] { for seed in 0..<3 {
            s.trial(axes: ["distill.method": "\"\(m)\"", "seed": "\(seed)"], config: ["distill.method": m, "seed": seed],
                    metrics: ["eval-\(m)-1": ["fid_classifier": fid[m]![seed], "kid_classifier": kid[m]![seed]]])
        } }
        let md = table1Report(ReportData(s.export), links: LinkStyle(stem: "table1"))
        func line(_ prefix: String) throws -> String {
            try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("- " + prefix) }.map(String.init), "no line \(prefix) in\n\(md)")
        }
        let agree = try line("RDD < RCFD at 1 step: ")
        XCTAssertTrue(agree.hasPrefix("- RDD < RCFD at 1 step: reproduced, difference −1.02 ± 0.07 FID (`fid_classifier`) (95% CI of the paired difference over seeds), n = 3, p < 0.001, Holm-adjusted p < 0.001 over 3 comparisons; `kid_classifier`: −0.005 ± 0.000"), agree)
        let disagree = try line("RCFD < PD at 1 step: ")
        XCTAssertTrue(disagree.hasPrefix("- RCFD < PD at 1 step: metrics disagree (`fid_classifier` −0.967 vs `kid_classifier` +0.010, opposite signs with a 95% CI excluding 0"), disagree)
        let unsure = try line("PD+perceptual < PD at 1 step: ")
        XCTAssertTrue(unsure.hasPrefix("- PD+perceptual < PD at 1 step: inconclusive (CI includes 0), difference +0.03 ± "), unsure)
        // s_d of (0.5, −0.6, 0.2) = 0.5686; MDE = 3.2640 · 0.5686 = 1.86 FID.
        XCTAssertTrue(unsure.contains("minimum detectable effect (80% power, paired t at 0.05, n = 3): 1.86 FID = 3.26 SD of the paired difference (SD 0.57); detecting the observed +0.03 at this SD needs more than 1000 seeds"), unsure)
        XCTAssertTrue(md.contains("the verdict word comes from the Holm-adjusted p over this list's 3 comparisons"), md)
        XCTAssertTrue(md.contains("- Sources of variance: the 95% CIs resample the evaluation's samples (rerun for each seed); the classifier, the teacher, the PD chain are shared by every seed"), md)
    }

    /// Two comparisons each with p ≈ 0.035 (d = −1, −1.5, −2: t = −5.196 on 2 df): alone each is reproduced;
    /// together Holm adjusts both to 0.07, and the words say the raw CI excluded 0.
    func testHolmTurnsTwoMarginalResultsInconclusive() {
        func cellOf(_ v: [Double]) -> Cell { Cell(v.enumerated().map { SeedValue(seed: $0.offset, value: $0.element, trial: "s/t\($0.offset)", record: nil) }) }
        let a = Verdict(claim: "A < B", a: cellOf([1, 1, 1]), b: cellOf([2, 2.5, 3]), unit: "FID", missingA: "A", missingB: "B")
        let b = Verdict(claim: "C < D", a: cellOf([1, 1, 1]), b: cellOf([2, 2.5, 3]), unit: "FID", missingA: "C", missingB: "D")
        XCTAssertEqual(a.outcome, .reproduced)
        XCTAssertEqual(try XCTUnwrap(a.comparison?.difference?.p), 0.0351, accuracy: 1e-4)
        let (judged, m) = judgedAsFamily([a, b, combined("both", [a, b])])
        XCTAssertEqual(m, 2, "the combined claim reuses the two comparisons")
        XCTAssertEqual(judged.map(\.outcome), [.inconclusive, .inconclusive, .inconclusive])
        XCTAssertTrue(judged[0].line.hasPrefix("A < B: inconclusive after Holm's correction (the unadjusted 95% CI excludes 0), difference −1.50 ± 1.24 FID"), judged[0].line)
        XCTAssertTrue(judged[0].line.contains("p = 0.035, Holm-adjusted p = 0.070 over 2 comparisons"), judged[0].line)
    }

    /// A duplicated seed and a non-finite value are counted beside n, not dropped silently.
    func testSetAsideValuesAreShown() {
        let c = Cell([SeedValue(seed: 0, value: 3, trial: "a", record: nil), SeedValue(seed: 0, value: 4, trial: "b", record: nil),
                      SeedValue(seed: 1, value: .nan, trial: "c", record: nil), SeedValue(seed: 2, value: 5, trial: "d", record: nil)])
        XCTAssertEqual(c.n, 2)
        XCTAssertEqual(c.duplicates, 1)
        XCTAssertEqual(c.nonFinite, 1)
        XCTAssertEqual(c.text(2), "4.00 ± 12.71 [n=2; 1 duplicate seed not used, 1 non-finite value excluded]")
        XCTAssertEqual(Cell([SeedValue(seed: 0, value: .infinity, trial: "a", record: nil)]).text(2), "missing [1 non-finite value excluded]")
    }

    /// Memory grows with the batch is judged from the interval of the difference, not from means.
    func testHigherDirection() {
        func cellOf(_ v: [Double]) -> Cell { Cell(v.enumerated().map { SeedValue(seed: $0.offset, value: $0.element, trial: "s/t\($0.offset)", record: nil) }) }
        XCTAssertEqual(Verdict(claim: "grows", a: cellOf([10, 11, 12]), b: cellOf([5, 5, 6]), unit: "MiB", missingA: "", missingB: "", direction: .higher).outcome, .reproduced)
        // Equal memory at every seed: difference 0 ± 0, p = 1: no evidence of growth.
        XCTAssertEqual(Verdict(claim: "grows", a: cellOf([5, 5, 5]), b: cellOf([5, 5, 5]), unit: "MiB", missingA: "", missingB: "", direction: .higher).outcome, .inconclusive)
    }
}
