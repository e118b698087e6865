import XCTest
@testable import Report

/// The claims table of `rdd-report all` (ClaimIndex.swift) splits the verdict lines Verdict.line writes.
final class ClaimIndexTests: XCTestCase {
    func cellOf(_ values: [Double]) -> Cell {
        Cell(values.enumerated().map { SeedValue(seed: $0.offset, value: $0.element, trial: "s/t\($0.offset)", record: nil) })
    }

    /// A line as the reports print it: claim, verdict, evidence up to the first "; " outside parentheses, paper.
    func testSplitsAVerdictLine() throws {
        let v = Verdict(claim: "RDD < RCFD at 1 step", a: cellOf([1.0, 1.1, 1.2]), b: cellOf([2.0, 2.1, 2.3]), unit: "FID", paper: -0.76,
                        missingA: "A", missingB: "B")
        let c = try XCTUnwrap(ClaimLine(v.line))
        XCTAssertEqual(c.claim, "RDD < RCFD at 1 step")
        XCTAssertEqual(c.outcome, .reproduced)
        XCTAssertEqual(c.verdict, "reproduced")
        XCTAssertTrue(c.evidence.hasPrefix("−1.03 ± ") && c.evidence.hasSuffix("(95% CI of the paired difference over seeds), n = 3, p = 0.001"), c.evidence)
        XCTAssertEqual(c.paper, "−0.76")
    }

    func testLabelWithSemicolonCompanionsAndMDE() throws {
        let line = "cfd+is_p2p: memory grows with batch: inconclusive (CI includes 0), difference (peak at batch 64 − batch 8; mean peak MiB by batch: 8: 505.0, 64: 510.0) +5.00 ± 9.00 MiB (95% CI of the paired difference over seeds), n = 3, p = 0.200; `kid_classifier`: +0.001 ± 0.002; minimum detectable effect (80% power, paired t at 0.05, n = 3): 1.00 MiB = 3.26 SD"
        let c = try XCTUnwrap(ClaimLine(line))
        XCTAssertEqual(c.claim, "cfd+is_p2p: memory grows with batch")
        XCTAssertEqual(c.outcome, .inconclusive)
        XCTAssertEqual(c.verdict, "inconclusive (CI includes 0)")
        XCTAssertEqual(c.evidence, "(peak at batch 64 − batch 8; mean peak MiB by batch: 8: 505.0, 64: 510.0) +5.00 ± 9.00 MiB (95% CI of the paired difference over seeds), n = 3, p = 0.200")
        XCTAssertEqual(c.paper, "")
    }

    func testCombinedClaimNotReproducedAndNonVerdictLines() throws {
        let combined = try XCTUnwrap(ClaimLine("Each relational term improves on CFD alone: inconclusive (3 inconclusive of 3)"))
        XCTAssertEqual(combined.verdict, "inconclusive (3 inconclusive of 3)")
        XCTAssertEqual(combined.evidence, "")
        let not = try XCTUnwrap(ClaimLine("PD+perceptual < PD at 2 steps: not reproduced (the opposite holds), difference +0.62 ± 0.07 FID, n = 3, p < 0.001; paper: −1.58"))
        XCTAssertEqual(not.outcome, .notReproduced)
        XCTAssertEqual(not.evidence, "+0.62 ± 0.07 FID, n = 3, p < 0.001")
        XCTAssertEqual(not.paper, "−1.58")
        for other in ["Optimum: cfd+is_p2p: lowest mean FID at batch size = 64 (3.533), not resolved", "Computed on: not recorded (this export predates provenance records)",
                      "N (samples per evaluation): 2000; FID metric: `fid_classifier`."] {
            XCTAssertNil(ClaimLine(other), other)
        }
    }

    func testClaimsSectionOneRowPerVerdictLine() throws {
        let md = "## Table\n\n- Dataset: digits\n- A < B: reproduced, difference −1.00 ± 0.50 FID, n = 3, p = 0.010; paper: −0.5\n- C < D: untested (no data for C)\n"
        let section = try XCTUnwrap(claimsSection([(stem: "table3", link: "table3.md", claims: verdictClaims(md))]))
        XCTAssertTrue(section.contains("| [table3](table3.md) | A < B | **reproduced** | −1.00 ± 0.50 FID, n = 3, p = 0.010 | −0.5 |"), section)
        XCTAssertTrue(section.contains("| [table3](table3.md) | C < D | **untested (no data for C)** | – | – |"), section)
        XCTAssertEqual(verdictClaims(md).map(\.claim), ["A < B", "C < D"], "the list item that is no verdict is left out")
        XCTAssertNil(claimsSection([(stem: "fig5", link: "fig5.md", claims: verdictClaims("## Fig. 5\n\n- Dataset: digits\n"))]))
    }
}
