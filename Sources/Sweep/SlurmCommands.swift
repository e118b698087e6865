import Foundation
import Pipeline

/// The output of one Slurm command.
public struct CommandResult: Equatable, Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public init(status: Int32, stdout: String, stderr: String = "") { self.status = status; self.stdout = stdout; self.stderr = stderr }
}

/// Runs a Slurm client command (`sbatch`, `squeue`, `scontrol`, `scancel`) given as an argument
/// vector — never through a shell. The Slurm executor talks to Slurm only through this protocol, so
/// unit tests replace it with a mock that records the calls and answers from canned outputs.
public protocol SlurmCommandRunner: AnyObject {
    func run(_ arguments: [String]) throws -> CommandResult
}

/// The real runner: `Foundation.Process` with the program looked up on PATH (`/usr/bin/env`), its
/// environment the caller's plus `environment` (sbatch passes the environment to the job).
public final class ProcessSlurmRunner: SlurmCommandRunner {
    public var environment: [String: String]
    public init(environment: [String: String] = [:]) { self.environment = environment }

    public func run(_ arguments: [String]) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { throw PipelineError("cannot run `\(arguments.joined(separator: " "))`: \(error)") }
        // Read both pipes concurrently: a full stderr pipe must not block the command.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let reader = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        if p.terminationStatus == 127 {
            throw PipelineError("`\(arguments[0])` not found on PATH: the Slurm executor needs the Slurm client commands (sbatch, squeue, scontrol, scancel)")
        }
        return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: errBox.data, as: UTF8.self))
    }
}

/// What Slurm says about one array task.
public struct SlurmTaskState: Equatable, Sendable {
    /// Base job state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, …
    public var state: String
    public var reason: String?
    /// The task's own job id (SLURM_JOB_ID inside the task).
    public var jobID: String?
    /// Exit status and signal of the batch script (wait status decoded), when finished.
    public var exitStatus: Int?
    public var signal: Int?
    public var restarts: Int
    public var node: String?

    public init(state: String, reason: String? = nil, jobID: String? = nil, exitStatus: Int? = nil, signal: Int? = nil, restarts: Int = 0, node: String? = nil) {
        self.state = state; self.reason = reason; self.jobID = jobID; self.exitStatus = exitStatus; self.signal = signal; self.restarts = restarts; self.node = node
    }

