import Foundation
import Tensor
import NN
import Models
import Diffusion
import Distill
import Data
import Checkpoint
import RunModel

/// One distillation stage, teacher (T, s) → student (T/2, 2s), with any method (spec §2.5, §4.5, §9):
/// the student starts as a copy of the teacher; each step draws the PD target x̃ (§1.6), predicts
/// x̂_S, passes both through the frozen classifier (x̃ without gradients), evaluates the method's
/// terms and back-propagates the weighted total. The U-Net's Adam follows a cosine schedule to 0 and
/// its gradient is clipped; the projection head has its own Adam at constant lr, unclipped. The
/// student, head, both optimisers, the pixel queue and the RNG are checkpointed; resuming continues
/// at the exact step.
public func runDistillation(_ cfg: DistillStageConfig, teacherPath: String, classifierPath: String?, classifierConfig: DenseNetConfig?,
                            data: ImageDataset, context ctx: StageContext) throws {
    try ctx.prepare()
    let (teacher, student, tgrid, sgrid) = try teacherAndStudent(cfg.unet, teacherPath: teacherPath, teacherSteps: cfg.teacherSteps, stage: "distillation stage")

    let s = cfg.settings
    let objective = DistillObjective(s)
    let terms = objective.terms
    let needsClassifier = terms.contains { $0 != .pd }
    var classifier: DenseNet?
    if needsClassifier {
        guard let path = classifierPath, let ccfg = classifierConfig else {
            throw PipelineError("distillation stage: method '\(cfg.method)' needs a classifier, none was given")
        }
        classifier = try loadClassifier(ccfg, from: path)
    }
    let channels = classifierConfig?.featureChannels ?? 1
    let head = terms.contains(.mP2P) ? ProjectionHead(channels: channels, seed: cfg.seed &+ 31) : nil
    head?.train(true)
    var queue = terms.contains(.mP2P)
        ? PixelQueue(s.queue, channels: channels, seed: cfg.seed &+ 32) : nil

    let adam = Adam(student.namedTrainableParameters(), lr: s.lr)
    let headAdam = head.map { Adam($0.namedTrainableParameters(), lr: s.headLR) }
    var rng = RNG(seed: cfg.seed &+ 33)
    var batches = try BatchIterator(dataset: data, batchSize: s.batchSize, seed: cfg.seed &+ 34, randomFlip: data.flipAugmentation)
    var start = 0
    /// How many times the pixel queue's write pointer wrapped to its start (issue 20 §5: a queue never refilled
    /// cannot make N_q matter), cumulative over the stage, logged as `queue/refills`. Kept in the checkpoint
    /// (`stats/queue_refills`, no input of any computation) so a resumed stage continues the count.
    var refills = 0
    if FileManager.default.fileExists(atPath: ctx.checkpointPath) {
        let (snap, ck) = try TrainingState.restore(path: ctx.checkpointPath, model: student, ema: nil, adam: adam, rngNames: ["main"])
        start = snap.step
        rng = snap.rngs["main"]!
        batches = try BatchIterator(dataset: data, batchSize: s.batchSize, seed: cfg.seed &+ 34, randomFlip: data.flipAugmentation, start: snap.batchPosition)
        if let head, let headAdam {
            try head.loadState(from: ck, prefix: "head/", strict: false)
            for (n, t) in headAdam.namedState() {
                let v = try ck.array("optimizer/head_adam/" + n, dtype: .float32, shape: t.shape)
                v.float32Values!.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
            }
            headAdam.restore(step: Int(try ck.array("optimizer/head_adam/step").int64Values![0]))
        }
        if let v = ck.arrays["stats/queue_refills"]?.int64Values?.first { refills = Int(v) }
        if queue != nil {
            var st: [String: (shape: [Int], values: [Float])] = [:]
            for k in PixelQueue.stateKeys { let v = try ck.array("queue/" + k, dtype: .float32); st[k] = (v.shape, v.float32Values!) }
            queue = try PixelQueue(state: st)
        }
    }
    let journal = try Journal(path: ctx.journalPath, resumeFrom: start > 0 ? start - 1 : nil)
    var unused = RNG(seed: 0)
    let teacherFn: Denoiser = { z, k, y in teacher(z, timesteps: k, labels: y, rng: &unused) }
    let json = canonicalJSON(cfg)
    func save(_ path: String, _ step: Int) throws {
        var extra: [String: ArrayValue] = [:]
        if let head, let headAdam {
            for (k, v) in head.stateArrays(prefix: "head/") { extra[k] = v }
            for (n, t) in headAdam.namedState() { extra["optimizer/head_adam/" + n] = ArrayValue(shape: t.shape, t.array) }
            extra["optimizer/head_adam/step"] = .scalar(Int64(headAdam.step))
        }
        if let queue {
            for (k, v) in queue.state() { extra["queue/" + k] = ArrayValue(shape: v.shape, v.values) }
            extra["stats/queue_refills"] = .scalar(Int64(refills))
        }
        try TrainingState.save(path: path, model: student, grid: sgrid, ema: nil, adam: adam,
                               snapshot: TrainingSnapshot(step: step, rngs: ["main": rng], batchPosition: batches.position),
                               configJSON: json, extraArrays: extra, extraAttributes: ["method": .string(cfg.method.rawValue)])
    }
    /// A learning curve's snapshot (`cfg.snapshotEvery`): the student's weights after `step` updates. Writing it
    /// reads the weights only, so the stage's numbers are those of a stage without snapshots.
    func snapshot(_ step: Int) throws {
        guard cfg.snapshotEvery != nil else { return }
        let path = distillSnapshotPath(stageDirectory: ctx.directory, step: step)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try TrainingState.save(path: path, model: student, grid: sgrid, ema: nil, adam: nil,
                               snapshot: TrainingSnapshot(step: step, rngs: [:], batchPosition: nil), configJSON: json)
    }
    if start == 0 { try snapshot(0) }
    let clock = ContinuousClock()
    let diagnostics = TermDiagnostics(s)
    try runTrainingLoop(totalSteps: cfg.steps, startStep: start, context: ctx, journal: journal, save: { try save(ctx.checkpointPath, $0) }) { step in
        let t0 = clock.now
        let b = batches.nextBatch()
        let labels = cfg.conditional ? b.labels : nil
        adam.lr = LRSchedule.cosine(total: cfg.steps).lr(base: s.lr, step: step)
        let target = pdTarget(teacher: teacherFn, grid: tgrid, x: tensor(b), labels: labels, rng: &rng)
        let xs = student(target.z, timesteps: target.i0, labels: labels, rng: &unused)
        var inputs = DistillInputs(studentImage: xs, teacherImage: target.xTilde, gridIndices: target.i0)
        if let classifier {
            let tOut = Autograd.noGrad { classifier(target.xTilde) }
            let sOut = classifier(xs)
            inputs = DistillInputs(teacher: tOut, student: sOut, studentImage: xs, teacherImage: target.xTilde, gridIndices: target.i0)
        }
        let values: DistillLossValues
        let pointerBefore = queue?.pointer
        // The loss's own working set (issue 20 §5; Fig. 6 showed the process peak, which the teacher and data set):
        // at logged steps, the rise of the peak resident set while the terms are evaluated (IS_P2P computes its
        // gradient there), after freeing cached heap memory and resetting the peak (`resetPeakResident`).
        let logged = step % ctx.logEvery == 0 || step == cfg.steps - 1
        let residentBefore = logged ? resetPeakResident() : nil
        do { values = try objective.evaluate(inputs, head: head, queue: queue) }
        catch { throw PipelineError("distillation stage '\(cfg.method)' \(cfg.teacherSteps)→\(cfg.teacherSteps / 2), step \(step): \(error)") }
        let lossPeak = residentBefore.flatMap { b0 in peakResidentKB().map { max(0, $0 - b0) * 1024 } }
        var metrics: [(String, Double)] = values.terms.map { ($0.term.rawValue, Double($0.value.item)) }
        if let lossPeak { metrics.append((SeriesName.lossPeakBytes, Double(lossPeak))) }
        // M_P2P pushes once per step, and a push that does not wrap moves the pointer forward (K ≥ 1 rows).
        if let before = pointerBefore, let after = queue?.pointer {
            if after <= before { refills += 1 }
            metrics.append((SeriesName.queueRefills, Double(refills)))
        }
        let params = adam.params.map(\.1)
        let pending = diagnostics.due(step) ? diagnostics.begin(values: values, studentImage: xs, parameters: params) : nil
        adam.zeroGrad()
        headAdam?.zeroGrad()
        values.total.backward()
        if let pending { metrics += diagnostics.finish(pending, studentImage: xs, parameters: params, inputs: inputs) }
        let norm = clipGradNorm(adam.params.map(\.1), maxNorm: s.gradClip)
        adam.update()
        headAdam?.update()
        if let k = cfg.snapshotEvery, (step + 1) % k == 0, step + 1 < cfg.steps { try snapshot(step + 1) }
        metrics += [(SeriesName.total, Double(values.total.item)), (SeriesName.lr, Double(adam.lr)), (SeriesName.gradNorm, Double(norm)),
                    (SeriesName.secondsPerStep, (clock.now - t0) / .seconds(1))]
        return metrics
    }
    try save(ctx.finalPath, cfg.steps)
}
