import Foundation
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
/// entries (see `loadPerceptualWeights`). Returns a scalar; the teacher side is constant.
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

/// Reads per-layer, per-channel perceptual weights from a JSON file:
/// `{"format": "rdd-perceptual-weights", "version": 1, "layers": [[w_0, w_1, …], …]}` — one array per
/// layer, in the order the feature maps are passed, each with that layer's channel count; values must
/// be finite and ≥ 0 (LPIPS clamps its 1×1 "lin" weights the same way).
public func loadPerceptualWeights(from url: URL) throws -> [[Float]] {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw DistillError.invalidWeights("cannot read \(url.path): \(error.localizedDescription)") }
    return try parsePerceptualWeights(data, source: url.path)
}

/// Parses the JSON form described at `loadPerceptualWeights`.
public func parsePerceptualWeights(_ data: Data, source: String = "data") throws -> [[Float]] {
    struct File: Decodable { let format: String; let version: Int; let layers: [[Double]] }
    let f: File
    do { f = try JSONDecoder().decode(File.self, from: data) } catch {
        throw DistillError.invalidWeights("\(source) is not {\"format\", \"version\", \"layers\"} JSON: \(error)")
    }
    guard f.format == "rdd-perceptual-weights" else { throw DistillError.invalidWeights("\(source): format is '\(f.format)', expected 'rdd-perceptual-weights'") }
    guard f.version == 1 else { throw DistillError.invalidWeights("\(source): version \(f.version) is not supported (1)") }
    guard !f.layers.isEmpty else { throw DistillError.invalidWeights("\(source): no layers") }
    for (l, w) in f.layers.enumerated() {
        guard !w.isEmpty else { throw DistillError.invalidWeights("\(source): layer \(l) is empty") }
        if let i = w.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw DistillError.invalidWeights("\(source): layer \(l) weight \(i) = \(w[i]) is not a finite value ≥ 0")
        }
    }
    return f.layers.map { $0.map(Float.init) }
}
