import Foundation

/// Single-head scaled dot-product attention: out = softmax(q·kᵀ/√C)·v over keys.
///
/// q, k, v: (B, N, C) — for NHWC images, N = H·W pixels and C channels, exactly DDPM's AttnBlock
/// (spec §2.2). Built from batched matmul and softmax so its backward is theirs:
/// dP = dO·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS·k/√C, dk = dSᵀ·q/√C, dv = Pᵀ·dO.
public func attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor {
    guard q.rank == 3, q.shape == k.shape, q.shape == v.shape else {
        shapeFailure(ShapeError("attention", "q \(fmt(q.shape)), k \(fmt(k.shape)), v \(fmt(v.shape)) must be equal (B, N, C)"))
    }
    let scale = 1 / Float(q.shape[2]).squareRoot()
    let p = matmul(q, k, transB: true).scaled(scale).softmax(axis: -1)
    return matmul(p, v)
}

/// Inverted dropout: zero each element with probability `p` and scale the rest by 1/(1 − p).
/// Identity when not training or p = 0. The mask comes from `rng`, so runs are reproducible.
extension Tensor {
public func dropout(p: Float, training: Bool, rng: inout RNG) -> Tensor {
    let x = self
    precondition(p >= 0 && p < 1, "dropout: probability must be in [0, 1), got \(p)")
    if !training || p == 0 { return x }
    let keep = 1 - p
    var mask = [Float](repeating: 0, count: x.count)
    for i in 0..<x.count { mask[i] = rng.uniform() < Double(keep) ? 1 / keep : 0 }
    let out = Tensor(uninitialized: x.shape)
    for i in 0..<x.count { out.data[i] = x.data[i] * mask[i] }
    return out.recording([x]) { _, g in
        let d = x.gradBuffer()
        for i in 0..<x.count { d[i] += g.data[i] * mask[i] }
    }
}
}
