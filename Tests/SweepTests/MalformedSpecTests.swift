import XCTest
import Foundation
@testable import Sweep
import Pipeline

/// A corpus of malformed specs — typos, wrong types, out-of-range values, bad enum values, shell and
/// Slurm-header injection, path traversal in names, a 10^8-trial grid, invalid JSON — each refused by
/// the release `rdd-sweep plan` with exit status 2, a message naming the problem, quickly, and with
/// nothing written under the results root.
final class MalformedSpecTests: XCTestCase {
    /// A tiny spec with `base` and top-level additions spliced in (JSON text).
    static func spec(name: String = "\"bad\"", base: String = "", top: String = "") -> String {
        """
        {"name": \(name), "preset": "tiny",
         "base": {\(base)}\(top.isEmpty ? "" : ",\n " + top)}
        """
    }

    /// (case, spec text, fragments the error message must contain).
    static let corpus: [(String, String, [String])] = [
        ("invalid JSON", "{\"name\": \"bad\", \"preset\": \"tiny\",}", ["not valid JSON"]),
        ("not an object", "[1, 2]", ["must be a JSON object"]),
        ("empty file", "", ["not valid JSON"]),
        ("top-level typo", spec(top: "\"gird\": {\"seed\": [1]}"), ["unknown top-level key 'gird'", "did you mean 'grid'"]),
        ("nested key typo", spec(base: "\"distill\": {\"alpah\": 1}"), ["bad.json:2", "unknown key 'alpah'", "did you mean 'alpha'"]),
        ("wrong type", spec(base: "\"pd\": {\"batchSize\": \"eight\"}"), ["pd.batchSize", "expected an integer, got a string"]),
        ("non-integer", spec(base: "\"distill\": {\"batchSize\": 2.5}"), ["distill.batchSize", "non-integer number 2.5"]),
        ("negative learning rate", spec(base: "\"teacher\": {\"lr\": -1}"), ["bad.json:2", "teacher.lr = -1.0", "learning rate must be > 0"]),
        ("zero learning rate", spec(base: "\"distill\": {\"headLR\": 0}"), ["distill.headLR = 0.0", "> 0"]),
        ("zero evaluation batch", spec(base: "\"evaluation\": {\"batchSize\": 0}"), ["evaluation.batchSize = 0", "batch size must be ≥ 1"]),
        ("zero classifier batch", spec(base: "\"classifier\": {\"batchSize\": 0}"), ["classifier.batchSize = 0"]),
        ("zero PD steps", spec(base: "\"pd\": {\"stepsPerHalving\": 0}"), ["pd.stepsPerHalving = 0", "≥ 1"]),
        ("zero distill steps", spec(base: "\"distill\": {\"steps\": [0]}"), ["distill.steps", "every value ≥ 1"]),
        ("EMA decay out of range", spec(base: "\"teacher\": {\"emaDecay\": 1.5}"), ["teacher.emaDecay = 1.5", "[0, 1)"]),
        ("unknown method", spec(top: "\"grid\": {\"distill.method\": [\"pd\", \"rdd2\"]}"),
         ["bad.json:3", "grid.distill.method[1]", "\"rdd2\"", "must be one of pd, pd_perceptual", "did you mean 'rdd'"]),
        ("unknown queue mode", spec(base: "\"distill\": {\"queue\": {\"mode\": \"papr\"}}"), ["distill.queue.mode", "did you mean 'paper'"]),
        ("unknown metric", spec(base: "\"evaluation\": {\"metrics\": [\"fid_clasifier\"]}"), ["evaluation.metrics[0]", "did you mean 'fid_classifier'"]),
        ("unknown baseline sampler", spec(base: "\"evaluation\": {\"baselines\": [\"ddmi:8\"]}"),
         ["bad.json:2", "evaluation.baselines[0] = \"ddmi:8\"", "unknown sampler 'ddmi'", "did you mean 'ddim'"]),
        ("baseline without steps", spec(top: "\"grid\": {\"evaluation.baselines\": [[\"ddim:8\"], [\"pd:8\", \"ddim\"]]}"),
         ["bad.json:3", "grid.evaluation.baselines[1]", "evaluation.baselines[1] = \"ddim\"", "must be KIND:STEPS with KIND one of pd, ddim"]),
        ("baseline steps not a number", spec(base: "\"evaluation\": {\"baselines\": [\"pd:8\", \"pd:x\"]}"), ["evaluation.baselines[1] = \"pd:x\"", "STEPS 'x'"]),
        ("baseline steps a sampler cannot run", spec(base: "\"evaluation\": {\"baselines\": [\"dpm_solver:2\"]}"),
         ["bad.json:2", "evaluation.baselines[0] = dpm_solver:2", "order 3 needs at least 3 time steps"]),
        ("Slurm header injection in a method", spec(top: "\"grid\": {\"distill.method\": [\"rdd\\n#SBATCH --export=ALL,LD_PRELOAD=/tmp/evil.so\"]}"),
         ["grid.distill.method[0]", "must be one of"]),
        ("Slurm header injection in the name", spec(name: "\"bad\\n#SBATCH --export=ALL\""), ["name = ", "letters, digits"]),
        ("path traversal in the name", spec(name: "\"../../etc/cron.d/x\""), ["name = ", "letters, digits"]),
        ("shell metacharacters in the name", spec(name: "\"x;rm -rf ~\""), ["name = ", "letters, digits"]),
        ("control character in dataRoot", spec(base: "\"dataRoot\": \"/data\\n#SBATCH -p x\""), ["dataRoot", "control characters"]),
        ("unknown preset", "{\"name\": \"bad\", \"preset\": \"tiyn\"}", ["preset", "did you mean 'tiny'"]),
        ("preset in base", spec(base: "\"preset\": \"paper\""), ["base.preset", "top-level 'preset'"]),
        ("unequal zip", spec(top: "\"zip\": [{\"distill.alpha\": [1, 2], \"distill.beta\": [0.1]}]"), ["zipped lists must be equally long"]),
        ("repeated seed", spec(top: "\"seeds\": [0, 1, 0]"), ["repeated seed 0"]),
        ("negative seed", spec(top: "\"seeds\": [-1]"), ["seeds[0]", "non-negative"]),
        ("path swept twice", spec(top: "\"grid\": {\"seed\": [1, 2]}, \"seeds\": [3]"), ["swept by both"]),
        ("zero snapshot interval", spec(base: "\"evaluation\": {\"every\": 0}"), ["bad.json:2", "evaluation.every = 0", "must be ≥ 1"]),
        ("negative snapshot interval", spec(top: "\"grid\": {\"evaluation.every\": [5, -2]}"), ["evaluation.every = -2", "must be ≥ 1"]),
        ("snapshot samples without interval", spec(base: "\"evaluation\": {\"everySamples\": 32}"), ["evaluation.everySamples = 32", "evaluation.every is not"]),
        ("unknown reference set", spec(base: "\"evaluation\": {\"reference\": \"validaton\"}"),
         ["bad.json:2", "evaluation.reference", "\"validaton\"", "must be one of test, validation", "did you mean 'validation'"]),
        ("zero checkpoint interval", spec(top: "\"execution\": {\"checkpointEvery\": 0}"), ["execution.checkpointEvery", "≥ 1"]),
        ("duplicate key", spec(base: "\"teacher\": {\"steps\": 4}, \"teacher\": {\"lr\": -1}"), ["bad.json:2:", "duplicate key 'teacher'"]),
        ("grid of 10^8 trials", spec(top: "\"grid\": {" + ["alpha", "beta", "tauIS", "tauKD", "tauContrast", "perceptualWeight", "lr", "headLR"].map {
            "\"distill.\($0)\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" }.joined(separator: ", ") + "}"),
         ["expands to 100000000 trials", "10 (grid distill.alpha)", "limit of 10000", "--max-trials"]),
    ]

