import Foundation

/// Where a stage runs and how it reports: its directory (checkpoint.h5, final.h5, journal.jsonl),
/// how often it checkpoints and logs, and an optional progress callback for live displays.
public struct StageContext {
    public let directory: String
    public var checkpointEvery: Int
    public var logEvery: Int
    public var progress: ((_ step: Int, _ total: Int, _ metrics: [(String, Double)]) -> Void)?
    /// For crash tests: stop abruptly (exit 137, as SIGKILL) after this many steps of this process.
    public var dieAfterSteps: Int?
    /// For resume tests: stop (throwing `StageInterrupted`) after this many steps of this call.
    public var stopAfterSteps: Int?
    /// Polled after every training step: when it returns true the loop saves a checkpoint at that
    /// step (if it did not just save one) and throws `StageInterrupted`. The Slurm worker sets it from
    /// its SIGUSR1/SIGTERM handler (preemption, time-limit warning, scancel), so a requeued job resumes
    /// where it stopped.
    public var stopRequested: (() -> Bool)?
    /// Names the work after the counted steps, e.g. an evaluation's "Inception features" once sampling is
    /// done, so a live display does not sit at "96%  ETA 0:00" for the minutes the metrics take.
    public var phase: ((String) -> Void)?

    public init(directory: String, checkpointEvery: Int = 100, logEvery: Int = 10,
                progress: ((Int, Int, [(String, Double)]) -> Void)? = nil) {
        self.directory = directory
        self.checkpointEvery = checkpointEvery
        self.logEvery = logEvery
        self.progress = progress
        self.dieAfterSteps = ProcessInfo.processInfo.environment["RDD_DIE_AFTER_STEPS"].flatMap(Int.init)
    }

    public var checkpointPath: String { directory + "/checkpoint.h5" }
    public var finalPath: String { directory + "/final.h5" }
    public var journalPath: String { directory + "/journal.jsonl" }

    public func prepare() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }
}

/// The shared shape of every training stage: resume from the last checkpoint if there is one, run
/// `body` for each remaining step, log its metrics every `logEvery` steps, checkpoint every
/// `checkpointEvery` steps and at the end. Non-finite metrics stop the stage naming the step and term.
func runTrainingLoop(totalSteps: Int, startStep: Int, context ctx: StageContext, journal: Journal,
                     save: (_ stepsDone: Int) throws -> Void,
                     body: (_ step: Int) throws -> [(String, Double)]) throws {
    var done = 0
    for step in startStep..<totalSteps {
        let metrics = try body(step)
        for (name, v) in metrics where !v.isFinite {
            throw PipelineError("non-finite \(name) = \(v) at step \(step)")
        }
        if step % ctx.logEvery == 0 || step == totalSteps - 1 { journal.log(step: step, metrics) }
        ctx.progress?(step + 1, totalSteps, metrics)
        if (step + 1) % ctx.checkpointEvery == 0 || step == totalSteps - 1 {
            journal.sync()
            try save(step + 1)
        }
        done += 1
        if let d = ctx.dieAfterSteps, done >= d { exit(137) }
        if let s = ctx.stopAfterSteps, done >= s, step < totalSteps - 1 { throw StageInterrupted(step: step + 1) }
        if let stop = ctx.stopRequested, step < totalSteps - 1, stop() {
            if (step + 1) % ctx.checkpointEvery != 0 {
                journal.sync()
                try save(step + 1)
            }
            throw StageInterrupted(step: step + 1)
        }
    }
}

/// Thrown when a stage stops early on request (`StageContext.stopAfterSteps`); its last checkpoint stays.
public struct StageInterrupted: Error { public let step: Int }
