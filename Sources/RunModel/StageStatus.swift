import Foundation

/// Where a stage stands in a run (the run database's `stages.status`). The raw values are the strings the
/// database, `status`, the dashboard and every export have always used; they must not change.
public enum StageStatus: String, Codable, CaseIterable, Sendable {
    /// Waiting to run (never run, retried, its artifacts gone, or a corrupt artifact requeued).
    case queued
    /// A worker (local process or Slurm task) has it, or an earlier scheduler's worker still holds it.
    case running
    /// A worker of some sweep completed it (`ran_by_sweep` says which).
    case completed
    /// Its outputs were already on disk when it was first registered (another root, `import`): no attempt ran it here.
    case cached
    /// Its last attempt failed and it is not retried (`rdd-sweep retry --failed` requeues it).
    case failed
    /// It was running when its scheduler stopped or its Slurm job was cancelled: the next run resumes it.
    case stale

    /// Its artifacts are usable as inputs.
    public var isDone: Bool { self == .completed || self == .cached }
}

/// A trial's state (`trials.status`), derived from its stages' states by `init(stages:)` — the one
/// definition of that rule, used by the scheduling loop and the Slurm collector alike.
public enum TrialStatus: String, Codable, CaseIterable, Sendable {
    case queued, running, completed, failed

    /// Completed when every stage is done, else failed when one failed, else running when one runs,
    /// else queued. A stage with no recorded state counts as queued.
    public init(stages: some Sequence<StageStatus?>) {
        var all = true, failed = false, running = false
        for s in stages {
            let s = s ?? .queued
            if !s.isDone { all = false }
            if s == .failed { failed = true }
            if s == .running { running = true }
        }
        self = all ? .completed : failed ? .failed : running ? .running : .queued
    }
}

/// How one attempt at a stage ended (`attempts.outcome`).
public enum AttemptOutcome: String, Codable, CaseIterable, Sendable {
    /// Still running (or its scheduler died before recording the end).
    case running
    case completed
    /// Crashed, was killed, or the stage threw.
    case failed
    /// Stopped on purpose (Ctrl-C, a requeue, a cancel): resumable, not counted as a failure.
    case interrupted
    /// Killed by the scheduler because its heartbeat went silent or it stalled.
    case stale
}
