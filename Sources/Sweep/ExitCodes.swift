import Foundation

/// The exit status of every `rdd-sweep` subcommand (docs/sweeps.md, "Exit codes"), one table so a
/// script can tell "the sweep ran and some trials failed" from "it never ran".
public enum SweepExitCode: Int32, CaseIterable {
    /// Done: every trial completed (run, retry), or the command did what it was asked.
    case done = 0
    /// The sweep ran to its end but some trials failed (their stages' errors are listed).
    case trialsFailed = 1
    /// Bad spec or arguments: nothing was run or written.
    case invalidInput = 2
    /// The results root is locked by another `rdd-sweep` (run, gc, import): nothing was done.
    case rootLocked = 3
    /// The command could not do its work: I/O, the run database, an unexpected error (message on stderr).
    case failed = 4
    /// Interrupted (SIGINT/SIGTERM): running stages were stopped and are resumable.
    case interrupted = 130

    /// What the status means, for `--help` and the docs.
    public var meaning: String {
        switch self {
        case .done: return "done"
        case .trialsFailed: return "the sweep ran; some trials failed"
        case .invalidInput: return "bad spec or arguments; nothing ran"
        case .rootLocked: return "the results root is locked by another rdd-sweep"
        case .failed: return "could not run (I/O, database, unexpected error)"
        case .interrupted: return "interrupted; running stages are resumable"
        }
    }
}

/// Another `rdd-sweep` holds `<root>/.scheduler.lock` (exit status 3).
public struct RootLockedError: Error, CustomStringConvertible, LocalizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