    /// States after which the task does nothing more (unless requeued, which Slurm reports as PENDING).
    public static let terminal: Set<String> = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
                                               "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT", "REVOKED"]
    public var isTerminal: Bool { Self.terminal.contains(state) }
    public var isRunning: Bool { ["RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "SUSPENDED", "STOPPED", "CONFIGURING", "RESIZING"].contains(state) }

    /// "exit 3", "signal 9 (SIGKILL)" or "exit 0".
    var exitDescription: String {
        if let s = signal, s != 0 { return "killed by signal \(s) (\(Proc.signalName(Int32(s))))" }
        return "exit status \(exitStatus ?? 0)"
    }
}

/// The Slurm client commands rdd-sweep uses, with their outputs parsed. `sacct` is deliberately not
/// among them: it needs slurmdbd, which many clusters (and the test cluster) do not run.
public struct SlurmClient {
    public let runner: SlurmCommandRunner
    public init(runner: SlurmCommandRunner) { self.runner = runner }

    /// `sbatch --parsable SCRIPT` → the array's job id ("1234"; a "1234;cluster" suffix is dropped).
    public func submit(script path: String) throws -> String {
        let r = try runner.run(["sbatch", "--parsable", path])
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard r.status == 0, id.range(of: "^[0-9]+$", options: .regularExpression) != nil else {
            let why = [r.stderr, r.stdout].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }.joined(separator: "; ")
            throw PipelineError("sbatch refused \(path) (exit status \(r.status)): \(why.isEmpty ? "no output" : why)")
        }
        return id
    }

    /// The squeue fields read, in order (`|`-separated; `--Format` suffixes).
    static let squeueFormat = "JobArrayID:|,JobID:|,StateCompact:|,State:|,Reason:|,exit_code:|,RestartCnt:|,NodeList:|"

    /// States of every task of the given array jobs that Slurm still knows (`squeue --states=all`
    /// also lists finished jobs until the controller forgets them after MinJobAge), keyed "JOB_TASK".
    /// Jobs Slurm no longer knows are simply absent.
    public func queueStates(jobs: [String]) throws -> [String: SlurmTaskState] {
        guard !jobs.isEmpty else { return [:] }
        var out: [String: SlurmTaskState] = [:]
        // Chunks keep the argument short on a sweep with many arrays.
        for chunk in stride(from: 0, to: jobs.count, by: 200).map({ Array(jobs[$0..<min($0 + 200, jobs.count)]) }) {
            let r = try runner.run(["squeue", "--noheader", "--array", "--states=all", "--jobs=" + chunk.joined(separator: ","), "--Format=" + Self.squeueFormat])
            if r.status != 0 {
                // squeue exits 1 with "Invalid job id specified" when it knows none of the ids: all gone.
                if r.stderr.contains("Invalid job id") { continue }
                throw PipelineError("squeue failed (exit status \(r.status)): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); Slurm states not updated")
            }
            for (k, v) in Self.parseSqueue(r.stdout) { out[k] = v }
        }
        return out
    }

    /// Parses `squeue --Format` output of `squeueFormat` (one task per line).
    static func parseSqueue(_ text: String) -> [String: SlurmTaskState] {
        var out: [String: SlurmTaskState] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count >= 8 else { continue }
            var key = f[0]
            if !key.contains("_") { key += "_0" }   // a job that is not an array: its only "task"
            let raw = Int(f[5]) ?? 0
            let (exit, sig) = decodeWaitStatus(raw)
            let st = f[3].split(separator: " ").first.map(String.init) ?? f[3]
            out[key] = SlurmTaskState(state: st, reason: f[4] == "None" || f[4].isEmpty ? nil : f[4], jobID: f[1],
                                      exitStatus: exit, signal: sig, restarts: Int(f[6]) ?? 0,
                                      node: f[7].isEmpty || f[7] == "(null)" ? nil : f[7])
        }
        return out
    }

    /// squeue's exit_code is the raw wait status: exit status in bits 8–15, signal in bits 0–6.
    static func decodeWaitStatus(_ raw: Int) -> (exit: Int, signal: Int?) {
        let sig = raw & 0x7f
        return sig != 0 ? ((raw >> 8) & 0xff, sig) : ((raw >> 8) & 0xff, nil)
    }

    /// `scontrol show job -o ID`: each record's `Key=Value` fields; nil when Slurm no longer knows the job.
    public func showJob(_ id: String) throws -> [[String: String]]? {
        let r = try runner.run(["scontrol", "show", "job", "-o", id])
        if r.status != 0 {
            if r.stderr.contains("Invalid job id") || r.stdout.contains("Invalid job id") { return nil }
            throw PipelineError("scontrol show job \(id) failed (exit status \(r.status)): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return r.stdout.split(separator: "\n").map { Self.parseScontrolRecord(String($0)) }.filter { !$0.isEmpty }
    }

    /// One `scontrol -o` line → fields. Values run to the next " Key=" (values such as Command may
    /// contain spaces; keys are letters, digits, ':', '/', '_' and '-').
    static func parseScontrolRecord(_ line: String) -> [String: String] {
        var out: [String: String] = [:]
        let tokens = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var key: String?, value = ""
        for t in tokens {
            if let eq = t.firstIndex(of: "="), t[..<eq].range(of: "^[A-Za-z][A-Za-z0-9:/_-]*$", options: .regularExpression) != nil {
                if let k = key { out[k] = value }
                key = String(t[..<eq]); value = String(t[t.index(after: eq)...])
            } else if key != nil { value += " " + t }
        }
        if let k = key { out[k] = value }
        return out
    }

    /// The state of one task from `scontrol show job` (for a task squeue did not list), or nil.
    public func taskState(job: String, task: Int) throws -> SlurmTaskState? {
        guard let records = try showJob("\(job)_\(task)") else { return nil }
        guard let r = records.first(where: { $0["ArrayTaskId"] == String(task) }) ?? (records.count == 1 ? records[0] : nil) else { return nil }
        var st = SlurmTaskState(state: r["JobState"] ?? "UNKNOWN", reason: r["Reason"].flatMap { $0 == "None" ? nil : $0 }, jobID: r["JobId"],
                                restarts: Int(r["Restarts"] ?? "") ?? 0, node: r["NodeList"].flatMap { $0.isEmpty || $0 == "(null)" ? nil : $0 })
        if let e = r["ExitCode"] {   // "3:0" = exit status 3, signal 0
            let p = e.split(separator: ":").map { Int($0) ?? 0 }
            st.exitStatus = p.first
            if p.count > 1, p[1] != 0 { st.signal = p[1] }
        }
        return st
    }

    /// `scancel ID…` (array job ids or JOB_TASK).
    public func cancel(_ ids: [String]) throws {
        guard !ids.isEmpty else { return }
        let r = try runner.run(["scancel"] + ids)
        if r.status != 0 && !r.stderr.contains("Invalid job id") && !r.stderr.contains("already completing or completed") {
            throw PipelineError("scancel \(ids.joined(separator: " ")) failed (exit status \(r.status)): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
