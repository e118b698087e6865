import Foundation
import Tensor
import Diffusion

/// The distillation losses of the paper (Eq. 2, 4, 6–9) as coded in the official repository
/// (spec §4), on the project's NHWC tensors.
///
/// Conventions for every loss in this module:
/// - Feature maps are NHWC `(B, H, W, C)`. Reshaping to `(B, A, C)` with `A = H·W` gives one row per
///   pixel with index `a = h·W + w`, which is the spec's `(B, A, C)` after its NCHW permute.
/// - `norm(·)` is L2 normalisation over channels per pixel, `v / max(‖v‖, 1e‑12)` (F.normalize).
/// - Every KL is `KL(p_teacher ‖ p_student) = Σ p_T (log p_T − log p_S)` summed over the distribution
///   axis and averaged over rows (PyTorch's `kl_div(..., 'batchmean')` on 2-D inputs).
/// - The teacher is a constant: teacher-side tensors are used without recording a gradient, as in
///   the official code (teacher targets are computed under `no_grad` and detached).

/// Errors of the Distill module (user-facing: bad names, bad state, non-finite losses).
public enum DistillError: Error, CustomStringConvertible, Equatable {
    /// A loss term evaluated to NaN or ±∞.
    case nonFinite(term: String, value: Float)
    /// A loss term needs an input that was not supplied.
    case missingInput(term: String, what: String)
    /// A malformed pixel-queue state.
    case invalidState(String)

    public var description: String {
        switch self {
        case let .nonFinite(term, value):
            return "loss term '\(term)' is not finite (\(value))"
        case let .missingInput(term, what):
            return "loss term '\(term)' needs \(what), which was not supplied"
        case let .invalidState(m): return "pixel queue state: \(m)"
        }
    }
}

/// The tensor itself when it does not take part in autodiff, else a detached copy (teacher side).
@inline(__always)
func constant(_ t: Tensor) -> Tensor { t.requiresGrad ? t.detached() : t }

/// Checks that a feature map is 4-D NHWC and returns (B, A, C).
func mapDims(_ t: Tensor, _ op: String) -> (b: Int, a: Int, c: Int) {
    precondition(t.rank == 4, "\(op): feature maps must be (B, H, W, C), got shape \(t.shape)")
    return (t.shape[0], t.shape[1] * t.shape[2], t.shape[3])
}

// MARK: - Eq. 2: PD

/// L_PD (Eq. 2, spec §1.4/§1.6): (1/B) Σ_b ω_{k_b} · mean_pixels (x̂_S − x̃)², ω = max(α²/σ², 1).
///
/// `studentPrediction` x̂_S and `target` x̃ are images (B, H, W, 3); `gridIndices` are the students'
/// integer grid indices i₀ (one per sample). A thin wrapper of `truncatedSNRLoss` (Diffusion module),
/// named for the objective; equal to the official `max(MSE_x, MSE_ε)`.
public func pdMSELoss(studentPrediction: Tensor, target: Tensor, gridIndices: [Int]) -> Tensor {
    precondition(studentPrediction.shape == target.shape,
                 "pdMSELoss: prediction \(studentPrediction.shape) and target \(target.shape) differ")
    precondition(gridIndices.count == studentPrediction.shape[0],
                 "pdMSELoss: \(gridIndices.count) grid indices for a batch of \(studentPrediction.shape[0])")
    return truncatedSNRLoss(xhat: studentPrediction, target: constant(target), at: gridIndices)
}

// MARK: - Eq. 4: CFD

/// L_CFD (Eq. 4, spec §4.1): (1/B) Σ_b KL( softmax(f^T_b/τ) ‖ softmax(f^S_b) ).
///
/// `teacherPooled` f^T and `studentPooled` f^S are the classifier's pooled vectors (B, C); the softmax
/// runs over the C channels. τ is applied to the teacher only, no τ² factor (RCFD's choice, §4.1).
/// With τ ≠ 1 the loss is positive even when f^S = f^T; its minimum is at f^S = f^T/τ + const.
public func cfdLoss(teacherPooled: Tensor, studentPooled: Tensor, tau: Float) -> Tensor {
    precondition(teacherPooled.rank == 2 && teacherPooled.shape == studentPooled.shape,
                 "cfdLoss: pooled vectors must both be (B, C), got \(teacherPooled.shape) and \(studentPooled.shape)")
    return klDivergence(teacherLogits: constant(teacherPooled), studentLogits: studentPooled, tauTeacher: tau, tauStudent: 1)
}

