import Foundation

/// The loss primitives every objective of the paper is built from.
///
/// `klDivergence` is PyTorch's `F.kl_div(log_softmax(student/τs), softmax(teacher/τt))` summed over
/// the distribution axis (the last) and divided by the number of rows ("batchmean" when rows are
/// samples): KL(p_T ‖ p_S) = Σ p_T (log p_T − log p_S). Spec §4 uses it for L_CFD (Eq. 4, τ on the
/// teacher only), L_IS_P2P / L_II_P2P (Eq. 6–7) and L_M_P2P (Eq. 8–9).

/// Mean squared error over all elements: mean((a − b)²).
public func mseLoss(_ a: Tensor, _ b: Tensor) -> Tensor {
    checked { try Shape.same(a.shape, b.shape, op: "mseLoss") }
    let n = a.count
    var acc = 0.0
    for i in 0..<n { let d = Double(a.data[i] - b.data[i]); acc += d * d }
    let out = Tensor(scalar: Float(acc / Double(max(n, 1))))
    return out.recording([a, b]) { _, g in
        let k = 2 * g.data[0] / Float(n)
        if a.requiresGrad { let d = a.gradBuffer(); for i in 0..<n { d[i] += k * (a.data[i] - b.data[i]) } }
        if b.requiresGrad { let d = b.gradBuffer(); for i in 0..<n { d[i] -= k * (a.data[i] - b.data[i]) } }
    }
}

/// KL(softmax(teacher/τt) ‖ softmax(student/τs)) summed over the last axis, averaged over rows.
///
/// Gradients: ∂/∂student = (q − p)/(τs·rows); ∂/∂teacher = p ⊙ ((log p − log q) − KL_row)/(τt·rows),
/// with p = softmax(teacher/τt), q = softmax(student/τs).
public func klDivergence(teacherLogits t: Tensor, studentLogits s: Tensor, tauTeacher: Float = 1, tauStudent: Float = 1) -> Tensor {
    checked { try Shape.same(t.shape, s.shape, op: "klDivergence") }
    precondition(tauTeacher > 0 && tauStudent > 0, "klDivergence: temperatures must be > 0 (τt=\(tauTeacher), τs=\(tauStudent))")
    let n = t.shape.last ?? 1
    let rows = t.count / max(n, 1)
    // Log-probabilities in Float64: the KL of near-identical distributions is a small difference of
    // large terms, and these tensors are small (≤ a few million entries).
    var logP = [Double](repeating: 0, count: t.count), logQ = [Double](repeating: 0, count: t.count)
    logP.withUnsafeMutableBufferPointer { logSoftmaxRows64(t.data, scale: 1 / Double(tauTeacher), rows: rows, n: n, into: $0.baseAddress!) }
    logQ.withUnsafeMutableBufferPointer { logSoftmaxRows64(s.data, scale: 1 / Double(tauStudent), rows: rows, n: n, into: $0.baseAddress!) }
    var rowKL = [Double](repeating: 0, count: rows)
    // p = e^{log p} row by row on vector lanes (DetMath.exp(_:into:count:): the scalar function's bits) into one row of
    // scratch — not kept for the whole tensor, so the loss's memory stays what it was (`memory/loss_peak_bytes`) —
    // and each row's sum the same in-order chain as before.
    var e = [Double](repeating: 0, count: n)
    var total = 0.0
    logP.withUnsafeBufferPointer { lp in logQ.withUnsafeBufferPointer { lq in e.withUnsafeMutableBufferPointer { ep in
        for r in 0..<rows {
            DetMath.exp(lp.baseAddress! + r * n, into: ep.baseAddress!, count: n)
            var acc = 0.0
            for j in 0..<n { let i = r * n + j; acc += ep[j] * (lp[i] - lq[i]) }
            rowKL[r] = acc
            total += acc
        }
    } } }
    let out = Tensor(scalar: Float(total / Double(max(rows, 1))))
    return out.recording([t, s]) { _, g in
        let gv = g.data[0] / Float(rows)
        if s.requiresGrad {
            let d = s.gradBuffer()
            var ep = [Double](repeating: 0, count: n), eq = [Double](repeating: 0, count: n)
            logP.withUnsafeBufferPointer { lp in logQ.withUnsafeBufferPointer { lq in
                for r in 0..<rows {
                    DetMath.exp(lq.baseAddress! + r * n, into: &eq, count: n)
                    DetMath.exp(lp.baseAddress! + r * n, into: &ep, count: n)
                    for j in 0..<n { d[r * n + j] += gv * Float(eq[j] - ep[j]) / tauStudent }
                }
            } }
        }
        if t.requiresGrad {
            let d = t.gradBuffer()
            for r in 0..<rows { for j in 0..<n {
                let i = r * n + j
                d[i] += gv * Float(DetMath.exp(logP[i]) * (logP[i] - logQ[i] - rowKL[r])) / tauTeacher
            } }
        }
    }
}

/// Row-wise log-softmax of `scale·x` in Float64 (rows of length n): m = max_j scale·x_j, z = Σ_j e^{scale·x_j − m} in j
/// order, log z + m subtracted. Each row's exponentials are taken in one vector call (the scalar function's bits,
/// DetMath.exp(_:into:count:)) into one row of scratch between computing their arguments and summing them.
public func logSoftmaxRows64(_ x: UnsafePointer<Float>, scale: Double, rows: Int, n: Int, into y: UnsafeMutablePointer<Double>) {
    guard rows > 0, n > 0 else { return }
    var e = [Double](repeating: 0, count: n)
    e.withUnsafeMutableBufferPointer { ep in
        for r in 0..<rows {
            let row = x + r * n
            var m = -Double.infinity
            for j in 0..<n { m = max(m, Double(row[j]) * scale) }
            for j in 0..<n { ep[j] = Double(row[j]) * scale - m }
            DetMath.exp(ep.baseAddress!, into: ep.baseAddress!, count: n)
            var z = 0.0
            for j in 0..<n { z += ep[j] }
            let lz = DetMath.log(z) + m
            for j in 0..<n { y[r * n + j] = Double(row[j]) * scale - lz }
        }
    }
}
