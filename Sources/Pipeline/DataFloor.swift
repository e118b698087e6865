import Foundation
import Tensor
import Data
import Metrics

/// The data-vs-data floor of FID (issue 6 §4; ../shared/docs/data.md "At small N, FID is biased upwards"):
/// the FID that *real* images score at the evaluation's sample count N against the evaluation's own
/// reference statistics. A model cannot be expected to go below it; its FID is read against it.
///
/// Definition used here: N training images (a seeded random subset of the train split, standing in for N
/// generated samples) against the reference set the evaluations use — the dataset's whole test split,
/// through the same `ReferenceStatisticsCache` entry. Train and test are disjoint, so the two sides are
/// independent samples of the data distribution; both sides have exactly the sizes of an evaluation
/// (N samples vs the test split). `repeats` disjoint subsets give a spread.
public struct FloorResult: Codable, Equatable, Sendable {
    public var dataset: String
    /// "classifier" or "inception".
    public var featureKind: String
    public var featureNetwork: String
    /// N: train images per subset.
    public var samples: Int
    /// The reference label, e.g. "fashion-mnist test split (10000 images)".
    public var reference: String
    /// The FID of each disjoint train subset.
    public var values: [Double]
    public var mean: Double
    /// Sample standard deviation over subsets (nil with one subset).
    public var standardDeviation: Double?
    /// Seconds for the whole floor (the subsets' features + FIDs, and the reference when it was not cached).
    public var seconds: Double
    public var referenceCached: Bool

    /// "FID floor (classifier features, N=256 train images vs digits test split (252 images)): 1.234 ± 0.056 over 3 disjoint subsets"
    public var line: String {
        let spread = standardDeviation.map { String(format: " ± %.3f (sample std)", $0) } ?? ""
        return String(format: "FID floor (%@, N=%d train images vs %@): %.3f%@ over %d disjoint subset%@ [%@]; %.1f s%@",
                      featureKind == "inception" ? "Inception pool3" : "classifier features", samples, reference, mean, spread,
                      values.count, values.count == 1 ? "" : "s", values.map { String(format: "%.3f", $0) }.joined(separator: ", "),
                      seconds, referenceCached ? " (reference cached)" : "")
    }
}

/// `repeats` disjoint subsets of `n` indices of 0..<count, from one seeded permutation.
public func disjointSubsets(count: Int, n: Int, repeats: Int, seed: UInt64) throws -> [[Int]] {
    guard n >= 2, repeats >= 1 else { throw PipelineError("floor: need N ≥ 2 and at least one subset (N = \(n), repeats = \(repeats))") }
    guard n * repeats <= count else {
        throw PipelineError("floor: \(repeats) disjoint subsets of N = \(n) need \(n * repeats) training images; the split has \(count)")
    }
    var rng = RNG(seed: seed &+ 97)
    let perm = rng.permutation(count)
    return (0..<repeats).map { r in Array(perm[(r * n)..<((r + 1) * n)]).sorted() }
}

/// The floor of one feature network: FIDs of `repeats` disjoint subsets of `n` images of `train` against the
/// cached statistics of `reference` (spec §5 formula; `frechetDistance` refuses mismatched labels).
public func dataFloor(train: ImageDataset, reference: ReferenceSet, samples n: Int, repeats: Int, seed: UInt64,
                      extractor: FeatureExtractor, cache: ReferenceStatisticsCache) throws -> FloorResult {
    guard train.height == reference.images.height, train.width == reference.images.width, train.channels == reference.images.channels else {
        throw PipelineError("floor: train images \(train.height)×\(train.width)×\(train.channels) differ from the reference's "
                            + "\(reference.images.height)×\(reference.images.width)×\(reference.images.channels)")
    }
    let clock = ContinuousClock(), t0 = clock.now
    let subsets = try disjointSubsets(count: train.count, n: n, repeats: repeats, seed: seed)
    let ref = try cache.statistics(for: reference, extractor: extractor)
    let prep = extractor.preprocessing(height: train.height, width: train.width, channels: train.channels)
    var values: [Double] = []
    for idx in subsets {
        let part = try train.subset(idx)
        let f = try extractor.features(Tensor(part.images, shape: [part.count, part.height, part.width, part.channels]))
        let s = try FeatureStatistics(features: f, featureNetwork: extractor.featureNetwork, dataset: part.name, preprocessing: prep)
        values.append(try frechetDistance(s, ref.statistics).value)
    }
    let mean = values.reduce(0, +) / Double(values.count)
    let std: Double? = values.count > 1
        ? (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot() : nil
    return FloorResult(dataset: reference.dataset, featureKind: extractor.kind, featureNetwork: extractor.featureNetwork, samples: n,
                       reference: reference.label, values: values, mean: mean, standardDeviation: std,
                       seconds: (clock.now - t0) / .seconds(1), referenceCached: ref.cached)
}
