import XCTest
import Foundation
@testable import Sweep
import Pipeline
import Report
import RunModel

/// Full replicates (issue 20 §2): `"replicate": "chain"` makes each seed retrain the classifier, the teacher and
/// the PD chain; the default keeps today's shared chain, byte for byte.
final class ReplicateTests: XCTestCase {
    func plan(_ base: String) throws -> SweepPlan {
        try SweepPlan.make(SweepSpec.parse(#"{"name": "r", "preset": "tiny", "base": {\#(base)}, "grid": {"distill.method": ["pd", "rdd"]}, "seeds": [0, 1, 2]}"#,
                                           file: "specs/r.json"))
    }

    func testChainRetrainsTheChainPerSeed() throws {
        let shared = try plan(""), chain = try plan(#""replicate": "chain""#)
        XCTAssertEqual(shared.stages.filter { $0.kind == .teacher }.count, 1)
        XCTAssertEqual(shared.stages.filter { $0.kind == .classifier }.count, 1)
        XCTAssertEqual(chain.stages.filter { $0.kind == .teacher }.count, 3, "one teacher per seed")
        XCTAssertEqual(chain.stages.filter { $0.kind == .classifier }.count, 3, "one classifier per seed")
        XCTAssertEqual(chain.stages.filter { $0.kind == .pd }.count, 3 * 7)
        // Trials of one seed still share their chain across methods.
        let teachers = chain.stages.filter { $0.kind == .teacher }
        XCTAssertEqual(teachers.map { $0.trials.count }, [2, 2, 2])
        // Seed 0 with chain is seed 0's shared chain (chainSeed defaults to 0): same identities, computed once.
        func ids(_ p: SweepPlan, trial: Int) -> [String: String] { Dictionary(uniqueKeysWithValues: p.links[trial]!.map { ($0.name, $0.identity) }) }
        XCTAssertEqual(ids(shared, trial: 0)["teacher"], ids(chain, trial: 0)["teacher"])
        XCTAssertNotEqual(ids(shared, trial: 1)["teacher"], ids(chain, trial: 1)["teacher"])
        // The default writes nothing new into the trial's configuration; chain is recorded.
        XCTAssertFalse(shared.trials[0].configJSON.contains("replicate"))
        XCTAssertTrue(chain.trials[0].configJSON.contains(#""replicate":"chain""#))
        XCTAssertEqual(chain.trials[1].config.stageChainSeed, 1)
        XCTAssertEqual(shared.trials[1].config.stageChainSeed, 0)
    }

    func testUnknownModeIsRefusedNamingTheField() throws {
        XCTAssertThrowsError(try plan(#""replicate": "chian""#)) { e in
            let m = (e as? SpecError)?.messages ?? ["\(e)"]
            XCTAssertTrue(m.contains { $0.hasPrefix("specs/r.json") && $0.contains("replicate") && $0.contains("must be shared or chain") }, "\(m)")
        }
    }

    /// Exports written before the fields existed decode with nil; the timestamp format is UTC ISO 8601
    /// (1796585711 = 2026-12-06 19:35:11 UTC by Python `calendar.timegm`; fractions are truncated).
    func testExportFieldsAreOptionalAndTimestampsAreUTC() throws {
        let old = #"{"sweep": "s", "key": "t000", "axes": {}, "configJSON": "{}", "status": "completed", "evaluations": [], "stages": [{"name": "teacher", "kind": "teacher", "identity": "x", "status": "completed", "seconds": 1, "peakMemoryBytes": 2, "series": {}}]}"#
        let t = try JSONDecoder().decode(TrialRecord.self, from: Data(old.utf8))
        XCTAssertNil(t.replicate)
        XCTAssertNil(t.stages[0].startedAt)
        XCTAssertEqual(exportTimestamp(1_796_585_711.7), "2026-12-06T19:35:11Z")
        XCTAssertNil(exportTimestamp(nil))
        // Composed from gmtime_r: the formatter's text for times from 1970 to past 9999 (leap days, year ends).
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        for s in [1.0, 951_782_400, 4_107_542_399, 253_402_300_799, 253_402_300_800] + (0..<500).map({ Double(1 + $0 * 599_999_989) + 0.5 }) {
            XCTAssertEqual(exportTimestamp(s), f.string(from: Date(timeIntervalSince1970: s.rounded(.down))), "\(s)")
        }
        XCTAssertEqual(ReplicateMode.chain.varianceSources, "classifier, teacher, PD chain, distillation and evaluation (each seed retrains the chain)")
    }
}
