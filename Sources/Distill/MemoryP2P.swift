import Tensor
import Models

/// L_M_P2P (Eq. 8–9, spec §4.4) with the projection head and the pixel queue:
/// t = norm(F^T), s = norm(head(F^S)); E = the queue's V contrast rows;
/// P^T = t·Eᵀ/τ_c, P^S = s·Eᵀ/τ_c, both (B·A, V);
/// L = factor · τ_kd² · (1/(B·A)) Σ_{b,a} KL( softmax(P^T[b,a,:]/τ_kd) ‖ softmax(P^S[b,a,:]/τ_kd) ).
///
/// - `teacher` F^T and `student` F^S are maps (B, H, W, C); the head maps C → C channels.
/// - The teacher is detached; gradients reach F^S and the head's parameters.
/// - Queue order follows `queue.mode`: official-code pushes `enqueueKeys` (default norm(F^T)) before
///   E is read (D5), paper pushes them after the loss is computed.
/// - `enqueueKeys`: the keys to push instead of this batch's norm(F^T), e.g. the normalised teacher
///   maps of the whole gathered batch to reproduce the official `all_gather` over GPUs (D3, D7).
/// - Defaults: τ_c = 0.1, τ_kd = 1, factor = 1. The official module has factor = 0.1 = β inside; the
///   objective keeps factor = 1 here and applies β as the term's weight instead (same total).
public func mP2PLoss(teacher: Tensor, student: Tensor, head: ProjectionHead, queue: PixelQueue,
                     tauContrast: Float, tauKD: Float, factor: Float = 1, enqueueKeys: Tensor? = nil,
                     observe: ((_ teacher: Tensor, _ student: Tensor) -> Void)? = nil) -> Tensor {
    let (b, a, c) = mapDims(student, "mP2PLoss")
    precondition(teacher.shape == student.shape, "mP2PLoss: teacher \(teacher.shape) and student \(student.shape) differ")
    precondition(c == queue.channels, "mP2PLoss: maps have \(c) channels, the queue \(queue.channels)")
    let tn = Autograd.noGrad { constant(teacher).l2Normalized(axis: -1) }
    let keys = enqueueKeys.map { k in Autograd.noGrad { constant(k).l2Normalized(axis: -1) } } ?? tn
    if queue.mode.pushesBeforeLoss { queue.push(teacherKeys: keys) }
    let e = queue.contrastEmbeddings()
    let projected = head(student)
    precondition(projected.shape == student.shape, "mP2PLoss: the head maps \(student.shape) to \(projected.shape)")
    let loss = mP2PLogitLoss(teacherPixels: tn.reshaped([b * a, c]), studentPixels: projected.reshaped([b * a, c]),
                             embeddings: e, tauContrast: tauContrast, tauKD: tauKD, factor: factor, observe: observe)
    if !queue.mode.pushesBeforeLoss { queue.push(teacherKeys: keys) }
    return loss
}
