import Foundation
import Tensor
import Data
import RunModel

/// The real images an evaluation compares its samples against (`evaluation.reference`, docs/metrics.md
/// "Reference sets"), with the split name that its metric labels and its reference-statistics key carry.
public struct ReferenceImages {
    public var images: ImageDataset
    /// "test" or "validation": part of `ReferenceKey`, so the two never share cached statistics.
    public var split: String
}

/// The fixed seed of the validation set's permutation: one validation set per dataset and image size, the same
/// for every trial, seed and sweep (a pilot and the runs it configures must agree on it).
let validationPermutationSeed: UInt64 = 0x7661_6C69_6461_7465  // "validate"

/// The reference set of an evaluation stage.
///
/// - `test` (nil): the dataset's test split — the numbers every report shows.
/// - `validation`: a set for choosing settings without ever looking at the test split (issue 24 §2). The
///   diffusion models train on the whole training split, as in the paper, so a held-out split would change every
///   teacher; instead the validation set is drawn from the training split's even-indexed half — the half the
///   independent evaluator never trains on (`TrainingPart`), so the evaluator's features of the reference images
///   are not features of its own training data — as many images as the test split has (capped at that half),
///   chosen by one fixed seeded permutation and kept in dataset order. FID against training images measures the
///   same distance for choosing a step count; it is not a held-out generalisation number, and labels say
///   "validation" so it is never mistaken for one.
public func evaluationReference(_ data: DataSettings, _ reference: EvaluationReference?) throws -> ReferenceImages {
    let test = try loadDataset(data.dataset, root: data.dataRoot, imageSize: data.imageSize, split: .test)
    guard reference == .validation else { return ReferenceImages(images: test, split: "test") }
    let train = try loadDataset(data.dataset, root: data.dataRoot, imageSize: data.imageSize, split: .train)
    return ReferenceImages(images: try validationSet(train: train, size: test.count), split: "validation")
}

/// `size` images (at most the half's count) of the even-indexed half of `train`, by the fixed permutation,
/// in dataset order.
public func validationSet(train: ImageDataset, size: Int) throws -> ImageDataset {
    let half = TrainingPart.even.indices(count: train.count)
    let n = min(size, half.count)
    guard n >= 2 else { throw PipelineError("validation set of \(train.name): the training split's even half has \(half.count) images; need ≥ 2") }
    var rng = RNG(seed: validationPermutationSeed)
    let chosen = rng.permutation(half.count).prefix(n).map { half[$0] }.sorted()
    return try train.subset(chosen, name: "\(train.name)[validation: \(n) of the even half]")
}