// MARK: - Eq. 6: II_P2P

/// L_II_P2P (Eq. 6, spec §4.3): (1/(B·A)) Σ_{b,a} KL( softmax(M^T_b[a,:]/τ) ‖ softmax(M^S_b[a,:]/τ) ),
/// M_b = F̄_b F̄_bᵀ (A × A), F̄ = norm(F) as (B, A, C).
///
/// `teacher` F^T and `student` F^S are maps (B, H, W, C). τ on both sides, no τ² factor. The Table 3
/// ablation term; the official training script never selects it (spec §4.3). Memory O(B·A²).
public func iiP2PLoss(teacher: Tensor, student: Tensor, tau: Float) -> Tensor {
    let (b, a, c) = mapDims(student, "iiP2PLoss")
    precondition(teacher.shape == student.shape, "iiP2PLoss: teacher \(teacher.shape) and student \(student.shape) differ")
    let tn = Autograd.noGrad { constant(teacher).l2Normalized(axis: -1).reshaped([b, a, c]) }
    let sn = student.l2Normalized(axis: -1).reshaped([b, a, c])
    let mt = Autograd.noGrad { matmul(tn, tn, transB: true) }      // (B, A, A)
    let ms = matmul(sn, sn, transB: true)
    return klDivergence(teacherLogits: mt, studentLogits: ms, tauTeacher: tau, tauStudent: tau)
}

// MARK: - Eq. 7: IS_P2P

/// L_IS_P2P (Eq. 7, spec §4.2): (1/(B²·A)) Σ_{i,j,a} KL( softmax(R^T[i,j,a,:]/τ) ‖ softmax(R^S[i,j,a,:]/τ) ),
/// R[i,j,a,a′] = ⟨F̄_i[a], F̄_j[a′]⟩ with F̄ = norm(F) as (B, A, C); the softmax runs over a′.
///
/// `teacher` F^T and `student` F^S are maps (B, H, W, C). τ on both sides, no τ² factor; N in Eq. 7
/// is the batch passed here (the per-GPU batch in the official code, D7).
///
/// Blocked: the B×B×A×A relation tensor is never built. For each block of `blockSize` samples i the
/// relations of its pixels with every pixel of the batch (`blockSize·A × B·A`, teacher and student)
/// are formed, the row KLs accumulated, and the gradient with respect to F̄^S accumulated
/// (dF̄_i += G_i F̄, dF̄ += G_iᵀ F̄_i with G = (q − p)/(τ·B²·A)); the gradient flows on to F^S through
/// the recorded L2 normalisation. Peak memory grows like B·A² (2·blockSize·A·B·A floats of scratch
/// plus one B·A·C gradient), not B²·A². Equal to `isP2PLossDirect` to Float32 round-off.
public func isP2PLoss(teacher: Tensor, student: Tensor, tau: Float, blockSize: Int = 1) -> Tensor {
    let (b, a, c) = mapDims(student, "isP2PLoss")
    precondition(teacher.shape == student.shape, "isP2PLoss: teacher \(teacher.shape) and student \(student.shape) differ")
    precondition(tau > 0, "isP2PLoss: τ must be > 0, got \(tau)")
    precondition(blockSize >= 1, "isP2PLoss: blockSize must be ≥ 1, got \(blockSize)")
    let tn = Autograd.noGrad { constant(teacher).l2Normalized(axis: -1) }
    let sn = student.l2Normalized(axis: -1)                       // (B, H, W, C), rows = pixels
    let wantGrad = Tensor.wouldRecord([sn])
    let (loss, grad) = blockedRelationKL(teacher: tn.data, student: sn.data, samples: b, pixels: a, channels: c,
                                         tau: Double(tau), blockSize: blockSize, gradient: wantGrad)
    let out = Tensor(scalar: Float(loss))
    return Tensor.customOp(output: out, inputs: [sn]) { _, g in
        guard let grad, sn.requiresGrad else { return }
        let gv = g.data[0], d = sn.gradBuffer()
        grad.withUnsafeBufferPointer { gp in for i in 0..<gp.count { d[i] += gv * gp[i] } }
    }
}

