import Foundation
import Tensor
import NN
import Models
import Data
import Checkpoint
import RunModel

/// Cross-entropy of logits (B, K) against integer labels: −(1/B) Σ_b log softmax(logits_b)[y_b].
public func crossEntropy(_ logits: Tensor, labels: [Int]) -> Tensor {
    let (b, k) = (logits.shape[0], logits.shape[1])
    var onehot = [Float](repeating: 0, count: b * k)
    for (i, y) in labels.enumerated() { onehot[i * k + y] = -1 / Float(b) }
    return (logits.logSoftmax(axis: -1) * Tensor(onehot, shape: [b, k])).sum()
}

/// Random crop after padding by `pad` pixels (value −1, the background of [−1,1] images) and an
/// optional horizontal flip, per image, NHWC (spec §3.3's RandomCrop(32, 4) + flip, scaled).
func augment(_ b: Batch, pad: Int, flip: Bool, rng: inout RNG) -> Tensor {
    let (n, h, w, c) = (b.count, b.height, b.width, b.channels)
    var out = [Float](repeating: -1, count: b.images.count)
    for i in 0..<n {
        let dy = pad > 0 ? rng.int(below: 2 * pad + 1) - pad : 0
        let dx = pad > 0 ? rng.int(below: 2 * pad + 1) - pad : 0
        let mirror = flip && rng.uniform() < 0.5
        for y in 0..<h {
            let sy = y + dy
            if sy < 0 || sy >= h { continue }
            for x in 0..<w {
                var sx = x + dx
                if sx < 0 || sx >= w { continue }
                if mirror { sx = w - 1 - sx }
                for ch in 0..<c { out[((i * h + y) * w + x) * c + ch] = b.images[((i * h + sy) * w + sx) * c + ch] }
            }
        }
    }
    return Tensor(out, shape: [n, h, w, c])
}

/// Top-1 accuracy of a classifier on a dataset (evaluation mode, batches of `batch`).
public func classifierAccuracy(_ net: some FeatureClassifier, on data: ImageDataset, batch: Int = 256) -> Double {
    net.train(false)
    var correct = 0
    var start = 0
    while start < data.count {
        let n = min(batch, data.count - start)
        let x = Tensor(Array(data.images[(start * data.imageSize)..<((start + n) * data.imageSize)]), shape: [n, data.height, data.width, data.channels])
        let logits = Autograd.noGrad { net(x).logits }
        let k = logits.shape[1]
        for i in 0..<n {
            var best = 0
            for j in 1..<k where logits.data[i * k + j] > logits.data[i * k + best] { best = j }
            if best == data.labels[start + i] { correct += 1 }
        }
        start += n
    }
    return Double(correct) / Double(max(data.count, 1))
}

/// The supervised recipe shared by the distillation classifier and the independent evaluator (spec §3.3,
/// scaled): SGD with momentum and weight decay, lr ÷10 at the milestones, random crops (+ flips where the
/// dataset uses them), cross-entropy.
struct SupervisedRecipe {
    var epochs: Int, batchSize: Int, lr: Float, momentum: Float, weightDecay: Float, milestones: [Double], cropPadding: Int
    /// Which weights become `final.h5`.
    enum Keep {
        /// The epoch with the best test accuracy (the distillation classifier, as the official code does).
        case bestTestAccuracy
        /// The last epoch's (the evaluator: the test split stays the FID reference and never selects weights).
        case lastEpoch
    }
    var keep: Keep
}

/// Pre-trains the DenseNet-BC feature extractor (spec §3.3, scaled), on the whole training split or, when
/// `trainingPart` is set, on its half (docs/metrics.md, "independent evaluator"); evaluates test accuracy
/// after every epoch and keeps the best epoch's weights (`best.h5`, copied to `final.h5` with attribute
/// `test_accuracy`).
public func trainClassifier(_ cfg: ClassifierStageConfig, train: ImageDataset, test: ImageDataset, context ctx: StageContext) throws {
    let s = cfg.settings
    let data = try cfg.trainingPart.map { try $0.select(train) } ?? train
    try trainSupervised(DenseNet(s.network, seed: cfg.seed &+ 21), seed: cfg.seed,
                        recipe: SupervisedRecipe(epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay,
                                                 milestones: s.milestones, cropPadding: s.cropPadding, keep: .bestTestAccuracy),
                        train: data, test: test, configJSON: canonicalJSON(cfg), context: ctx)
}

