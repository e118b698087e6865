import XCTest
import Foundation
import Tensor
import Models
import Checkpoint
@testable import Pipeline
import RunModel

/// An evaluation's sampling survives interruption (`sampleEvaluationImages` with a context): the samples of
/// an interrupted and resumed run equal an uninterrupted run's bit for bit.
final class EvalResumeTests: XCTestCase {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "rdd-evalresume-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// An untrained tiny U-Net (T = 4, so DDIM takes 4 network passes) and a configuration of `batches` batches.
    func setUp(_ dir: String, conditional: Bool = false) throws -> (String, EvalStageConfig) {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        if conditional { c.unet.numClasses = 10 }
        let path = dir + "/model.h5"
        try Checkpoint(arrays: UNet(c.unet, seed: 0).stateArrays(), attributes: ["T": .int(4), "time_scale": .int(256)]).save(to: path)
        let cfg = EvalStageConfig(dataset: "digits", dataRoot: nil, imageSize: 8, conditional: conditional, unet: c.unet, sampler: .ddim, steps: 4,
                                  samples: 10, metrics: [.fidClassifier], batchSize: 3, seed: 5, label: "untrained")
        return (path, cfg)
    }

    func bits(_ t: Tensor) -> [UInt32] { t.array.map(\.bitPattern) }

    func testInterruptedSamplingResumesBitIdentically() throws {
        for conditional in [false, true] {
            let dir = tempDir()
            let (model, cfg) = try setUp(dir, conditional: conditional)
            let full = try sampleEvaluationImages(cfg, modelPath: model)
            let partial = dir + "/" + EvalSamplingCheckpoint.fileName
            var ctx = StageContext(directory: dir)
            ctx.stopAfterSteps = 2   // batches
            XCTAssertThrowsError(try sampleEvaluationImages(cfg, modelPath: model, context: ctx)) { XCTAssertTrue($0 is StageInterrupted, "\($0)") }
            let saved = try Checkpoint.load(from: partial)
            XCTAssertEqual(try saved.int("done"), 6)
            XCTAssertEqual(try saved.array("samples").shape, [6, 8, 8, 1])
            ctx.stopAfterSteps = nil
            final class Seen: @unchecked Sendable { var steps: [Int] = [] }
            let seen = Seen()
            ctx.progress = { step, total, _ in XCTAssertEqual(total, 10); seen.steps.append(step) }
            let resumed = try sampleEvaluationImages(cfg, modelPath: model, context: ctx)
            XCTAssertEqual(bits(resumed.samples), bits(full.samples), "conditional \(conditional): resumed samples differ")
            XCTAssertEqual(resumed.nfe, full.nfe)
            XCTAssertEqual(seen.steps, [9], "progress after each batch but the last, counted in images")
            XCTAssertFalse(FileManager.default.fileExists(atPath: partial), "the partial file is removed when sampling completes")
            XCTAssertGreaterThan(resumed.seconds, 0)
        }
    }

    func testSavesOnlyAfterTheInterval() throws {
        let dir = tempDir()
        let (model, cfg) = try setUp(dir)
        let partial = dir + "/" + EvalSamplingCheckpoint.fileName
        var ctx = StageContext(directory: dir)
        ctx.progress = { _, _, _ in XCTAssertFalse(FileManager.default.fileExists(atPath: partial), "sampling shorter than the interval writes no file") }
        _ = try sampleEvaluationImages(cfg, modelPath: model, context: ctx)
        let before = EvalSamplingCheckpoint.interval
        EvalSamplingCheckpoint.interval = 0
        defer { EvalSamplingCheckpoint.interval = before }
        final class Seen: @unchecked Sendable { var done: [Int64] = [] }
        let seen = Seen()
        ctx.progress = { _, _, _ in if let ck = try? Checkpoint.load(from: partial) { seen.done.append((try? ck.int("done")) ?? -1) } }
        _ = try sampleEvaluationImages(cfg, modelPath: model, context: ctx)
        XCTAssertEqual(seen.done, [3, 6], "each progress report sees the save of the batch before it")
    }

    func testPartialSamplesOfAnotherConfigurationAreRefused() throws {
        let dir = tempDir()
        let (model, cfg) = try setUp(dir)
        var ctx = StageContext(directory: dir)
        ctx.stopAfterSteps = 1
        XCTAssertThrowsError(try sampleEvaluationImages(cfg, modelPath: model, context: ctx))
        var other = cfg
        other.seed = 6
        ctx.stopAfterSteps = nil
        XCTAssertThrowsError(try sampleEvaluationImages(other, modelPath: model, context: ctx)) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains(EvalSamplingCheckpoint.fileName) && m.contains("field 'fingerprint'") && m.contains("seed 5") && m.contains("seed 6"), m)
        }
    }
}