/// L_IS_P2P (Eq. 7) built op by op: the full (B·A × B·A) relation matrices of teacher and student,
/// then a KL over rows of length A. Memory O(B²·A²). The reference for `isP2PLoss` (same value and
/// gradient) and the "direct" column of the memory report; also what the official code computes.
public func isP2PLossDirect(teacher: Tensor, student: Tensor, tau: Float) -> Tensor {
    _ = mapDims(student, "isP2PLossDirect")
    precondition(teacher.shape == student.shape, "isP2PLossDirect: teacher \(teacher.shape) and student \(student.shape) differ")
    let rt = Autograd.noGrad { isP2PRelationRows(constant(teacher)) }
    let rs = isP2PRelationRows(student)
    return klDivergence(teacherLogits: rt, studentLogits: rs, tauTeacher: tau, tauStudent: tau)
}

/// The inter-sample relations of Eq. 7 for one map, R[i,j,a,a′] = ⟨F̄_i[a], F̄_j[a′]⟩ with F̄ = norm(F),
/// as rows of length A (B·A·B × A): `map` F is (B, H, W, C). Built as the (B·A × B·A) matrix F̄F̄ᵀ, whose
/// rows of length A are (i, a, j), a permutation of the spec's (i, j, a) rows (the row average is the
/// same). Memory O(B²·A²): used by `isP2PLossDirect` and by the loss-term diagnostics' relation entropy
/// (softmax of these rows divided by τ), never by the training loss (`isP2PLoss` is blocked).
public func isP2PRelationRows(_ map: Tensor) -> Tensor {
    let (b, a, c) = mapDims(map, "isP2PRelationRows")
    let f = map.l2Normalized(axis: -1).reshaped([b * a, c])
    return matmul(f, f, transB: true).reshaped([b * a * b, a])
}

/// The blocked IS_P2P kernel on normalised pixel rows (B·A, C). Returns the loss (Float64) and, if
/// asked, ∂loss/∂student rows (B·A·C floats).
func blockedRelationKL(teacher t: UnsafePointer<Float>, student s: UnsafePointer<Float>, samples b: Int, pixels a: Int,
                       channels c: Int, tau: Double, blockSize: Int, gradient: Bool) -> (Double, [Float]?) {
    let n = b * a
    let bs = min(blockSize, b)
    let rowsMax = bs * a
    // Scratch: teacher relations, student relations (overwritten by G in place), per block.
    var rt = [Float](repeating: 0, count: rowsMax * n)
    var rs = [Float](repeating: 0, count: rowsMax * n)
    var grad: [Float]? = gradient ? [Float](repeating: 0, count: n * c) : nil
    // One row of the block (n = B·A relations): log p, log q, p, q.
    let rowScratch = UnsafeMutablePointer<Double>.allocate(capacity: 4 * n)
    defer { rowScratch.deallocate() }
    let logP = rowScratch, logQ = rowScratch + n, expP = rowScratch + 2 * n, expQ = rowScratch + 3 * n
    let invTau = 1 / tau
    let scale = 1 / (Double(b) * Double(b) * Double(a))
    var total = 0.0
    var i0 = 0
    while i0 < b {
        let nb = min(bs, b - i0), rows = nb * a
        rt.withUnsafeMutableBufferPointer { rtp in rs.withUnsafeMutableBufferPointer { rsp in
            // R_block = F̄[i0·A ..< (i0+nb)·A] · F̄ᵀ : (rows × n).
            sgemmParallel(transA: false, transB: true, m: rows, n: n, k: c, a: t + i0 * a * c, b: t, c: rtp.baseAddress!)
            sgemmParallel(transA: false, transB: true, m: rows, n: n, k: c, a: s + i0 * a * c, b: s, c: rsp.baseAddress!)
            // Row r of the block holds B segments of A relations (j = 0 ..< B), each its own log-softmax. The whole row's
            // log-softmaxes and then e^{log p}, e^{log q} are taken at once (logSoftmaxRows64 and DetMath.exp on vector
            // lanes: the scalar functions' bits); the KL sums and the stored gradient are the same in-order loops as
            // per segment before (a segment of rsp is overwritten only after the whole row was read, and each segment's
            // values depend on that segment only).
            for r in 0..<rows {
                let off = r * n
                logSoftmaxRows64(rtp.baseAddress! + off, scale: invTau, rows: b, n: a, into: logP)
                logSoftmaxRows64(rsp.baseAddress! + off, scale: invTau, rows: b, n: a, into: logQ)
                DetMath.exp(logP, into: expP, count: n)
                DetMath.exp(logQ, into: expQ, count: n)
                for j in 0..<b {
                    var kl = 0.0
                    for k in j * a ..< (j + 1) * a {
                        let p = expP[k]
                        kl += p * (logP[k] - logQ[k])
                        // G = ∂loss/∂R^S = (q − p)/(τ·B²·A), stored over the student relations.
                        rsp[off + k] = Float((expQ[k] - p) * invTau * scale)
                    }
                    total += kl
                }
            }
            if gradient {
                grad!.withUnsafeMutableBufferPointer { gp in
                    let g = gp.baseAddress!
                    // dF̄_block += G · F̄  (rows × n)·(n × C)
                    sgemmParallel(transA: false, transB: false, m: rows, n: c, k: n, a: rsp.baseAddress!, b: s,
                          beta: 1, c: g + i0 * a * c)
                    // dF̄ += Gᵀ · F̄_block  (n × rows)·(rows × C)
                    sgemmParallel(transA: true, transB: false, m: n, n: c, k: rows, a: rsp.baseAddress!, lda: n,
                          b: s + i0 * a * c, beta: 1, c: g)
                }
            }
        } }
        i0 += nb
    }
    return (total * scale, grad)
}

