import XCTest
import Foundation
import Tensor
import Models
import Diffusion
import Data
import Checkpoint
import Pipeline
import RunModel

/// The base training loop and one PD halving on digits at a very small size: the loss falls, and a
/// run interrupted at a checkpoint and resumed ends bit-identical to an uninterrupted one.
final class TeacherPDTests: XCTestCase {
    static let unet = UNetConfig(imageSize: 8, inChannels: 1, ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1, dropout: 0.1)

    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-test-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func digits() throws -> ImageDataset { try ImageDataset.digits(.train).first(256) }

    /// A teacher stage of the tiny U-Net on digits (the stage's own settings type; clipping at 1 as the presets).
    func teacherConfig(steps: Int, batchSize: Int, lr: Float = 2e-4, warmup: Int, emaDecay: Float = 0.9999, seed: UInt64) -> TeacherStageConfig {
        TeacherStageConfig(dataset: "digits", dataRoot: nil, imageSize: 8, conditional: false, unet: Self.unet,
                           settings: TeacherSettings(steps: steps, batchSize: batchSize, lr: lr, warmup: warmup, emaDecay: emaDecay, gradClip: 1), seed: seed)
    }

    /// One PD halving T → T/2 of the tiny U-Net (lr 5e-5, clipping at 1).
    func pdConfig(teacherSteps: Int, steps: Int, batchSize: Int, seed: UInt64) -> PDStageConfig {
        PDStageConfig(dataset: "digits", dataRoot: nil, imageSize: 8, conditional: false, unet: Self.unet,
                      settings: PDSettings(stepsPerHalving: steps, batchSize: batchSize, lr: 5e-5, gradClip: 1, downTo: teacherSteps / 2),
                      teacherSteps: teacherSteps, seed: seed)
    }

    func testTeacherResumeEqualsUninterrupted() throws {
        let cfg = teacherConfig(steps: 6, batchSize: 8, warmup: 2, seed: 5)
        let data = try digits()
        let a = tempDir("a"), b = tempDir("b")
        try trainTeacher(cfg, data: data, context: StageContext(directory: a, checkpointEvery: 3, logEvery: 1))
        var ctx = StageContext(directory: b, checkpointEvery: 3, logEvery: 1)
        ctx.stopAfterSteps = 3
        XCTAssertThrowsError(try trainTeacher(cfg, data: data, context: ctx))
        XCTAssertFalse(FileManager.default.fileExists(atPath: ctx.finalPath))
        ctx.stopAfterSteps = nil
        try trainTeacher(cfg, data: data, context: ctx)
        let fa = try Checkpoint.load(from: a + "/final.h5"), fb = try Checkpoint.load(from: b + "/final.h5")
        XCTAssertEqual(fa.arrays.keys.sorted(), fb.arrays.keys.sorted())
        for (k, v) in fa.arrays { XCTAssertEqual(v, fb.arrays[k], "\(k) differs after resume") }
        let numeric = { (p: String) in Journal.read(path: p).filter { SeriesName.isComputed($0.name) } }   // wall time differs
        XCTAssertEqual(numeric(a + "/journal.jsonl"), numeric(b + "/journal.jsonl"), "no duplicate or missing journal rows")
        XCTAssertEqual(Journal.read(path: b + "/journal.jsonl").filter { $0.name == "loss" }.map(\.step), [0, 1, 2, 3, 4, 5])
    }

    func testTeacherLossFallsAndPDHalves() throws {
        let data = try digits()
        let dir = tempDir("chain")
        let cfg = teacherConfig(steps: 60, batchSize: 16, lr: 2e-3, warmup: 5, emaDecay: 0.9, seed: 1)
        try trainTeacher(cfg, data: data, context: StageContext(directory: dir + "/teacher", checkpointEvery: 1000, logEvery: 1))
        let losses = Journal.read(path: dir + "/teacher/journal.jsonl").filter { $0.name == "loss" }.map(\.value)
        let first = losses.prefix(10).reduce(0, +) / 10, last = losses.suffix(10).reduce(0, +) / 10
        XCTAssertLessThan(last, 0.7 * first, "teacher loss falls: first 10 mean \(first), last 10 mean \(last)")
        // One PD halving from a 1024-step teacher; the student file carries T = 512, time_scale = 2.
        let pd = pdConfig(teacherSteps: 1024, steps: 3, batchSize: 8, seed: 2)
        try runProgressiveDistillation(pd, teacherPath: dir + "/teacher/final.h5", data: data, context: StageContext(directory: dir + "/pd512", checkpointEvery: 10))
        let ck = try Checkpoint.load(from: dir + "/pd512/final.h5")
        XCTAssertEqual(try ck.int("T"), 512)
        XCTAssertEqual(try ck.int("time_scale"), 2)
        XCTAssertThrowsError(try runProgressiveDistillation(pdConfig(teacherSteps: 8, steps: 1, batchSize: 8, seed: 0),
                                                            teacherPath: dir + "/teacher/final.h5", data: data,
                                                            context: StageContext(directory: dir + "/bad"))) { e in
            XCTAssertTrue("\(e)".contains("T = 1024"), "\(e)")
        }
    }
}
