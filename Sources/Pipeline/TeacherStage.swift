import Foundation
import Tensor
import NN
import Models
import Diffusion
import Data
import Checkpoint
import RunModel


/// Trains the base model: Adam with linear warm-up (the first update uses lr 0), no decay, gradient
/// clipping, EMA of all weights, dropout from the U-Net config; k ~ U{0..1024} and the truncated-SNR
/// loss (spec §1.5, §2.3). Resumes from `checkpoint.h5`; writes `final.h5` with `params/` (raw) and
/// `ema/` (the weights later stages use as the teacher).
public func trainTeacher(_ cfg: TeacherStageConfig, data: ImageDataset, context ctx: StageContext) throws {
    try ctx.prepare()
    let net = UNet(cfg.unet, seed: cfg.seed)
    net.train(true)
    let adam = Adam(net.namedTrainableParameters(), lr: cfg.settings.lr)
    let ema = EMA(net.namedParameters(), decay: cfg.settings.emaDecay)
    var rng = RNG(seed: cfg.seed &+ 1)
    let dropRNG = RNGBox(RNG(seed: cfg.seed &+ 2))
    var batches = try BatchIterator(dataset: data, batchSize: cfg.settings.batchSize, seed: cfg.seed &+ 3, randomFlip: data.flipAugmentation)
    var start = 0
    if FileManager.default.fileExists(atPath: ctx.checkpointPath) {
        let (snap, _) = try TrainingState.restore(path: ctx.checkpointPath, model: net, ema: ema, adam: adam, rngNames: ["main", "dropout"])
        start = snap.step
        rng = snap.rngs["main"]!
        dropRNG.rng = snap.rngs["dropout"]!
        batches = try BatchIterator(dataset: data, batchSize: cfg.settings.batchSize, seed: cfg.seed &+ 3, randomFlip: data.flipAugmentation, start: snap.batchPosition)
    }
    let journal = try Journal(path: ctx.journalPath, resumeFrom: start > 0 ? start - 1 : nil)
    let model: Denoiser = { z, k, y in net(z, timesteps: k, labels: y, rng: &dropRNG.rng) }
    let json = canonicalJSON(cfg)
    func save(_ path: String, _ step: Int) throws {
        try TrainingState.save(path: path, model: net, grid: .base, ema: ema, adam: adam,
                               snapshot: TrainingSnapshot(step: step, rngs: ["main": rng, "dropout": dropRNG.rng], batchPosition: batches.position),
                               configJSON: json)
    }
    let clock = ContinuousClock()
    try runTrainingLoop(totalSteps: cfg.settings.steps, startStep: start, context: ctx, journal: journal, save: { try save(ctx.checkpointPath, $0) }) { step in
        let t0 = clock.now
        let b = batches.nextBatch()
        adam.lr = LRSchedule.linearWarmup(steps: cfg.settings.warmup).lr(base: cfg.settings.lr, step: step)
        let loss = baseTrainingLoss(model: model, x: tensor(b), labels: cfg.conditional ? b.labels : nil, rng: &rng)
        adam.zeroGrad()
        loss.backward()
        let norm = clipGradNorm(adam.params.map(\.1), maxNorm: cfg.settings.gradClip)
        adam.update()
        ema.update()
        let dt = (clock.now - t0) / .seconds(1)
        return [(SeriesName.loss, Double(loss.item)), (SeriesName.lr, Double(adam.lr)), (SeriesName.gradNorm, Double(norm)), (SeriesName.secondsPerStep, dt)]
    }
    try save(ctx.finalPath, cfg.settings.steps)
}
