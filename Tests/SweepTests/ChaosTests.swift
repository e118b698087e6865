import XCTest
import Foundation
import GRDB
@testable import Sweep
import Tensor

/// Chaos: the release `rdd-sweep run` is SIGKILLed at seeded random moments and rerun at once, with
/// no retry flags — five times killing the scheduler alone (its worker is orphaned and still holds
/// the stage for up to a second), five times the scheduler with its workers. The sweep must then
/// finish with a plain rerun, its export identical to an uninterrupted run's, every stage completed
/// by exactly one attempt, none failed, and every attempt recorded as what it was.
final class ChaosTests: XCTestCase {
    /// Starts `rdd-sweep ARGS` in its own process group, output appended to `log`.
    func start(_ exe: String, _ args: [String], log: String) throws -> pid_t {
        try Proc.spawn(path: exe, arguments: [exe] + args, env: ProcessInfo.processInfo.environment, logPath: log)
    }

    func wait(_ pid: pid_t) -> Proc.Exit {
        while true { if let e = Proc.reap(pid) { return e }; usleep(20_000) }
    }

    /// Direct children of `pid` (from /proc/*/stat: the field after the command's closing parenthesis is the state, then the ppid).
    func children(of pid: pid_t) -> [pid_t] {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return procs.compactMap { name -> pid_t? in
            guard let p = pid_t(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && pid_t(fields[1]) == pid ? p : nil
        }
    }

    func export(_ exe: String, root: String, format: String) throws -> String {
        let out = root + "/export.\(format)"
        let pid = try start(exe, ["export", "--sweep", "chaos", "--root", root, "--format", format, "--output", out], log: root + "/export.log")
        XCTAssertEqual(wait(pid), .exited(0))
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    func testKilledSchedulerAndWorkersRerunWithoutRetryFlags() throws {
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); return }
        let tmp = NSTemporaryDirectory() + "rdd-chaos-\(getpid())"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: tmp) }
        let specPath = tmp + "/chaos.json"
        try SchedulerTests.fastSpec(name: "chaos", methods: ["rdd"], seeds: [0], teacherSteps: 10)
            .write(toFile: specPath, atomically: true, encoding: .utf8)
        func runArgs(_ root: String) -> [String] { ["run", specPath, "--root", root, "--jobs", "1", "--threads", "1", "--display", "plain"] }

        let clean = tmp + "/clean"
        let t0 = Date()
        XCTAssertEqual(wait(try start(exe, runArgs(clean), log: tmp + "/clean.log")), .exited(0))
        let uninterrupted = Date().timeIntervalSince(t0)
        let reference = try export(exe, root: clean, format: "json")
        XCTAssertTrue(reference.contains("student@64/"), reference)

        var rng = RNG(seed: 21)   // the project's seeded generator: the kill moments are reproducible
        for withWorkers in [false, true] {
            let root = tmp + (withWorkers ? "/group" : "/scheduler"), log = root + ".log"
            var kills = 0
            for _ in 0..<5 {
                let pid = try start(exe, runArgs(root), log: log)
                // A moment anywhere in a run (the rerun skips what is done, so later kills land later in the sweep).
                usleep(UInt32(Double.random(in: 0.2...max(0.3, uninterrupted / 4), using: &rng) * 1e6))
                if withWorkers { for c in children(of: pid) { kill(c, SIGKILL) } }
                kill(-pid, SIGKILL)   // its process group: the scheduler (workers have groups of their own)
                if case .signaled(SIGKILL) = wait(pid) { kills += 1 }
            }
            // The immediate plain rerun finishes the sweep (the loop above started each run at once too).
            XCTAssertEqual(wait(try start(exe, runArgs(root), log: log)), .exited(0), (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let waits = text.components(separatedBy: "is held by another worker").count - 1
            print("chaos (\(withWorkers ? "scheduler and workers" : "scheduler only")): \(kills) kills, \(waits) waits for a held stage")
            XCTAssertGreaterThanOrEqual(kills, 3, "most kills landed before the sweep finished")
            if !withWorkers { XCTAssertGreaterThan(waits, 0, "some rerun found an orphaned worker still holding its stage:\n\(text)") }
            XCTAssertFalse(text.contains("not retried") || text.contains("giving up") || text.contains("✗"), text)

            XCTAssertEqual(try export(exe, root: root, format: "json"), reference, "the export equals an uninterrupted run's")
            let db = try RunDatabase(readerAt: RunDatabase.path(root: root))
            try db.read { db in
                let stages = try Row.fetchAll(db, sql: "SELECT identity, status, failures, exit_status, signal, error FROM stages")
                XCTAssertEqual(stages.count, 7)
                for s in stages {
                    let id: String = s["identity"]
                    XCTAssertEqual(s["status"] as String, "completed", id)
                    XCTAssertEqual(s["failures"] as Int, 0, id)
                    XCTAssertEqual(s["exit_status"] as Int?, 0, id)
                    XCTAssertNil(s["signal"] as Int?, id)
                    XCTAssertNil(s["error"] as String?, id)
                    // Exactly one attempt completed, the one whose worker wrote done.json; every other was interrupted.
                    let attempts = try Row.fetchAll(db, sql: "SELECT attempt, outcome, pid, exit_status FROM attempts WHERE stage = ? ORDER BY attempt", arguments: [id])
                    let completed = attempts.filter { $0["outcome"] as String == "completed" }
                    XCTAssertEqual(completed.count, 1, "\(id): \(attempts)")
                    XCTAssertEqual(completed.first?["pid"] as Int32?, WorkerDone.read(directory: root + "/stages/" + id)?.pid, id)
                    XCTAssertEqual(Set(attempts.map { $0["outcome"] as String }).subtracting(["completed", "interrupted"]), [], "\(id): \(attempts)")
                    XCTAssertEqual(attempts.map { $0["attempt"] as Int }, Array(1...attempts.count), "attempt numbers without gaps: \(attempts)")
                    XCTAssertFalse(attempts.contains { $0["exit_status"] as Int? == Int(WorkerExit.busy) }, "\(attempts)")
                }
                XCTAssertEqual(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trials WHERE status = 'completed'"), 1)
            }
        }
    }
}
