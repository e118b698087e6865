import ArgumentParser
import Foundation
import Sweep

/// `rdd-bench harness`: the harness's own cost as a sweep grows (docs/benchmarks.md, "Harness at
/// scale"). Plans synthetic `tiny` grids (τ_IS × α × 10 seeds) at each `--trials` size, then, up to
/// `--run-trials`, runs them through the scheduler with in-process stand-in workers (no training) and
/// times start-up, bookkeeping per stage, `status`, `show`, `export` and the Fig. 7/9 reports on the
/// database that run wrote. Prints a Markdown table with each operation's growth exponent.
struct HarnessScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "harness", abstract: "Harness cost (plan, scheduler, status, export, reports) against the number of trials.")
    @Option(parsing: .upToNextOption, help: "Sweep sizes in trials (rounded up to a multiple of 100), planned in this order.") var trials = [1000, 10000, 100000]
    @Option(help: "Run the scheduler and time the database commands only at sizes up to this many trials.") var runTrials = 10000
    @Option(help: "Above --run-trials and up to this many trials, build the database by adoption (every stage's files written, one scheduler start-up ingests them) and time the database commands on it.") var adoptTrials = 0
    @Option(help: "Timed repeats of each operation (best reported; the scheduler run itself once).") var repeats = 3
    @Option(help: "Scratch directory (removed first).") var scratch = "/tmp/rdd-bench-harness"
    @Option(help: "Metric rows upserted in the ingestion test (0: skip).") var ingestRows = 1_000_000
    @Option(help: "The ingestion test's WAL limit in MB (RunDatabase.walLimitBytes; 0: never truncate, as before the limit existed).") var walLimitMb = RunDatabase.defaultWALLimitBytes >> 20
    @Flag(help: "Keep the run database of the largest run (scratch/root-N/runs.sqlite) for EXPLAIN QUERY PLAN.") var keep = false

    func run() throws {
        let sizes = trials.sorted()
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: scratch) } }
        var ms: [HarnessBench.Measurement] = []
        // Plans first, in ascending size, so each peak RSS is that of planning the size (and what came before).
        for n in sizes {
            ms.append(try HarnessBench.measurePlan(trials: n, scratch: scratch, repeats: n >= 100_000 ? 1 : repeats))
            print("planned \(ms.last!.trials) trials in \(String(format: "%.2f", ms.last!.times[.plan]?.wall ?? 0)) s"); fflush(stdout)
        }
        for i in ms.indices where ms[i].trials <= max(runTrials, adoptTrials) {
            if ms[i].trials <= runTrials {
                try HarnessBench.measureRun(trials: ms[i].trials, scratch: scratch, repeats: repeats, into: &ms[i])
                print("ran \(ms[i].trials) trials"); fflush(stdout)
            } else {
                try HarnessBench.measureAdopted(trials: ms[i].trials, scratch: scratch, repeats: repeats, into: &ms[i])
                print("adopted \(ms[i].trials) trials"); fflush(stdout)
            }
            if !keep { try? FileManager.default.removeItem(atPath: scratch + "/root-\(ms[i].trials)") }
        }
        print(HarnessBench.table(ms))
        if ingestRows > 0 {
            let r = try HarnessBench.measureMetricIngestion(rows: ingestRows, batch: 96, scratch: scratch, walLimitBytes: walLimitMb > 0 ? walLimitMb << 20 : .max)
            print(String(format: "metric ingestion: %d rows, %d transactions (one stage each: its row and 96 metric rows) in %.2f s (%.0f rows/s) while a reader ran status' ETA query %d times (median %.1f ms, max %.1f ms)",
                         r.rows, r.commits, r.total, Double(r.rows) / r.total, r.reads, r.readMedian * 1000, r.readMax * 1000))
            print(String(format: "commit latency: median %.2f ms, p99 %.2f ms, max %.1f ms; %d commits slower than 10× the median (checkpoints); WAL at most %.1f MB",
                         r.median * 1000, r.p99 * 1000, r.max * 1000, r.slowCommits, Double(r.walMaxBytes) / 1e6)
                  + " (limit \(walLimitMb > 0 ? "\(walLimitMb) MB" : "none"), \(r.walTruncations) truncating checkpoints)")
            print(String(format: "per-launch file writes (atomicWrite of 2 KB: write, fsync, rename): median %.2f ms, p99 %.2f ms; a launch writes two", r.fsyncMedian * 1000, r.fsyncP99 * 1000))
        }
    }
}
