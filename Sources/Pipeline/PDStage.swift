import Foundation
import Tensor
import NN
import Models
import Diffusion
import Data
import Checkpoint
import RunModel


/// Loads a U-Net from a stage's `final.h5`: the EMA weights for the base model (time_scale 1, spec
/// §2.3 "the teacher is loaded from the EMA weights"), the raw weights for distilled students.
public func loadUNet(_ cfg: UNetConfig, from path: String) throws -> (UNet, StepGrid) {
    let ck = try Checkpoint.load(from: path)
    let grid = try StepGrid(steps: Int(try ck.int("T")), timeScale: Int(try ck.int("time_scale")))
    let net = UNet(cfg, seed: 0)
    if grid.timeScale == 1 && ck.arrays.keys.contains(where: { $0.hasPrefix("ema/") }) {
        var remapped = Checkpoint()
        for (k, v) in ck.arrays where k.hasPrefix("ema/") { remapped.arrays["params/" + k.dropFirst(4)] = v }
        try net.loadState(from: remapped, strict: false)
    } else {
        try net.loadState(from: ck, strict: false)
    }
    return (net, grid)
}

/// One PD halving: the student starts as a copy of the teacher; Adam with cosine decay to 0, gradient
/// clipping, no EMA, dropout 0; target x̃ from two teacher DDIM steps; loss ω_{i0}·MSE(x̂_S, x̃)
/// (spec §1.6, §2.4). Writes `final.h5` with T = teacher T/2 and time_scale doubled.
public func runProgressiveDistillation(_ cfg: PDStageConfig, teacherPath: String, data: ImageDataset, context ctx: StageContext) throws {
    try ctx.prepare()
    let (teacher, student, tgrid, sgrid) = try teacherAndStudent(cfg.unet, teacherPath: teacherPath, teacherSteps: cfg.teacherSteps, stage: "PD stage")
    let adam = Adam(student.namedTrainableParameters(), lr: cfg.settings.lr)
    var rng = RNG(seed: cfg.seed &+ 11)
    var batches = try BatchIterator(dataset: data, batchSize: cfg.settings.batchSize, seed: cfg.seed &+ 13, randomFlip: data.flipAugmentation)
    var start = 0
    if FileManager.default.fileExists(atPath: ctx.checkpointPath) {
        let (snap, _) = try TrainingState.restore(path: ctx.checkpointPath, model: student, ema: nil, adam: adam, rngNames: ["main"])
        start = snap.step
        rng = snap.rngs["main"]!
        batches = try BatchIterator(dataset: data, batchSize: cfg.settings.batchSize, seed: cfg.seed &+ 13, randomFlip: data.flipAugmentation, start: snap.batchPosition)
    }
    let journal = try Journal(path: ctx.journalPath, resumeFrom: start > 0 ? start - 1 : nil)
    var unused = RNG(seed: 0)   // dropout is 0 in distillation
    let teacherFn: Denoiser = { z, k, y in teacher(z, timesteps: k, labels: y, rng: &unused) }
    let json = canonicalJSON(cfg)
    func save(_ path: String, _ step: Int) throws {
        try TrainingState.save(path: path, model: student, grid: sgrid, ema: nil, adam: adam,
                               snapshot: TrainingSnapshot(step: step, rngs: ["main": rng], batchPosition: batches.position), configJSON: json)
    }
    let clock = ContinuousClock()
    try runTrainingLoop(totalSteps: cfg.settings.stepsPerHalving, startStep: start, context: ctx, journal: journal, save: { try save(ctx.checkpointPath, $0) }) { step in
        let t0 = clock.now
        let b = batches.nextBatch()
        let labels = cfg.conditional ? b.labels : nil
        adam.lr = LRSchedule.cosine(total: cfg.settings.stepsPerHalving).lr(base: cfg.settings.lr, step: step)
        let target = pdTarget(teacher: teacherFn, grid: tgrid, x: tensor(b), labels: labels, rng: &rng)
        let xs = student(target.z, timesteps: target.i0, labels: labels, rng: &unused)
        let loss = truncatedSNRLoss(xhat: xs, target: target.xTilde, at: target.i0)
        adam.zeroGrad()
        loss.backward()
        let norm = clipGradNorm(adam.params.map(\.1), maxNorm: cfg.settings.gradClip)
        adam.update()
        return [(SeriesName.loss, Double(loss.item)), (SeriesName.lr, Double(adam.lr)), (SeriesName.gradNorm, Double(norm)),
                (SeriesName.secondsPerStep, (clock.now - t0) / .seconds(1))]
    }
    try save(ctx.finalPath, cfg.settings.stepsPerHalving)
}

/// The start of every halving stage (spec §2.4, §2.5): the frozen teacher (T, s) from `teacherPath`
/// (checked against the configuration's T) and a student initialised as its copy, in training mode,
/// with dropout 0 as in every distillation configuration; the student's grid is (T/2, 2s).
func teacherAndStudent(_ cfg: UNetConfig, teacherPath: String, teacherSteps: Int, stage: String) throws -> (UNet, UNet, StepGrid, StepGrid) {
    var ucfg = cfg
    ucfg.dropout = 0
    let (teacher, tgrid) = try loadUNet(ucfg, from: teacherPath)
    guard tgrid.steps == teacherSteps else {
        throw PipelineError("\(stage): teacher '\(teacherPath)' has T = \(tgrid.steps), the configuration says teacherSteps = \(teacherSteps)")
    }
    let sgrid = try tgrid.student()
    teacher.train(false)
    teacher.setRequiresGrad(false)
    let student = UNet(ucfg, seed: 0)
    student.copyState(from: teacher)
    student.train(true)
    return (teacher, student, tgrid, sgrid)
}
