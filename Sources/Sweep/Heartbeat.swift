import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A worker's `heartbeat` file: "PID TIME STEP\n", rewritten every second by its heartbeat thread.
/// TIME says the process is alive; STEP (the last completed step, "-" before the first) says whether
/// it is getting anywhere — the scheduler calls a worker whose step and phase have not advanced for
/// `--stall-timeout` seconds "stalled", kills it and retries the stage (docs/sweeps.md, "Failure model").
enum Heartbeat {
    static func write(_ path: String, step: Int?) {
        Proc.quickWrite("\(getpid()) \(Date().timeIntervalSince1970) \(step.map(String.init) ?? "-")\n", to: path)
    }

    /// The step a heartbeat file carries (nil before the first step, or for an older worker's two-field file).
    static func step(_ path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return fields.count >= 3 ? Int(fields[2]) : nil
    }

    /// Appends a line to a stage's worker.log (so an attempt's record says why the scheduler killed it).
    static func note(_ line: String, log: String) {
        guard let h = FileHandle(forWritingAtPath: log) else { return }
        h.seekToEndOfFile()
        h.write(Data((line + "\n").utf8))
        try? h.close()
    }

    /// Test hook, inert unless the environment sets `RDD_TEST_HANG_AT_STEP=N`: the first attempt of each
    /// stage then hangs after completing step N (its heartbeat thread keeps beating), as a training loop
    /// stuck in a deadlock would. A marker file in the stage directory makes later attempts run normally.
    static func testHangStep(directory: String) -> Int? {
        guard let s = ProcessInfo.processInfo.environment["RDD_TEST_HANG_AT_STEP"], let n = Int(s) else { return nil }
        let marker = directory + "/test-hang.done"
        if FileManager.default.fileExists(atPath: marker) { return nil }
        _ = FileManager.default.createFile(atPath: marker, contents: nil)   // unwritable: later attempts hang too, and the test fails
        return n
    }

    static func hangForTest(step: Int) -> Never {
        FileHandle.standardError.write(Data("rdd-sweep worker: RDD_TEST_HANG_AT_STEP: hanging after step \(step) (test hook)\n".utf8))
        while true { sleep(3600) }
    }
}
