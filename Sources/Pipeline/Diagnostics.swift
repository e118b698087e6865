import Foundation
import Tensor
import Distill

/// Loss-term diagnostics (issue 11): is each term of the objective doing anything?
///
/// Every `every` steps, for each term L_i with weight w_i: its value and weighted value; the norm of
/// ∂(w_i L_i)/∂x̂_S (the student's output image) and of ∂(w_i L_i)/∂θ (the student U-Net's
/// parameters); its share ‖g_i‖ / Σ_j ‖g_j‖ of the parameter-gradient norm; the cosine between every
/// pair of terms' parameter gradients; and the entropy of the relation softmaxes divided by its
/// uniform maximum (1 = uniform rows: the term cannot carry information).
///
/// Gradients are taken with one extra backward pass per term over the retained graph, before the
/// training step's own backward, and the gradient buffers are zeroed again afterwards, so the step
/// itself is unchanged (a run with diagnostics gives the same weights as one without).
public final class TermDiagnostics {
    public let every: Int
    public init(every: Int) { self.every = every }

    public func due(_ step: Int) -> Bool { every > 0 && step % every == 0 }

    /// Metrics named "diag/<term>/<quantity>" and "diag/cos/<a>|<b>".
    public func measure(values: DistillLossValues, studentImage xs: Tensor, parameters: [Tensor], inputs: DistillInputs) -> [(String, Double)] {
        var out: [(String, Double)] = []
        var grads: [(String, [Float])] = []
        xs.retainGrad()
        for (term, value, weight) in values.terms {
            for p in parameters { p.grad?.fill(0) }
            xs.grad = nil
            value.scaled(weight).backward(retainGraph: true)
            let gImage = xs.grad.map { norm($0.array) } ?? 0
            var flat: [Float] = []
            for p in parameters { if let g = p.grad { flat += g.array } else { flat += [Float](repeating: 0, count: p.count) } }
            let name = term.rawValue
            out += [("diag/\(name)/value", Double(value.item)), ("diag/\(name)/weighted", Double(value.item * weight)),
                    ("diag/\(name)/grad_image", gImage), ("diag/\(name)/grad_params", norm(flat))]
            grads.append((name, flat))
        }
        for p in parameters { p.grad?.fill(0) }
        xs.grad = nil
        xs.retainsGrad = false
        let totalNorm = grads.map { norm($0.1) }.reduce(0, +)
        for (name, g) in grads { out.append(("diag/\(name)/share", totalNorm > 0 ? norm(g) / totalNorm : 0)) }
        for i in 0..<grads.count { for j in (i + 1)..<grads.count {
            out.append(("diag/cos/\(grads[i].0)|\(grads[j].0)", cosine(grads[i].1, grads[j].1)))
        } }
        if let t = inputs.teacherMap, let s = inputs.studentMap, t.rank == 4 {
            let tauIS: Float = 1
            out.append(("diag/is_p2p/entropy_teacher", relationEntropy(t, tau: tauIS)))
            out.append(("diag/is_p2p/entropy_student", relationEntropy(s, tau: tauIS)))
        }
        return out
    }

    func norm(_ v: [Float]) -> Double { (v.reduce(0.0) { $0 + Double($1) * Double($1) }).squareRoot() }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<min(a.count, b.count) { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i]) * Double(a[i]); bb += Double(b[i]) * Double(b[i]) }
        return aa > 0 && bb > 0 ? ab / (aa.squareRoot() * bb.squareRoot()) : 0
    }
}

/// Mean entropy of the inter-sample relation softmax rows softmax(⟨F̄_i[a], F̄_j[·]⟩/τ) over the
/// pixels a′ of sample j (Eq. 7's rows), divided by log A (1 = uniform). Uses at most 8 samples.
public func relationEntropy(_ map: Tensor, tau: Float) -> Double {
    let (b0, h, w, c) = (map.shape[0], map.shape[1], map.shape[2], map.shape[3])
    let b = min(b0, 8), a = h * w
    if a < 2 { return 1 }
    return Autograd.noGrad {
        let f = map.narrowed(axis: 0, start: 0, length: b).reshaped([b * a, c]).l2Normalized(axis: -1)
        let r = matmul(f, f, transB: true).scaled(1 / tau)           // (B·A) × (B·A): rows a of i, columns a′ of j
        var total = 0.0, rows = 0
        let logA = Foundation.log(Double(a))
        for row in 0..<(b * a) { for j in 0..<b {
            var m = -Double.infinity
            for k in 0..<a { m = max(m, Double(r.data[row * b * a + j * a + k])) }
            var z = 0.0
            for k in 0..<a { z += Foundation.exp(Double(r.data[row * b * a + j * a + k]) - m) }
            var hsum = 0.0
            for k in 0..<a { let p = Foundation.exp(Double(r.data[row * b * a + j * a + k]) - m) / z; if p > 0 { hsum -= p * Foundation.log(p) } }
            total += hsum / logA
            rows += 1
        } }
        return total / Double(rows)
    }
}

/// Entropy of softmax rows (last axis) divided by log(n): 1 for uniform rows.
public func normalizedRowEntropy(_ logits: Tensor) -> Double {
    let n = logits.shape.last ?? 1
    if n < 2 { return 1 }
    let rows = logits.count / n
    var total = 0.0
    for r in 0..<rows {
        var m = -Double.infinity
        for k in 0..<n { m = max(m, Double(logits.data[r * n + k])) }
        var z = 0.0
        for k in 0..<n { z += Foundation.exp(Double(logits.data[r * n + k]) - m) }
        var hsum = 0.0
        for k in 0..<n { let p = Foundation.exp(Double(logits.data[r * n + k]) - m) / z; if p > 0 { hsum -= p * Foundation.log(p) } }
        total += hsum / Foundation.log(Double(n))
    }
    return total / Double(rows)
}
