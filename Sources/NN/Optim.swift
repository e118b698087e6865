import Foundation
import Tensor
import CGemm

/// Adam / AdamW exactly as `torch.optim.Adam(W)` computes them (spec §2.3–2.5 use Adam, β = 0.9/0.999,
/// eps 1e-8): m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + eps).
/// Adam's weight decay adds wd·p to g; AdamW's (decoupled) multiplies p by (1 − lr·wd) first.
public final class Adam {
    public let params: [(String, Tensor)]
    public var lr: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public let decoupled: Bool
    /// Number of updates made so far (PyTorch's per-parameter `step`, identical for all here).
    public private(set) var step = 0
    public private(set) var m: [Tensor]
    public private(set) var v: [Tensor]

    public init(_ params: [(String, Tensor)], lr: Float, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                weightDecay: Float = 0, decoupled: Bool = false) {
        self.params = params
        self.lr = lr
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        m = params.map { Tensor(zeros: $0.1.shape) }
        v = params.map { Tensor(zeros: $0.1.shape) }
    }

    /// One update with the current `lr`. Parameters without a gradient are skipped (as PyTorch does).
    public func update() {
        step += 1
        let bc1 = 1 - DetMath.pow(Double(beta1), step)
        let bc2 = 1 - DetMath.pow(Double(beta2), step)
        let stepSize = Float(Double(lr) / bc1)
        let bc2Sqrt = Float(bc2.squareRoot())
        let (b1, b2, e, wd, lrv, dec) = (beta1, beta2, eps, weightDecay, lr, decoupled)
        _ = GemmDispatch.isa   // the kernel ISA (RDD_KERNELS) is chosen before rdd_adam_update asks for it
        for (i, (_, p)) in params.enumerated() {
            guard let g = p.grad else { continue }
            let pp = SendablePtr(p.data), gp = SendablePtr(g.data), mp = SendablePtr(m[i].data), vp = SendablePtr(v[i].data)
            parallelRange(p.count, minChunk: 1 << 15) { s, eIdx in
                // Without weight decay: the same element operations vectorised in C (adam.c), the same bits.
                if wd == 0, rdd_adam_update(pp.p + s, gp.p + s, mp.p + s, vp.p + s, eIdx - s, b1, b2, stepSize, bc2Sqrt, e) != 0 { return }
                for j in s..<eIdx {
                    var gj = gp.p[j]
                    if wd != 0 {
                        if dec { pp.p[j] *= 1 - lrv * wd } else { gj += wd * pp.p[j] }
                    }
                    let mj = b1 * mp.p[j] + (1 - b1) * gj
                    let vj = b2 * vp.p[j] + (1 - b2) * gj * gj
                    mp.p[j] = mj; vp.p[j] = vj
                    pp.p[j] -= stepSize * mj / (vj.squareRoot() / bc2Sqrt + e)
                }
            }
        }
    }

    /// Zeroes every parameter gradient (keeps the buffers).
    public func zeroGrad() { for (_, p) in params { p.grad?.fill(0) } }

    /// Named state for checkpoints: "m/<name>", "v/<name>" (and `step` separately).
    public func namedState() -> [(String, Tensor)] {
        zip(params, zip(m, v)).flatMap { (pn, mv) in [("m/" + pn.0, mv.0), ("v/" + pn.0, mv.1)] }
    }

    /// Restores the step count (moments are restored in place through `namedState()`).
    public func restore(step: Int) { self.step = step }
}

/// Clips the global L2 norm of the gradients to `maxNorm` as `torch.nn.utils.clip_grad_norm_`:
/// total = √Σ‖g‖²; if total > maxNorm, every gradient is scaled by maxNorm/(total + 1e-6).
/// Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float) -> Float {
    var ss = 0.0
    for p in params { if let g = p.grad { for i in 0..<g.count { ss += Double(g.data[i]) * Double(g.data[i]) } } }
    let total = Float(ss.squareRoot())
    let coef = maxNorm / (total + 1e-6)
    if coef < 1 { for p in params { if let g = p.grad { for i in 0..<g.count { g.data[i] *= coef } } } }
    return total
}

/// Learning-rate schedules as functions of the number of updates already made (PyTorch's scheduler
/// semantics: the k-th update, k = 0, 1, …, uses lr(k)).
public enum LRSchedule: Equatable, Sendable {
    case constant
    /// `LambdaLR(min(k, w)/w)`: zero at the first update (spec §2.3), then linear to the base lr.
    case linearWarmup(steps: Int)
    /// `CosineAnnealingLR(T_max = total, eta_min = 0)`: base·(1 + cos(πk/total))/2 (spec §2.4).
    case cosine(total: Int)

    public func lr(base: Float, step k: Int) -> Float {
        switch self {
        case .constant: return base
        case .linearWarmup(let w): return w <= 0 ? base : base * Float(min(k, w)) / Float(w)
        case .cosine(let total):
            return Float(Double(base) * (1 + DetMath.cos(Double.pi * Double(k) / Double(max(total, 1)))) / 2)
        }
    }
}

/// Exponential moving average of parameters: ema ← decay·ema + (1 − decay)·θ (spec §2.3, 0.9999).
public final class EMA {
    public let decay: Float
    public let shadow: [(String, Tensor)]
    private let sources: [Tensor]

    public init(_ named: [(String, Tensor)], decay: Float) {
        self.decay = decay
        sources = named.map(\.1)
        shadow = named.map { ($0.0, $0.1.detached()) }
    }

    public func update() {
        let d = decay
        for (s, (_, e)) in zip(sources, shadow) {
            for i in 0..<s.count { e.data[i] = d * e.data[i] + (1 - d) * s.data[i] }
        }
    }
}

/// SGD with momentum and L2 weight decay as `torch.optim.SGD` (dampening 0, no Nesterov):
/// g ← g + wd·p; buf ← μ·buf + g (buf = g at the first step); p ← p − lr·buf. Classifier
/// pre-training (spec §3.3: lr 0.1, momentum 0.9, wd 5e-4).
public final class SGD {
    public let params: [(String, Tensor)]
    public var lr: Float
    public let momentum: Float, weightDecay: Float
    public private(set) var step = 0
    public private(set) var buffers: [Tensor]

    public init(_ params: [(String, Tensor)], lr: Float, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        buffers = params.map { Tensor(zeros: $0.1.shape) }
    }

    public func update() {
        let first = step == 0
        step += 1
        for (i, (_, p)) in params.enumerated() {
            guard let g = p.grad else { continue }
            let b = buffers[i]
            for j in 0..<p.count {
                let gj = g.data[j] + weightDecay * p.data[j]
                b.data[j] = first ? gj : momentum * b.data[j] + gj
                p.data[j] -= lr * b.data[j]
            }
        }
    }

    public func zeroGrad() { for (_, p) in params { p.grad?.fill(0) } }
    public func namedState() -> [(String, Tensor)] { zip(params, buffers).map { ("momentum/" + $0.0.0, $0.1) } }
    public func restore(step: Int) { self.step = step }
}
