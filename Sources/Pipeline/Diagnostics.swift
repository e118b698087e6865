import Foundation
import RunModel
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
/// Gradients are taken with one extra backward pass per term but the last over the retained graph,
/// before the training step's own backward, with the gradient buffers zeroed again afterwards; the
/// last term's gradient is the total's minus the others'. The step itself is unchanged (a run with
/// diagnostics gives the same weights as one without; tested).
public final class TermDiagnostics {
    public let every: Int
    /// τ_IS of the objective: the IS/II relation entropy is that of the softmax the loss uses.
    public let tauIS: Float
    public init(every: Int, tauIS: Float) { self.every = every; self.tauIS = tauIS }
    /// The diagnostics of a distillation stage: `diagnosticsEvery` and the τ_IS of its objective.
    public convenience init(_ s: DistillSettings) { self.init(every: s.diagnosticsEvery, tauIS: s.tauIS) }

    public func due(_ step: Int) -> Bool { every > 0 && step % every == 0 }

    /// Gradients of all but the last term, taken before the training step's own backward.
    public struct Pending {
        let values: DistillLossValues
        let grads: [(String, [Float], Double)]     // term, parameter gradient, image-gradient norm… of w·L
        let imageGrads: [[Float]]
    }

    /// Step 1 of 2: one backward pass over the retained graph for each term except the last, then the
    /// gradient buffers are zeroed again. Call `finish` right after the step's own backward of the
    /// total (before clipping): the last term's gradients are the total's minus the others', so K
    /// terms cost K − 1 extra passes. Marks `studentImage` to keep its gradient.
    public func begin(values: DistillLossValues, studentImage xs: Tensor, parameters: [Tensor]) -> Pending {
        xs.retainGrad()
        var grads: [(String, [Float], Double)] = []
        var images: [[Float]] = []
        for (term, value, weight) in values.terms.dropLast() {
            for p in parameters { p.grad?.fill(0) }
            xs.grad = nil
            value.scaled(weight).backward(retainGraph: true)
            let img = xs.grad?.array ?? [Float](repeating: 0, count: xs.count)
            grads.append((term.rawValue, flatGrad(parameters), norm(img)))
            images.append(img)
        }
        for p in parameters { p.grad?.fill(0) }
        xs.grad = nil
        return Pending(values: values, grads: grads, imageGrads: images)
    }

    /// Step 2 of 2: reads the total's gradients (parameters and image), derives the last term's, and
    /// returns the metrics "diag/<term>/<quantity>", "diag/cos/<a>|<b>" and the relation entropies.
    public func finish(_ p: Pending, studentImage xs: Tensor, parameters: [Tensor], inputs: DistillInputs) -> [(String, Double)] {
        var grads = p.grads
        if let last = p.values.terms.last {
            var g = flatGrad(parameters)
            var img = xs.grad?.array ?? [Float](repeating: 0, count: xs.count)
            for (_, other, _) in p.grads { for i in 0..<g.count { g[i] -= other[i] } }
            for other in p.imageGrads { for i in 0..<img.count { img[i] -= other[i] } }
            grads.append((last.term.rawValue, g, norm(img)))
        }
        xs.retainsGrad = false
        var out: [(String, Double)] = []
        for ((term, value, weight), (name, g, gImage)) in zip(p.values.terms, grads) {
            precondition(term.rawValue == name)
            out += [("diag/\(name)/value", Double(value.item)), ("diag/\(name)/weighted", Double(value.item * weight)),
                    ("diag/\(name)/grad_image", gImage), ("diag/\(name)/grad_params", norm(g))]
        }
        let totalNorm = grads.map { norm($0.1) }.reduce(0, +)
        for (name, g, _) in grads { out.append(("diag/\(name)/share", totalNorm > 0 ? norm(g) / totalNorm : 0)) }
        for i in 0..<grads.count { for j in (i + 1)..<grads.count {
            out.append(("diag/cos/\(grads[i].0)|\(grads[j].0)", cosine(grads[i].1, grads[j].1)))
        } }
        if let t = inputs.teacherMap, let s = inputs.studentMap, t.rank == 4 {
            out.append(("diag/is_p2p/entropy_teacher", relationEntropy(t, tau: tauIS)))
            out.append(("diag/is_p2p/entropy_student", relationEntropy(s, tau: tauIS)))
        }
        // M_P2P: rows softmax(P/τ_kd) over the V queued pixels, H/log V (1 = the relation says nothing).
        if let r = p.values.mP2PRelations {
            out.append(("diag/m_p2p/entropy_teacher", normalizedRowEntropy(r.teacher)))
            out.append(("diag/m_p2p/entropy_student", normalizedRowEntropy(r.student)))
        }
        return out
    }

    /// Both steps in one call, for tests and callers that do not back-propagate the total themselves:
    /// runs the total's backward over the retained graph too, then zeroes the gradients.
    public func measure(values: DistillLossValues, studentImage xs: Tensor, parameters: [Tensor], inputs: DistillInputs) -> [(String, Double)] {
        let p = begin(values: values, studentImage: xs, parameters: parameters)
        xs.retainGrad()
        values.total.backward(retainGraph: true)
        let out = finish(p, studentImage: xs, parameters: parameters, inputs: inputs)
        for q in parameters { q.grad?.fill(0) }
        xs.grad = nil
        return out
    }

    func flatGrad(_ parameters: [Tensor]) -> [Float] {
        var flat: [Float] = []
        for p in parameters { if let g = p.grad { flat += g.array } else { flat += [Float](repeating: 0, count: p.count) } }
        return flat
    }

    func norm(_ v: [Float]) -> Double { (v.reduce(0.0) { $0 + Double($1) * Double($1) }).squareRoot() }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for i in 0..<min(a.count, b.count) { ab += Double(a[i]) * Double(b[i]); aa += Double(a[i]) * Double(a[i]); bb += Double(b[i]) * Double(b[i]) }
        return aa > 0 && bb > 0 ? ab / (aa.squareRoot() * bb.squareRoot()) : 0
    }
}

/// Mean entropy of the inter-sample relation softmax rows softmax(⟨F̄_i[a], F̄_j[·]⟩/τ) over the
/// pixels a′ of sample j (Eq. 7's rows, `isP2PRelationRows`), divided by log A (1 = uniform). Uses at
/// most 8 samples.
public func relationEntropy(_ map: Tensor, tau: Float) -> Double {
    let b = min(map.shape[0], 8)
    if map.shape[1] * map.shape[2] < 2 { return 1 }
    return Autograd.noGrad { normalizedRowEntropy(isP2PRelationRows(map.narrowed(axis: 0, start: 0, length: b)).scaled(1 / tau)) }
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
        for k in 0..<n { z += DetMath.exp(Double(logits.data[r * n + k]) - m) }
        var hsum = 0.0
        for k in 0..<n { let p = DetMath.exp(Double(logits.data[r * n + k]) - m) / z; if p > 0 { hsum -= p * DetMath.log(p) } }
        total += hsum / DetMath.log(Double(n))
    }
    return total / Double(rows)
}
