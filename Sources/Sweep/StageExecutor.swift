import Foundation
import RunModel

/// Where the stages of a run execute: the seam between the one scheduling loop (`Scheduler`) and a
/// compute backend. The loop registers and reconciles the sweep, keeps each stage's `StageStatus`, and
/// calls the executor once per tick:
///
///     start()                       before registration: take stock of work already in the backend's hands
///     loop: poll() → submit()       record what ended / progressed; take every stage that can go now
///           until !follows or (isIdle and nothing is held)
///     cancel()                      on Ctrl-C / SIGTERM instead of the next poll
///     collect(into:)                after the loop: last records and the summary's executor parts
///
/// An executor never decides a stage's dependencies or the trial states, and issues no SQL: it records
/// through the loop's `RunLedger` (`run.ledger`) and reports state changes with `run.stageChanged`.
/// Adding one is a file with a conforming class and a case of `ExecutorKind` (docs/architecture.md).
protocol StageExecutor: AnyObject {
    /// Before registration (the database is open, the root locked): e.g. collect finished Slurm tasks, or
    /// refuse when another executor has this sweep's stages.
    func start() throws
    /// Lines for the start of the run (`reused`: stages already done).
    func startEvents(reused: Int) -> [String]
    /// Takes every stage it can now: the local executor the first ready stages in plan order up to
    /// `--jobs`, Slurm every queued stage whose inputs are done or themselves in jobs.
    func submit() throws
    /// Records what ended since the last call (completion, failure under `FailurePolicy`, interruption)
    /// and the progress of what runs.
    func poll() throws
    /// Whether no stage is in its hands.
    var isIdle: Bool { get throws }
    /// Whether the loop follows the run to its end (false: return after submitting, e.g. `--detach`).
    var follows: Bool { get }
    /// Seconds between two ticks.
    var tick: Double { get }
    /// The run is being stopped: leave every stage resumable (stop workers, or leave jobs running).
    func cancel() throws
    /// After the loop: final records, and the executor's parts of the summary.
    func collect(into summary: inout RunSummary) throws
    /// Lines for the end of the run.
    func endEvents(_ summary: RunSummary) -> [String]
    /// Progress rows of the running stages, in plan order.
    func rows() -> [ProgressRow]
}

/// The executors `rdd-sweep run --executor` offers; each case makes its `StageExecutor`.
public enum ExecutorKind: String, CaseIterable, Sendable {
    /// Worker processes on this machine (`LocalExecutor`).
    case local
    /// Slurm job arrays (`SlurmExecutor`; options in `RunOptions.slurm`).
    case slurm

    func make(for run: Scheduler) -> any StageExecutor {
        switch self {
        case .local: return LocalExecutor(run)
        case .slurm: return SlurmExecutor(run, options: run.options.slurm)
        }
    }
}
