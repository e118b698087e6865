import Tensor

/// The deterministic DDIM sampler exactly as coded (spec §1.7, `ddim`, diffusion.py:128‑147).
///
/// From x_T ~ N(0, I) (pure noise), for each visited index pair (k, k′) in `indices`:
///   x̂ = clip(θ(z, k), −1, 1); ε̂ = (z − α_k x̂)/σ_k from the clipped x̂; z ← α_{k′} x̂ + σ_{k′} ε̂.
/// The last step lands at index 0 (not at clean data), so the output is clip(α₀x̂ + σ₀ε̂, −1, 1).
///
/// - Parameters:
///   - indices: the grid indices to visit, from `StepGrid.samplingIndices(stride:)` (1024 → … → 0).
///   - xT: the initial noise (B, H, W, C).
public func ddimSample(model: Denoiser, indices: [Int], xT: Tensor, labels: [Int]? = nil) -> Tensor {
    precondition(indices.count >= 2 && indices.last == 0, "ddimSample: indices must run down to 0, got \(indices)")
    let b = xT.shape[0]
    return Autograd.noGrad {
        var z = xT
        for (k, kNext) in zip(indices, indices.dropFirst()) {
            let xhat = model(z, [Int](repeating: k, count: b), labels).clamped(-1, 1)
            z = ddimStep(z: z, xhat: xhat, from: [Int](repeating: k, count: b), to: [Int](repeating: kNext, count: b))
        }
        return z.clamped(-1, 1)
    }
}
