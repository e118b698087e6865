import Foundation
import Tensor
import Models
import Diffusion
import Data

/// The teacher → PD chain of a preset (spec §2.3–2.4) in one directory: `teacher/`, `pd512/`, …,
/// `pd8/`. Each stage resumes from its own checkpoint, and a finished stage (its `final.h5` exists)
/// is skipped, so rerunning after an interruption continues where it stopped.
public func runTeacherAndPDChain(_ p: Preset, root: String, seed: UInt64 = 0, downTo finalSteps: Int = 8,
                                 log: (String) -> Void = { print($0) }) throws -> [(stage: String, seconds: Double)] {
    let data = try p.trainingData()
    var times: [(String, Double)] = []
    let clock = ContinuousClock()
    func stage(_ name: String, _ body: (StageContext) throws -> Void) throws {
        let ctx = StageContext(directory: root + "/" + name, checkpointEvery: 100, logEvery: 10)
        if FileManager.default.fileExists(atPath: ctx.finalPath) { log("\(name): done earlier, reused"); return }
        let t0 = clock.now
        try body(ctx)
        let dt = (clock.now - t0) / .seconds(1)
        times.append((name, dt))
        log(String(format: "%@: %.1f s", name, dt))
    }
    try stage("teacher") { ctx in
        try trainTeacher(TeacherConfig(unet: p.unet, steps: p.teacherSteps, batchSize: p.teacherBatch, lr: p.teacherLR,
                                       warmup: p.teacherWarmup, emaDecay: p.emaDecay, seed: seed), data: data, context: ctx)
    }
    var teacherPath = root + "/teacher/final.h5", t = 1024
    while t > finalSteps {
        let name = "pd\(t / 2)"
        let tp = teacherPath, tt = t
        try stage(name) { ctx in
            try runProgressiveDistillation(PDConfig(unet: p.unet, teacherSteps: tt, steps: p.pdStepsPerHalving, batchSize: p.pdBatch,
                                                    lr: p.pdLR, seed: seed), teacherPath: tp, data: data, context: ctx)
        }
        teacherPath = root + "/" + name + "/final.h5"
        t /= 2
    }
    return times
}
