import Tensor

/// A perceptual distance for the "PD + perceptual" baseline (the paper's "PD+LPIPS" row of Tables 1–2).
///
/// NOT LPIPS: LPIPS uses ImageNet-trained AlexNet/VGG features and weights learned on human
/// judgements (BAPPS). This applies LPIPS's computation to the project's own classifier's maps:
///   d(x̃, x̂_S) = Σ_l (1/(H_l·W_l)) Σ_{h,w} Σ_c w_{l,c} (t̂_l[h,w,c] − ŝ_l[h,w,c])²,
/// with t̂, ŝ the maps unit-normalised over channels per pixel (norm(·), eps 1e‑12 — LPIPS adds 1e‑10 to
/// the norm instead, which differs only for all-zero pixels), w_{l,c} ≥ 0 optional per-channel weights
/// (all 1 without weights: LPIPS's "baseline" variant), then averaged over the batch.
///
/// `teacherFeatures[l]` and `studentFeatures[l]` are maps (B, H_l, W_l, C_l); `weights[l]` has C_l
/// entries (Pipeline's `loadPerceptualWeights` reads them from a file). Returns a scalar; the teacher side is constant.
public func classifierPerceptualLoss(teacherFeatures: [Tensor], studentFeatures: [Tensor], weights: [[Float]]? = nil) -> Tensor {
    precondition(!studentFeatures.isEmpty && teacherFeatures.count == studentFeatures.count,
                 "classifierPerceptualLoss: \(teacherFeatures.count) teacher and \(studentFeatures.count) student layers")
    if let w = weights {
        precondition(w.count == studentFeatures.count, "classifierPerceptualLoss: \(w.count) weight vectors for \(studentFeatures.count) layers")
    }
    var total: Tensor?
    for (l, (t, s)) in zip(teacherFeatures, studentFeatures).enumerated() {
        let (b, a, c) = mapDims(s, "classifierPerceptualLoss")
        precondition(t.shape == s.shape, "classifierPerceptualLoss: layer \(l): teacher \(t.shape) and student \(s.shape) differ")
        let tn = Autograd.noGrad { constant(t).l2Normalized(axis: -1) }
        var d = (s.l2Normalized(axis: -1) - tn).square()                 // (B, H, W, C)
        if let w = weights?[l] {
            precondition(w.count == c, "classifierPerceptualLoss: layer \(l) has \(c) channels, \(w.count) weights")
            d = d * Tensor(w, shape: [c])
        }
        // Σ_c, mean over pixels, mean over batch = Σ / (B·A).
        let term = d.sum().scaled(1 / Float(b * a))
        total = total.map { $0 + term } ?? term
    }
    return total!
}
