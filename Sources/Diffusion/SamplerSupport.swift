import Foundation
import Tensor

// Shared pieces of the samplers (DDIM, DPM-Solver++, PNDM; docs/samplers.md): the result type every sampler
// returns, which reports the number of network evaluations, the optional correction of x̂, and the Float64
// state the solvers update between network calls.

/// What every sampler returns (`ddimSample`, `dpmSolverSample`, `pndmSample`, `Sampler.sample`).
public struct SamplerResult {
    /// clip(z, −1, 1) at the last visited index (index 0 by default), shape of x_T.
    public let sample: Tensor
    /// The solver's time steps as grid indices, from the start index down to the end index.
    public let indices: [Int]
    /// The grid index of every network call, in call order (one entry per call, whatever the batch size).
    public let modelIndices: [Int]
    /// z after each solver step (unclipped, Float32), `indices.count − 1` entries; empty unless requested.
    public let trajectory: [Tensor]

    /// NFE: the number of network evaluations per sample (`modelIndices.count`).
    public var numberOfModelEvaluations: Int { modelIndices.count }
}

/// An optional correction applied to every x̂ before the solver uses it.
public enum DataPredictionCorrection: Equatable, Sendable {
    /// Use x̂ as the network returns it (the official default of DPM-Solver++ and of PNDM).
    case none
    /// x̂ ← clip(x̂, −1, 1), the static clipping the DDIM sampler of spec §1.7 applies.
    case clip
    /// Imagen's dynamic thresholding as coded in DPM-Solver (`dynamic_thresholding_fn`): per sample,
    /// s = max(quantile(|x̂|, ratio), maxValue) (linear-interpolated quantile, as `torch.quantile`),
    /// x̂ ← clip(x̂, −s, s)/s. The official defaults are ratio 0.995 and maxValue 1.
    case dynamicThresholding(ratio: Double = 0.995, maxValue: Double = 1)
}

extension DataPredictionCorrection {
    /// Applies the correction in place to a batch of `batch` samples stored contiguously.
    func apply(_ x: inout [Double], batch: Int) {
        switch self {
        case .none:
            return
        case .clip:
            for i in x.indices { x[i] = min(max(x[i], -1), 1) }
        case .dynamicThresholding(let ratio, let maxValue):
            precondition((0...1).contains(ratio), "dynamicThresholding: ratio \(ratio) is outside [0, 1]")
            precondition(maxValue > 0, "dynamicThresholding: maxValue \(maxValue) must be positive")
            let n = x.count / batch
            for b in 0..<batch {
                let range = (b * n)..<((b + 1) * n)
                let sorted = x[range].map { abs($0) }.sorted()
                let pos = ratio * Double(n - 1)
                let lo = Int(pos.rounded(.down)), hi = min(lo + 1, n - 1)
                let q = sorted[lo] + (pos - Double(lo)) * (sorted[hi] - sorted[lo])
                let s = max(q, maxValue)
                for i in range { x[i] = min(max(x[i], -s), s) / s }
            }
        }
    }
}

/// The network seen from a solver: Float64 state in, Float64 x̂ out, with a record of every call.
///
/// The network itself runs in Float32 (z is rounded to Float32 on the way in, x̂ comes back as Float32);
/// the solver's linear combinations are carried out in Float64 between calls. With α_1024 ≈ 4.8e-5 some
/// coefficients are large (α_{k′}/α_k, 1/α_k), and Float64 keeps their cancellation harmless.
struct SolverModel {
    let shape: [Int]
    let labels: [Int]?
    let correction: DataPredictionCorrection
    private(set) var calls: [Int] = []

    init(shape: [Int], labels: [Int]?, correction: DataPredictionCorrection) {
        precondition(shape.count >= 1 && shape[0] >= 1, "sampler: x_T needs a leading batch dimension, got \(shape)")
        self.shape = shape
        self.labels = labels
        self.correction = correction
    }

    var batch: Int { shape[0] }

    /// x̂ = correction(θ(z, k)) at one grid index for the whole batch.
    mutating func xhat(_ model: Denoiser, _ z: [Double], at k: Int) -> [Double] {
        precondition((0...CosineSchedule.maxIndex).contains(k), "sampler: grid index \(k) outside 0...1024")
        calls.append(k)
        let input = Tensor(z.map { Float($0) }, shape: shape)
        let out = model(input, [Int](repeating: k, count: batch), labels)
        precondition(out.shape == shape, "sampler: the model returned shape \(out.shape) for input \(shape)")
        var x = out.array.map { Double($0) }
        correction.apply(&x, batch: batch)
        return x
    }
}

/// Σ cᵢ·vᵢ elementwise over equally long Float64 buffers.
@inline(__always)
func combine(_ terms: [(Double, [Double])]) -> [Double] {
    precondition(!terms.isEmpty)
    let n = terms[0].1.count
    var out = [Double](repeating: 0, count: n)
    for (c, v) in terms {
        precondition(v.count == n)
        if c == 0 { continue }
        for i in 0..<n { out[i] += c * v[i] }
    }
    return out
}

/// Float64 buffer → Float32 tensor of `shape`.
func float32Tensor(_ v: [Double], shape: [Int]) -> Tensor { Tensor(v.map { Float($0) }, shape: shape) }

/// The schoolbook rounding used for every continuous → grid-index mapping (half away from zero).
@inline(__always)
func nearestIndex(_ v: Double) -> Int { Int(v.rounded(.toNearestOrAwayFromZero)) }
