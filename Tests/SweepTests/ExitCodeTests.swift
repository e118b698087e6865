import XCTest
import Foundation
import GRDB
@testable import Sweep
import Pipeline

/// The exit-status table every subcommand uses, "interrupted (no scheduler running)" in status and
/// show, and what a failed attempt keeps of its worker's output.
final class ExitCodeTests: XCTestCase {
    func run(_ args: [String]) throws -> (Int32, String) { try Self.runTool(args) }

    /// Runs the release `rdd-sweep` with `args` (and `environment` when given) to completion: its exit status and
    /// its standard output and error together.
    static func runTool(_ args: [String], environment: [String: String]? = nil) throws -> (Int32, String) {
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); throw CancellationError() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        if let environment { p.environment = environment }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    func testLockedRootBadArgumentsAndUnknownSweep() throws {
        let root = NSTemporaryDirectory() + "rdd-exit-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let spec = root + "/s.json"
        try SchedulerTests.fastSpec(name: "s", methods: ["pd"], seeds: [0]).write(toFile: spec, atomically: true, encoding: .utf8)

        // A second `run` (and gc, import) on a locked root: 3, not 1 ("some trials failed").
        let lock = FileLock.tryLock(root + "/.scheduler.lock")
        XCTAssertNotNil(lock)
        lock?.writeOwner("4242\n")
        var (code, text) = try run(["run", spec, "--root", root, "--display", "quiet"])
        XCTAssertEqual(code, SweepExitCode.rootLocked.rawValue, text)
        XCTAssertTrue(text.contains("pid 4242"), text)
        (code, text) = try run(["gc", "--root", root])
        XCTAssertEqual(code, SweepExitCode.rootLocked.rawValue, text)
        withExtendedLifetime(lock) {}

        // Bad arguments: 2 (argument-parser's own usage status is 64).
        (code, text) = try run(["run", spec, "--root", root, "--jobs", "0"])
        XCTAssertEqual(code, SweepExitCode.invalidInput.rawValue, text)
        (code, text) = try run(["plan", spec, "--no-such-option"])
        XCTAssertEqual(code, SweepExitCode.invalidInput.rawValue, text)
        (code, text) = try run(["run", spec, "--executor", "slurn"])
        XCTAssertEqual(code, SweepExitCode.invalidInput.rawValue, text)
        (code, text) = try run(["plan", spec, "--root", root, "--max-trials", "0"])
        XCTAssertEqual(code, SweepExitCode.invalidInput.rawValue, text)
        // A command that cannot do its work for another reason: 4.
        (code, text) = try run(["status", "--sweep", "nope", "--root", root + "/missing"])
        XCTAssertEqual(code, SweepExitCode.failed.rawValue, text)
        // Help: 0, on stdout.
        (code, text) = try run(["--help"])
        XCTAssertEqual(code, 0, text)
        XCTAssertTrue(text.contains("Exit status of every subcommand: 0 done; 1 the sweep ran"), text)
    }

    /// Trials and stages recorded as running while no scheduler holds the root.
    func testStatusAndShowSayInterruptedWithoutAScheduler() throws {
        let root = NSTemporaryDirectory() + "rdd-interrupted-\(getpid())"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let plan = try SweepPlan.make(SweepSpec.parse(SchedulerTests.fastSpec(name: "i", methods: ["pd"], seeds: [0]), file: "i.json"))
        var o = RunOptions(root: root, workerExecutable: "/nonexistent")
        o.display = .quiet
        let s = Scheduler(plan: plan, options: o)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        s.db = try RunDatabase(writerAt: RunDatabase.path(root: root))
        s.display = ProgressDisplay(mode: .quiet)
        try s.register()
        // What a SIGKILLed scheduler leaves: a stage and its trial recorded as running.
        try s.db.write { db in
            try db.execute(sql: "UPDATE stages SET status = 'running' WHERE identity = ?", arguments: [plan.stages[0].identity])
            try db.execute(sql: "UPDATE trials SET status = 'running'")
        }
        s.db = nil
        let status = try Reports(root: root).status(sweep: "i", all: true)
        XCTAssertTrue(status.contains("interrupted (no scheduler running) 1"), status)
        XCTAssertTrue(status.contains("interrupted (no scheduler running): was stopped while running"), status)
        let show = try Reports(root: root).show(trial: "0", sweep: "i")
        XCTAssertTrue(show.hasPrefix("trial i@1/0 — interrupted (no scheduler running)"), show)
        XCTAssertEqual(show.components(separatedBy: "interrupted (no scheduler running)").count - 1, 2, "the trial and its stage:\n\(show)")
    }

    /// A trap's reason is the runtime's "Fatal error" line, not the backtrace's last line; 50 lines are kept.
    func testFailureReasonFromAWorkerLog() {
        var log = (1...80).map { "step \($0) loss 0.1" }
        log += ["Swift/IntegerTypes.swift:123: Fatal error: Division by zero",
                "💣 Program crashed: Illegal instruction at 0x00007f",
                "Thread 0 crashed:", "0      0x00007f1 in EvalStage.run at /src/EvalStage.swift:88", "1 [ra] 0x00007f2 in main",
                "Backtrace took 1.01s", ""]
        let tail = Proc.lastLines(log.joined(separator: "\n"), 50)
        XCTAssertEqual(tail.split(separator: "\n", omittingEmptySubsequences: false).count, 50)
        XCTAssertTrue(tail.hasSuffix("Backtrace took 1.01s"), tail)
        XCTAssertEqual(Proc.failureLine(tail), "Swift/IntegerTypes.swift:123: Fatal error: Division by zero")
        XCTAssertEqual(Proc.failureLine("rdd-sweep worker pid 1: eval stage\nloading\nrdd-sweep worker: stage failed: cannot read 'x'\n"),
                       "rdd-sweep worker: stage failed: cannot read 'x'")
        XCTAssertEqual(Proc.failureLine("a real message\nBacktrace took 0.5s\n"), "a real message")
    }
}