/// The training loop of `SupervisedRecipe` for any `FeatureClassifier` (initialised by the caller from
/// `seed &+ 21`); augmentation RNG `seed &+ 22`, batch order `seed &+ 23`. Resumable like every stage.
func trainSupervised(_ net: some FeatureClassifier, seed: UInt64, recipe s: SupervisedRecipe, train: ImageDataset, test: ImageDataset,
                     configJSON json: String, extraAttributes: [String: AttributeValue] = [:], context ctx: StageContext) throws {
    try ctx.prepare()
    let sgd = SGD(net.namedTrainableParameters(), lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay)
    var rng = RNG(seed: seed &+ 22)
    var batches = try BatchIterator(dataset: train, batchSize: s.batchSize, seed: seed &+ 23)
    let perEpoch = batches.batchesPerEpoch, total = perEpoch * s.epochs
    var start = 0
    var best = -1.0
    let keptPath = ctx.directory + (s.keep == .bestTestAccuracy ? "/best.h5" : "/last-epoch.h5")
    if FileManager.default.fileExists(atPath: ctx.checkpointPath) {
        let (snap, _) = try TrainingState.restore(path: ctx.checkpointPath, model: net, ema: nil, adam: nil, sgd: sgd, rngNames: ["main"])
        start = snap.step
        rng = snap.rngs["main"]!
        batches = try BatchIterator(dataset: train, batchSize: s.batchSize, seed: seed &+ 23, start: snap.batchPosition)
        if FileManager.default.fileExists(atPath: keptPath) { best = try Checkpoint.load(from: keptPath).double("test_accuracy") }
    }
    let journal = try Journal(path: ctx.journalPath, resumeFrom: start > 0 ? start - 1 : nil)
    try runTrainingLoop(totalSteps: total, startStep: start, context: ctx, journal: journal, save: { done in
        try TrainingState.save(path: ctx.checkpointPath, model: net, grid: nil, ema: nil, adam: nil, sgd: sgd,
                               snapshot: TrainingSnapshot(step: done, rngs: ["main": rng], batchPosition: batches.position), configJSON: json)
    }) { step in
        let epoch = Double(step) / Double(perEpoch)
        sgd.lr = s.lr * Float(DetMath.pow(0.1, s.milestones.filter { epoch >= $0 * Double(s.epochs) }.count))
        net.train(true)
        let b = batches.nextBatch()
        let x = augment(b, pad: s.cropPadding, flip: train.flipAugmentation, rng: &rng)
        let loss = crossEntropy(net(x).logits, labels: b.labels)
        sgd.zeroGrad()
        loss.backward()
        sgd.update()
        let metrics: [(String, Double)] = [("loss", Double(loss.item)), ("lr", Double(sgd.lr))]
        if (step + 1) % perEpoch == 0 {
            let acc = classifierAccuracy(net, on: test)
            journal.log(step: step, [("test_accuracy", acc)])
            if acc > best || s.keep == .lastEpoch {
                best = acc
                var ck = Checkpoint(arrays: net.stateArrays())
                ck.attributes = ["test_accuracy": .double(acc), "epoch": .int(Int64((step + 1) / perEpoch)),
                                 "config_json": .string(json), "code_version": .string(CodeVersion.string)]
                for (k, v) in extraAttributes { ck.attributes[k] = v }
                try ck.save(to: keptPath)
            }
        }
        return metrics
    }
    var final = try Checkpoint.load(from: keptPath)
    final.attributes["test_set"] = .string(test.source)
    try final.save(to: ctx.finalPath)
}

/// Loads a trained classifier (frozen, evaluation mode) from a classifier stage's `final.h5`.
public func loadClassifier(_ cfg: DenseNetConfig, from path: String) throws -> DenseNet {
    let net = DenseNet(cfg, seed: 0)
    try net.loadState(from: try Checkpoint.load(from: path))
    net.train(false)
    net.setRequiresGrad(false)
    return net
}
