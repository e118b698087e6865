import Foundation
import XCTest
@testable import Dashboard
import Sweep

/// The pages of a large sweep read what they show, not every trial (docs/dashboard.md, "Performance"): over two
/// synthetic databases (`SyntheticRunDatabase`, as `rdd-bench dashboard` builds them) of 200 and 2,000 trials, a page
/// of the trials table is the same size, and the CPU time a page costs grows with the trials by less than half of what
/// reading the whole sweep costs — `Reports.trialsTable` (every trial with every metric, what the trials page used to
/// read) and `Reports.sweepStatus` (every stage as a row, what the sweeps list and live view used to read), timed here
/// on the same databases, so the bound holds on a slow or busy machine too.
final class DashboardScaleTests: XCTestCase {
    /// Generous: `rdd-bench dashboard` (10,000 trials) measured the paged trials page at ≈ 1/20 of the whole-table
    /// read's CPU time and the sweeps list at ≈ 1/5 of the full status's (docs/dashboard.md, "Performance").
    static let maxShareOfWholeSweepRead = 0.5

    /// Root with a synthetic sweep of `trials` trials, a tenth of them unfinished (so the live view has stages to list),
    /// 12 journal rows per distillation stage (two logged steps: the pages read none of them but the ETA's mean).
    static func root(trials: Int) throws -> String {
        let root = DashboardFixture.tempDir("scale-\(trials)")
        try SyntheticRunDatabase.make(path: RunDatabase.path(root: root), trials: trials, metricRows: trials * 12, unfinished: trials / 10)
        return root
    }

    /// Median CPU seconds of `repeats` runs of `body`, and its last result.
    func cpu<T>(repeats: Int = 3, _ body: () throws -> T) rethrows -> (seconds: Double, result: T) {
        var times: [Double] = []
        var last: T?
        for _ in 0..<repeats {
            var a = timespec(), b = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a)
            last = try body()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b)
            times.append(Double(b.tv_sec - a.tv_sec) + Double(b.tv_nsec - a.tv_nsec) / 1e9)
        }
        return (times.sorted()[repeats / 2], last!)
    }

    func testPagesDoNotReadEveryTrial() throws {
        let small = try Self.root(trials: 200), large = try Self.root(trials: 2_000)
        defer { for r in [small, large] { try? FileManager.default.removeItem(atPath: r) } }
        let ds = Dashboard(root: small), dl = Dashboard(root: large)
        // CPU seconds per added trial of the whole-sweep reads.
        func perTrial(_ read: (Reports) throws -> Void) throws -> Double {
            _ = try cpu(repeats: 1) { try read(Reports(root: large)) }
            let s = try cpu(repeats: 3) { try read(Reports(root: small)) }.seconds, l = try cpu(repeats: 3) { try read(Reports(root: large)) }.seconds
            return (l - s) / 1_800
        }
        let table = try perTrial { _ = try $0.trialsTable(sweep: "synthetic") }
        let status = try perTrial { _ = try $0.sweepStatus("synthetic") }
        let pages: [(String, [(String, String)], Double)] = [
            ("/sweeps/synthetic/trials", [], table), ("/sweeps/synthetic/trials", [("sort", "student@1/fid"), ("dir", "desc")], table),
            ("/sweeps/synthetic/trials", [("sort", "distill.alpha"), ("filter", "rdd"), ("per", "40")], table),
            ("/api/sweeps/synthetic/trials", [("per", "100")], table), ("/sweeps/synthetic/curves", [], table),
            ("/", [], status), ("/sweeps/synthetic/live", [("fragment", "1")], status), ("/api/sweeps/synthetic", [], status),
        ]
        for (path, query, whole) in pages {
            let shown = path + (query.isEmpty ? "" : "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))
            _ = cpu(repeats: 1) { dl.respond(method: "GET", path: path, query: query) }   // warm: caches of the process
            let (ts, rs) = cpu { ds.respond(method: "GET", path: path, query: query) }, (tl, rl) = cpu { dl.respond(method: "GET", path: path, query: query) }
            XCTAssertEqual(rs.status, 200, shown)
            XCTAssertEqual(rl.status, 200, shown)
            let page = (tl - ts) / 1_800
            XCTAssertLessThan(page, Self.maxShareOfWholeSweepRead * whole, String(format: "%@: %.1f ms at 200 trials, %.1f ms at 2,000 (%.1f µs per trial; reading the whole sweep: %.1f µs per trial)",
                                                                                  shown, ts * 1000, tl * 1000, page * 1e6, whole * 1e6))
            if path.hasSuffix("/trials") {
                // The same rows either way (a row is ≈ 0.8 kB): not 2,000 of them (≈ 1.6 MB).
                XCTAssertLessThan(rl.body.count, 150_000, "\(shown): \(rl.body.count) bytes")
                XCTAssertLessThan(Double(rl.body.count), 1.2 * Double(rs.body.count), "\(shown): a page of 2,000 trials is no larger than one of 200")
            }
        }
    }

    /// `SweepProgress`'s grouped counts and worker time (one implementation, shown by `rdd-sweep status` and the
    /// dashboard alike) agree with the stage rows `SweepStatus` lists, each counted by its own state (`StoredStage.seen`),
    /// and the live view lists exactly the stages not done, on a sweep with completed, running (stale: no scheduler) and
    /// queued stages and evaluations, and on the fixture's real sweep.
    func testProgressAgreesWithTheStageRows() throws {
        let synthetic = try Self.root(trials: 200)
        defer { try? FileManager.default.removeItem(atPath: synthetic) }
        for (root, sweep) in [(synthetic, "synthetic"), (try DashboardFixture.root(), DashboardFixture.sweepName)] {
            let r = Reports(root: root)
            let full = try r.sweepStatus(sweep), light = try r.sweepSummary(sweep)
            XCTAssertEqual(light.progress.stageCounts, Dictionary(grouping: full.stages, by: \.state).mapValues(\.count), sweep)
            XCTAssertEqual(light.progress.stageTotal, full.stages.count, sweep)
            let ran = full.stages.filter { $0.state == .completed }.compactMap(\.seconds).reduce(0, +)
            let reused = full.stages.filter { $0.state == .cached }.compactMap(\.seconds).reduce(0, +)
            XCTAssertEqual(light.progress.computeSeconds.ran, ran, accuracy: 1e-6, sweep)
            XCTAssertEqual(light.progress.computeSeconds.reused, reused, accuracy: 1e-6, sweep)
            XCTAssertEqual(light.progress.etaSeconds == nil, full.stages.allSatisfy(\.isDone), sweep)
            let unfinished = try r.unfinishedStages(sweep: sweep, limit: 10_000).stages
            let notDone = full.stages.filter { !$0.isDone }
            XCTAssertEqual(unfinished.map(\.identity).sorted(), notDone.map(\.identity).sorted(), sweep)
            XCTAssertEqual(Dictionary(grouping: unfinished, by: \.shown).mapValues(\.count), Dictionary(grouping: notDone, by: \.shown).mapValues(\.count), sweep)
        }
        let synth = try Reports(root: synthetic).sweepSummary("synthetic")
        XCTAssertEqual(synth.progress.trialCounts, [.completed: 180, .queued: 18, .running: 2])
        XCTAssertEqual(synth.progress.stageCounts, [.completed: 721, .stale: 2, .queued: 78], "1 teacher + 180 × 4 done; 2 distillations recorded running; 18 + 60 queued")
        XCTAssertGreaterThan(synth.progress.etaSeconds ?? 0, 0, "remaining distillation steps × the logged seconds_per_step")
    }
}
