import Tensor

/// The x-prediction diffusion process on tensors (spec §1.3–§1.6): noising, ε derived from x̂, the
/// truncated-SNR loss, the base training step, and the progressive-distillation target.
///
/// Networks enter as a `Denoiser` closure, so this module knows nothing of U-Nets or files.

/// x̂ = θ(z, k, y): a network's prediction of clean data from z at integer grid indices k (one per
/// sample) and optional class labels y.
public typealias Denoiser = (_ z: Tensor, _ k: [Int], _ labels: [Int]?) -> Tensor

/// Per-sample schedule coefficients as float32 tensors of shape (B, 1, 1, 1), as `extract()` casts
/// the float64 tables (spec §1.1).
public func coefficientTensors(_ ks: [Int], rank: Int = 4, schedule: CosineSchedule = .shared) -> (alpha: Tensor, sigma: Tensor) {
    let shape = [ks.count] + [Int](repeating: 1, count: rank - 1)
    let c = ks.map { k -> (Float, Float) in
        do { return try schedule.float32Coefficients(k) } catch { preconditionFailure("coefficientTensors: \(error)") }
    }
    return (Tensor(c.map(\.0), shape: shape), Tensor(c.map(\.1), shape: shape))
}

/// z = α_k x + σ_k ε (§1.5).
public func noised(_ x: Tensor, eps: Tensor, at ks: [Int]) -> Tensor {
    let (a, s) = coefficientTensors(ks, rank: x.rank)
    return a * x + s * eps
}

/// ε̂ = (z − α_k x̂)/σ_k (§1.3, `predict_eps_from_x`).
public func predictEps(z: Tensor, xhat: Tensor, at ks: [Int]) -> Tensor {
    let (a, s) = coefficientTensors(ks, rank: z.rank)
    return (z - a * xhat) / s
}

/// The truncated-SNR loss (§1.4): (1/B) Σ_b ω_{k_b} · mean_pixels (x̂_b − x_b)², ω = max(α²/σ², 1).
/// Equal to the official `max(MSE_x, MSE_ε)` per sample (see `maxFormLoss`).
public func truncatedSNRLoss(xhat: Tensor, target: Tensor, at ks: [Int], schedule: CosineSchedule = .shared) -> Tensor {
    let b = xhat.shape[0]
    let w = ks.map { k -> Float in
        do { return Float(try schedule.truncatedSNRWeight(k)) } catch { preconditionFailure("truncatedSNRLoss: \(error)") }
    }
    let perSample = (xhat - target).square().reshaped([b, -1]).mean(axis: 1)
    return (perSample * Tensor(w, shape: [b])).mean()
}

/// The official form of the same loss: mean_b max(MSE(x̂, x), MSE(ε̂, ε)) with ε̂ from x̂ and z
/// (diffusion.py:62‑70). Kept to check that both forms agree (spec §8).
public func maxFormLoss(xhat: Tensor, x: Tensor, z: Tensor, eps: Tensor, at ks: [Int]) -> Tensor {
    let b = xhat.shape[0]
    let mx = (xhat - x).square().reshaped([b, -1]).mean(axis: 1)
    let me = (predictEps(z: z, xhat: xhat, at: ks) - eps).square().reshaped([b, -1]).mean(axis: 1)
    var out = [Float](repeating: 0, count: b)
    for i in 0..<b { out[i] = max(mx.data[i], me.data[i]) }
    return Tensor(out, shape: [b]).mean()
}

/// One base-model training loss (§1.5): k ~ Uniform{0,…,1024} (k = 0 included), ε ~ N(0, I),
/// z = α_k x + σ_k ε, x̂ = θ(z, k), loss = truncated-SNR MSE.
public func baseTrainingLoss(model: Denoiser, x: Tensor, labels: [Int]?, rng: inout RNG) -> Tensor {
    let b = x.shape[0]
    let ks = (0..<b).map { _ in rng.int(below: CosineSchedule.levels) }
    let eps = Tensor.randn(x.shape, rng: &rng)
    let z = noised(x, eps: eps, at: ks)
    return truncatedSNRLoss(xhat: model(z, ks, labels), target: x, at: ks)
}

/// What a PD / distillation step trains the student on (§1.6).
public struct PDTarget {
    /// z_t = α_{i0} x + σ_{i0} ε, the student's input.
    public let z: Tensor
    /// Grid indices i0 = t·s per sample (the student is queried at the same index).
    public let i0: [Int]
    /// x̃: the clean-data target whose single student DDIM step i0 → i2 lands on the teacher's z″.
    public let xTilde: Tensor
}

/// The PD target from two unclipped teacher DDIM steps (§1.6), teacher on `grid` = (T, s):
/// t = 2·Uniform{1,…,T/2}; x̂₁ = θ_T(z_t, i0); z′ = α_{i1} x̂₁ + σ_{i1} ε̂₁; x̂₂ = θ_T(z′, i1);
/// z″ = α_{i2} x̂₂ + σ_{i2} ε̂₂; x̃ = (z″ − r z_t)/(α_{i2} − r α_{i0}) with r = σ_{i2}/σ_{i0}.
/// Runs the teacher without recording gradients.
public func pdTarget(teacher: Denoiser, grid: StepGrid, x: Tensor, labels: [Int]?, rng: inout RNG) -> PDTarget {
    let b = x.shape[0]
    let times = grid.pdTimes
    precondition(!times.isEmpty, "pdTarget: a 1-step model cannot be a PD teacher")
    let idx = (0..<b).map { _ in (try? grid.pdIndices(t: times[rng.int(below: times.count)]))! }
    let i0 = idx.map(\.i0), i1 = idx.map(\.i1), i2 = idx.map(\.i2)
    let eps = Tensor.randn(x.shape, rng: &rng)
    return Autograd.noGrad {
        let z = noised(x, eps: eps, at: i0)
        let x1 = teacher(z, i0, labels)
        let zp = ddimStep(z: z, xhat: x1, from: i0, to: i1)
        let x2 = teacher(zp, i1, labels)
        let zpp = ddimStep(z: zp, xhat: x2, from: i1, to: i2)
        let (a0, s0) = coefficientTensors(i0, rank: x.rank), (a2, s2) = coefficientTensors(i2, rank: x.rank)
        let r = s2 / s0
        let xt = (zpp - r * z) / (a2 - r * a0)
        return PDTarget(z: z, i0: i0, xTilde: xt)
    }
}

/// One deterministic DDIM step from index `from` to `to` given x̂ (no clipping here):
/// z ← α_to x̂ + σ_to ε̂, ε̂ = (z − α_from x̂)/σ_from.
public func ddimStep(z: Tensor, xhat: Tensor, from: [Int], to: [Int]) -> Tensor {
    let eps = predictEps(z: z, xhat: xhat, at: from)
    let (a, s) = coefficientTensors(to, rank: z.rank)
    return a * xhat + s * eps
}
