import XCTest
import Foundation
@testable import Report

/// What the figure reports read from the distillation stages beside the FID (issue 20 §4, §5): the "not
/// converged" flag, Fig. 6's loss peak memory and Fig. 8's pixel-queue refills, on synthetic exports whose
/// logged series are chosen.
final class FigureDataTests: XCTestCase {
    /// A flat loss (converged) or one still falling 40% of its mean over the last quarter (20 logged points).
    func loss(falling: Bool) -> [SeriesPoint] {
        (0..<20).map { i in SeriesPoint(step: i * 10, value: falling ? 2.0 - 0.1 * Double(i) : 1.0) }
    }

    /// Fig. 8 over N_q ∈ {100, 1000, 10000}, three seeds: the queue of N_q = 10000 is never refilled (refills 0),
    /// and seed 2's stage at N_q = 1000 is still falling. Trial keys as real exports write them (the axes'
    /// JSON), with a method name holding "+" (a first version split refs on "+" and found no stage).
    func testFig8FlagsANeverRefreshedQueueAndAnUnconvergedStage() {
        var s = SyntheticExport()
        s.sweep("queue")
        for nq in [100, 1000, 10000] { for seed in 0..<3 {
            let refills = nq == 10000 ? 0.0 : Double(100_000 / nq)
            s.trial(axes: ["distill.queue.size": "\(nq)", "seed": "\(seed)"], config: ["distill.method": "cfd+m_p2p", "seed": seed],
                    metrics: ["eval-cfd+m_p2p-4": ["fid_classifier": 4.0 + Double(seed) * 0.1 + (nq == 1000 ? -0.5 : 0)]],
                    series: ["distill-cfd+m_p2p-4": ["total": loss(falling: nq == 1000 && seed == 2),
                                                     "queue/refills": [SeriesPoint(step: 0, value: 0), SeriesPoint(step: 190, value: refills)]]],
                    key: "{\"distill.method\":\"cfd+m_p2p\",\"distill.queue.size\":\(nq),\"seed\":\(seed)}")
        } }
        let (md, _) = fig8Report(ReportData(s.export), links: LinkStyle(stem: "fig8"))
        XCTAssertTrue(md.contains("| cfd+m_p2p | 100 | s0: 1000, s1: 1000, s2: 1000 |  |"), md)
        XCTAssertTrue(md.contains("| cfd+m_p2p | 10000 | s0: 0, s1: 0, s2: 0 | never refreshed |"), md)
        XCTAssertTrue(md.contains("- Queue never refreshed in: cfd+m_p2p, N_q = 10000"), md)
        // The FID cell of N_q = 1000 carries the marker; the footnote names the seed and its fall.
        let row = md.split(separator: "\n").first { $0.hasPrefix("| cfd+m_p2p | 1000 |") }.map(String.init) ?? ""
        XCTAssertTrue(row.contains(" †"), row)
        XCTAssertFalse(md.split(separator: "\n").first { $0.hasPrefix("| cfd+m_p2p | 100 |") && $0.contains("±") }?.contains("†") ?? true)
        XCTAssertTrue(md.contains("**not converged**") && md.contains("cfd+m_p2p, N_q = 1000: s2 "), md)
    }

    /// Fig. 6 reads the loss evaluation's own peak (`memory/loss_peak_bytes`, max over logged steps) when
    /// every stage logged it: 1 MiB at batch 8, 16 MiB at batch 32 (the process peak is 1 MiB throughout).
    func testFig6UsesTheLossPeakWhenLogged() {
        var s = SyntheticExport()
        s.sweep("batch")
        for b in [8, 32] { for seed in 0..<3 {
            let peak = Double(b == 8 ? 1 << 20 : 16 << 20) + Double(seed) * 1024
            s.trial(axes: ["distill.batchSize": "\(b)", "seed": "\(seed)"], config: ["distill.method": "cfd+is_p2p", "seed": seed],
                    metrics: ["eval-cfd+is_p2p-4": ["fid_classifier": 5.0 - Double(b) / 100 + Double(seed) * 0.05]],
                    series: ["distill-cfd+is_p2p-4": ["total": loss(falling: false),
                                                      "memory/loss_peak_bytes": [SeriesPoint(step: 0, value: peak / 2), SeriesPoint(step: 10, value: peak)]]])
        } }
        let (md, _) = fig6Report(ReportData(s.export), links: LinkStyle(stem: "fig6"))
        XCTAssertTrue(md.contains("Peak memory of the loss evaluation (MiB, `memory/loss_peak_bytes`):"), md)
        XCTAssertTrue(md.contains("| cfd+is_p2p | 32 | 16.00 ± 0.00 [n=3]") || md.contains("| cfd+is_p2p | 32 | 16.0 ± 0.0 [n=3]"), md)
        XCTAssertTrue(md.contains("cfd+is_p2p: memory grows with batch: reproduced"), md)
        XCTAssertTrue(md.contains("- Convergence: none of the 6 distillation stages"), md)
    }
}