    func testPlanRefusesEveryMalformedSpecWithExit2AndWritesNothing() throws {
        guard let exe = SchedulerTests.executable else { XCTFail("rdd-sweep executable not found next to the test bundle"); return }
        XCTAssertGreaterThanOrEqual(Self.corpus.count, 20)
        let dir = NSTemporaryDirectory() + "rdd-malformed-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var seconds: [Double] = []
        for (i, (what, text, fragments)) in Self.corpus.enumerated() {
            let caseDir = dir + "/\(i)"
            try FileManager.default.createDirectory(atPath: caseDir, withIntermediateDirectories: true)
            try text.write(toFile: caseDir + "/bad.json", atomically: true, encoding: .utf8)
            let root = caseDir + "/root"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["plan", "bad.json", "--root", root]
            p.currentDirectoryURL = URL(fileURLWithPath: caseDir)
            let err = Pipe(), out = Pipe()
            p.standardError = err
            p.standardOutput = out
            let t0 = Date()
            try p.run()
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            _ = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            seconds.append(Date().timeIntervalSince(t0))
            XCTAssertEqual(p.terminationStatus, SweepExitCode.invalidInput.rawValue, "\(what): exit status\n\(message)")
            for f in fragments { XCTAssertTrue(message.contains(f), "\(what): message lacks '\(f)':\n\(message)") }
            XCTAssertTrue(message.contains("bad.json"), "\(what): the message names the file:\n\(message)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: root), "\(what): plan wrote \(root)")
        }
        let sorted = seconds.sorted()
        print(String(format: "malformed specs: %d refused; seconds per refusal median %.3f, max %.3f", seconds.count, sorted[sorted.count / 2], sorted.last!))
        // Each refusal takes a few tens of milliseconds on an idle machine; the bound leaves room for a loaded one.
        XCTAssertLessThan(sorted[sorted.count / 2], 1.0, "median time to refuse")
        XCTAssertLessThan(sorted.last!, 3.0, "slowest refusal (the 10^8 grid is counted, not expanded)")
    }

    /// `--max-trials` raises (or lowers) the limit, and a spec at the limit is accepted.
    func testMaxTrialsLimit() throws {
        let text = Self.spec(top: "\"grid\": {\"distill.alpha\": [1, 2, 3]}, \"seeds\": [0, 1]")
        let spec = try SweepSpec.parse(text, file: "limit.json")
        XCTAssertEqual(spec.trialCount, 6)
        XCTAssertThrowsError(try spec.expand(maxTrials: 5)) { e in XCTAssertTrue("\(e)".contains("expands to 6 trials (3 (grid distill.alpha) × 2 (seeds))"), "\(e)") }
        XCTAssertEqual(try spec.expand(maxTrials: 6).count, 6)
    }

    /// The Slurm script builder refuses names outside the safe alphabet even if one got past the parser.
    func testSlurmScriptRefusesUnsafeNames() {
        let task = SlurmArrayJob.Task(identity: String(repeating: "a", count: 64), name: "distill-rdd-4\n#SBATCH --export=ALL,LD_PRELOAD=/tmp/x.so", threads: 1)
        var job = SlurmArrayJob(sweep: "s@1", jobName: "rdd-s-1", tasks: [task], resources: SlurmResources(), dependencies: [], root: "/r",
                                logDirectory: "/r/slurm/s", workerExecutable: "/bin/rdd-sweep", checkpointEvery: 10, logEvery: 1)
        XCTAssertTrue(job.problems().contains { $0.contains("stage name") }, "\(job.problems())")
        job.tasks[0].name = "distill-cfd+is_p2p-4"
        job.sweep = "s\n#SBATCH -p x"
        XCTAssertEqual(job.problems().count, 1, "\(job.problems())")
        job.sweep = "tiny-ablation@2"
        XCTAssertEqual(job.problems(), [])
    }
}