// MARK: - Eq. 8–9: M_P2P (formula without the head)

/// The M_P2P formula (Eq. 8–9, spec §4.4 steps 1, 4, 5) on pixel rows, without the projection head:
/// t = norm(teacherPixels), s = norm(studentPixels), P = pixels·Eᵀ/τ_c,
/// L = factor · τ_kd² · (1/N) Σ_rows KL( softmax(P^T/τ_kd) ‖ softmax(P^S/τ_kd) ).
///
/// `teacherPixels` and `studentPixels` are (N, C) pixel rows (N = B·A), or maps (B, H, W, C) (then
/// N = B·A); `embeddings` E is (V, C), a constant (the queue's rows, already unit length).
/// `mP2PLoss` is this function applied to `head(F^S)`.
///
/// `observe`, when given, receives the relation logits (P^T/τ_kd, P^S/τ_kd), each (N, V), for diagnostics.
public func mP2PLogitLoss(teacherPixels: Tensor, studentPixels: Tensor, embeddings: Tensor,
                          tauContrast: Float, tauKD: Float, factor: Float = 1,
                          observe: ((_ teacher: Tensor, _ student: Tensor) -> Void)? = nil) -> Tensor {
    precondition(teacherPixels.shape == studentPixels.shape,
                 "mP2PLogitLoss: teacher \(teacherPixels.shape) and student \(studentPixels.shape) differ")
    let c = studentPixels.shape.last ?? 0
    precondition(embeddings.rank == 2 && embeddings.shape[1] == c,
                 "mP2PLogitLoss: embeddings must be (V, \(c)), got \(embeddings.shape)")
    precondition(tauContrast > 0 && tauKD > 0, "mP2PLogitLoss: temperatures must be > 0 (τ_c=\(tauContrast), τ_kd=\(tauKD))")
    let n = studentPixels.count / max(c, 1)
    let e = constant(embeddings)
    let pt = Autograd.noGrad {
        matmul(constant(teacherPixels).l2Normalized(axis: -1).reshaped([n, c]), e, transB: true).scaled(1 / tauContrast)
    }
    let ps = matmul(studentPixels.l2Normalized(axis: -1).reshaped([n, c]), e, transB: true).scaled(1 / tauContrast)
    let kl = klDivergence(teacherLogits: pt, studentLogits: ps, tauTeacher: tauKD, tauStudent: tauKD)
    if let observe { Autograd.noGrad { observe(pt.scaled(1 / tauKD), constant(ps).scaled(1 / tauKD)) } }
    let k = factor * tauKD * tauKD
    return k == 1 ? kl : kl.scaled(k)
}
