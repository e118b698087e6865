import XCTest
import Foundation
import Tensor
import Models
import Distill
import Checkpoint
import Pipeline
import RunModel

/// End to end at a toy size: every distillation method runs 8 → 4 → 2 → 1 on a shared classifier,
/// teacher and PD chain; a distillation stage resumes bit-identically (student, head, queue).
final class TrialTests: XCTestCase {
    static func toy(method: String = "rdd") throws -> ExperimentConfig {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        c.teacher.steps = 6
        c.teacher.batchSize = 8
        c.pd.stepsPerHalving = 1
        c.pd.batchSize = 4
        c.classifier.epochs = 1
        c.classifier.batchSize = 128
        c.distill.method = try DistillMethod(parsing: method)
        c.distill.steps = [2]
        c.distill.batchSize = 4
        c.distill.diagnosticsEvery = 1
        c.evaluation.samples = 16
        c.evaluation.batchSize = 16
        return c
    }

    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-trial-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func testEveryMethodRunsEightToOne() throws {
        let root = tempDir("methods")
        var lines: [String] = []
        for m in DistillMethod.allCases.map(\.rawValue) {
            let c = try Self.toy(method: m)
            try runTrialInProcess(c, root: root) { lines.append($0) }
            for s in [4, 2, 1] {
                let ck = try Checkpoint.load(from: root + "/distill-\(m)-\(s)/final.h5")
                XCTAssertEqual(try ck.int("T"), Int64(s), "\(m) student at \(s) steps")
                let j = Journal.read(path: root + "/distill-\(m)-\(s)/journal.jsonl")
                for t in try DistillMethod(parsing: m).terms { XCTAssertTrue(j.contains { $0.name == t.rawValue }, "\(m): term \(t.rawValue) logged") }
                XCTAssertTrue(j.contains { $0.name == "diag/\(try! DistillMethod(parsing: m).terms[0].rawValue)/share" }, "\(m): diagnostics logged")
            }
            let r = try JSONDecoder().decode(EvaluationResult.self, from: Data(contentsOf: URL(fileURLWithPath: root + "/eval-\(m)-1/result.json")))
            XCTAssertEqual(Set(r.metrics.map(\.name)), ["fid_classifier", "classifier_score", "classifier_score_std", "kid_classifier"])
            XCTAssertTrue(r.metrics.allSatisfy { $0.value.isFinite })
        }
        // The classifier, teacher and PD chain ran once and were reused by the other seven methods.
        XCTAssertEqual(lines.filter { $0.hasPrefix("teacher:") && !$0.contains("done earlier") }.count, 1)
        XCTAssertEqual(lines.filter { $0.hasPrefix("teacher: done earlier") }.count, DistillMethod.allCases.count - 1)
    }

    func testDistillationResumeEqualsUninterrupted() throws {
        var c = try Self.toy(method: "rdd")
        c.distill.steps = [4]
        c.distill.to = 4
        c.evaluation.studentSteps = [4]
        let root = tempDir("resume")
        try runTrialInProcess(c, root: root)                 // shared chain + an uninterrupted 8 → 4 stage
        let node = StagePlan.plan(c).first { $0.kind == .distill }!
        let req = StageRequest(kind: .distill, config: node.config, inputs: ["teacher": root + "/pd8/final.h5", "classifier": root + "/classifier/final.h5"],
                               classifierNetwork: c.classifier.network, directory: root + "/again")
        var ctx = StageContext(directory: root + "/again", checkpointEvery: 2, logEvery: 1)
        ctx.stopAfterSteps = 2
        XCTAssertThrowsError(try runStage(req, context: ctx))
        ctx.stopAfterSteps = nil
        try runStage(req, context: ctx)
        let a = try Checkpoint.load(from: root + "/distill-rdd-4/final.h5"), b = try Checkpoint.load(from: root + "/again/final.h5")
        XCTAssertEqual(a.arrays.keys.sorted(), b.arrays.keys.sorted())
        XCTAssertTrue(a.arrays.keys.contains { $0.hasPrefix("queue/") } && a.arrays.keys.contains { $0.hasPrefix("head/") })
        for (k, v) in a.arrays { XCTAssertEqual(v, b.arrays[k], "\(k) differs after resume") }
    }

    func testDiagnosticsDoNotChangeTraining() throws {
        var c = try Self.toy(method: "rdd")
        c.distill.steps = [3]
        c.distill.to = 4
        c.evaluation.studentSteps = [4]
        let root = tempDir("diag")
        try runTrialInProcess(c, root: root)                 // diagnostics every step
        var off = c
        off.distill.diagnosticsEvery = 0
        let node = StagePlan.plan(off).first { $0.kind == .distill }!
        try runStage(StageRequest(kind: .distill, config: node.config, inputs: ["teacher": root + "/pd8/final.h5", "classifier": root + "/classifier/final.h5"],
                                  classifierNetwork: c.classifier.network, directory: root + "/nodiag"))
        let a = try Checkpoint.load(from: root + "/distill-rdd-4/final.h5"), b = try Checkpoint.load(from: root + "/nodiag/final.h5")
        for (k, v) in a.arrays where k.hasPrefix("params/") || k.hasPrefix("head/") { XCTAssertEqual(v, b.arrays[k], "\(k): diagnostics changed training") }
        let j = Journal.read(path: root + "/distill-rdd-4/journal.jsonl")
        let shares = ["cfd", "is_p2p", "m_p2p"].map { t in j.filter { $0.name == "diag/\(t)/share" && $0.step == 0 }.first!.value }
        XCTAssertEqual(shares.reduce(0, +), 1, accuracy: 1e-9, "shares sum to 1")
        XCTAssertFalse(Journal.read(path: root + "/nodiag/journal.jsonl").contains { $0.name.hasPrefix("diag/") })
    }

    func testInvalidConfigurationNamesPathAndValue() throws {
        var c = try Self.toy()
        c.distill.queue.contrastSize = c.distill.queue.size + 1
        c.distill.tauIS = 0
        c.distill.from = 16
        let errs = c.validationErrors()
        XCTAssertTrue(errs.contains { $0.hasPrefix("distill.queue.contrastSize = \(c.distill.queue.size + 1)") }, "\(errs)")
        XCTAssertTrue(errs.contains { $0.hasPrefix("distill.tauIS = 0.0") }, "\(errs)")
        XCTAssertTrue(errs.contains { $0.hasPrefix("distill.from = 16") && $0.contains("halve") }, "\(errs)")
        XCTAssertThrowsError(try runTrialInProcess(c, root: tempDir("bad")))
    }
}
