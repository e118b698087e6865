import Foundation

/// GroupNorm and BatchNorm over NHWC tensors (channels last).
///
/// Both normalise x̂ = (x − μ)·rstd with rstd = 1/√(var + eps) (biased variance) and apply a per-channel
/// affine y = γ x̂ + β. The shared backward, for a set S of N elements normalised together:
///   dx = rstd · (dx̂ − mean_S(dx̂) − x̂ · mean_S(dx̂ ⊙ x̂)),   dx̂ = dy ⊙ γ,
///   dγ = Σ dy ⊙ x̂,   dβ = Σ dy.
/// Statistics accumulate in Float64.

/// GroupNorm (Wu & He): channels split into `groups` contiguous groups; statistics per (sample, group)
/// over the spatial positions and the group's channels. x: (B, …, C), γ, β: (C).
public func groupNorm(_ x: Tensor, groups: Int, weight gamma: Tensor, bias beta: Tensor, eps: Float = 1e-5) -> Tensor {
    let c = x.shape.last ?? 0
    guard x.rank >= 2, groups > 0, c % groups == 0, gamma.shape == [c], beta.shape == [c] else {
        shapeFailure(ShapeError("groupNorm", "input \(fmt(x.shape)), \(groups) groups, weight \(fmt(gamma.shape)), bias \(fmt(beta.shape))"))
    }
    let b = x.shape[0], a = x.count / (b * c), cg = c / groups
    let n = Double(a * cg)
    let out = Tensor(uninitialized: x.shape)
    var mean = [Float](repeating: 0, count: b * groups), rstd = [Float](repeating: 0, count: b * groups)
    let px = SendablePtr(x.data), py = SendablePtr(out.data), pg = SendablePtr(gamma.data), pb = SendablePtr(beta.data)
    mean.withUnsafeMutableBufferPointer { mb in rstd.withUnsafeMutableBufferPointer { rb in
        let pm = SendablePtr(mb.baseAddress!), pr = SendablePtr(rb.baseAddress!)
        parallelRange(b, minChunk: 1) { s, e in
            for bb in s..<e {
                let xb = px.p + bb * a * c, yb = py.p + bb * a * c
                var sum = [Double](repeating: 0, count: groups), sq = [Double](repeating: 0, count: groups)
                for p in 0..<a { for g in 0..<groups {
                    var s1 = 0.0, s2 = 0.0
                    let row = xb + p * c + g * cg
                    for k in 0..<cg { let v = Double(row[k]); s1 += v; s2 += v * v }
                    sum[g] += s1; sq[g] += s2
                } }
                for g in 0..<groups {
                    let m = sum[g] / n
                    let v = max(sq[g] / n - m * m, 0)
                    pm.p[bb * groups + g] = Float(m)
                    pr.p[bb * groups + g] = Float(1 / (v + Double(eps)).squareRoot())
                }
                for p in 0..<a { for g in 0..<groups {
                    let m = pm.p[bb * groups + g], r = pr.p[bb * groups + g]
                    for k in 0..<cg {
                        let ch = g * cg + k, i = p * c + ch
                        yb[i] = (xb[i] - m) * r * pg.p[ch] + pb.p[ch]
                    }
                } }
            }
        }
    } }
    return out.recording([x, gamma, beta]) { _, gOut in
        // Parallel over samples: each sample's dx is independent; per-sample partial sums of dγ, dβ
        // are reduced in sample order afterwards, so the result does not depend on the thread count.
        var partial = [Double](repeating: 0, count: b * 2 * c)
        let dx = x.requiresGrad ? SendablePtr(x.gradBuffer()) : nil
        let dy = SendablePtr(gOut.data)
        let (meanC, rstdC) = (mean, rstd)
        partial.withUnsafeMutableBufferPointer { pb in meanC.withUnsafeBufferPointer { mb in rstdC.withUnsafeBufferPointer { rb in
            let part = SendablePtr(pb.baseAddress!), pm = SendablePtr(mb.baseAddress!), pr = SendablePtr(rb.baseAddress!)
            parallelRange(b, minChunk: 1) { s, e in
                for bb in s..<e {
                    let xb = px.p + bb * a * c, dyb = dy.p + bb * a * c
                    let dg = part.p + bb * 2 * c, db = dg + c
                    for g in 0..<groups {
                        let m = pm.p[bb * groups + g], r = pr.p[bb * groups + g]
                        var sdxh = 0.0, sdxhx = 0.0
                        for p in 0..<a {
                            let base = p * c + g * cg
                            var s1: Float = 0, s2: Float = 0
                            for k in 0..<cg {
                                let ch = g * cg + k, i = base + k
                                let xh = (xb[i] - m) * r
                                let dxh = dyb[i] * pg.p[ch]
                                s1 += dxh; s2 += dxh * xh
                                dg[ch] += Double(dyb[i] * xh); db[ch] += Double(dyb[i])
                            }
                            sdxh += Double(s1); sdxhx += Double(s2)
                        }
                        if let dx {
                            let m1 = Float(sdxh / n), m2 = Float(sdxhx / n)
                            let dxb = dx.p + bb * a * c
                            for p in 0..<a {
                                let base = p * c + g * cg
                                for k in 0..<cg {
                                    let ch = g * cg + k, i = base + k
                                    let xh = (xb[i] - m) * r
                                    dxb[i] += r * (dyb[i] * pg.p[ch] - m1 - xh * m2)
                                }
                            }
                        }
                    }
                }
            }
        } } }
        if gamma.requiresGrad || beta.requiresGrad {
            var dgamma = [Double](repeating: 0, count: c), dbeta = [Double](repeating: 0, count: c)
            for bb in 0..<b { for k in 0..<c { dgamma[k] += partial[bb * 2 * c + k]; dbeta[k] += partial[bb * 2 * c + c + k] } }
            if gamma.requiresGrad { let d = gamma.gradBuffer(); for k in 0..<c { d[k] += Float(dgamma[k]) } }
            if beta.requiresGrad { let d = beta.gradBuffer(); for k in 0..<c { d[k] += Float(dbeta[k]) } }
        }
    }
}

/// BatchNorm over all positions of all samples, per channel (last axis). x: (…, C).
///
/// Training mode normalises with the batch statistics and updates the running statistics in place
/// (PyTorch: running = (1 − momentum)·running + momentum·batch, with the unbiased variance).
/// Evaluation mode uses the running statistics; its backward is the affine map dx = dy·γ·rstd
/// (the frozen classifier: gradients flow through it into the student's image).
public func batchNorm(_ x: Tensor, weight gamma: Tensor, bias beta: Tensor, runningMean: Tensor, runningVar: Tensor,
                      training: Bool, momentum: Float = 0.1, eps: Float = 1e-5) -> Tensor {
    let c = x.shape.last ?? 0
    guard gamma.shape == [c], beta.shape == [c], runningMean.shape == [c], runningVar.shape == [c] else {
        shapeFailure(ShapeError("batchNorm", "input \(fmt(x.shape)), weight \(fmt(gamma.shape)), bias \(fmt(beta.shape)), running \(fmt(runningMean.shape))/\(fmt(runningVar.shape))"))
    }
    let rows = x.count / max(c, 1)
    var mean = [Float](repeating: 0, count: c), rstd = [Float](repeating: 0, count: c)
    if training {
        precondition(rows > 1, "batchNorm: training mode needs more than one value per channel, got input \(fmt(x.shape))")
        var s1 = [Double](repeating: 0, count: c), s2 = [Double](repeating: 0, count: c)
        for r in 0..<rows { let row = x.data + r * c; for k in 0..<c { let v = Double(row[k]); s1[k] += v; s2[k] += v * v } }
        for k in 0..<c {
            let m = s1[k] / Double(rows)
            let v = max(s2[k] / Double(rows) - m * m, 0)
            mean[k] = Float(m)
            rstd[k] = Float(1 / (v + Double(eps)).squareRoot())
            runningMean.data[k] = (1 - momentum) * runningMean.data[k] + momentum * Float(m)
            runningVar.data[k] = (1 - momentum) * runningVar.data[k] + momentum * Float(v * Double(rows) / Double(rows - 1))
        }
    } else {
        for k in 0..<c { mean[k] = runningMean.data[k]; rstd[k] = 1 / (runningVar.data[k] + eps).squareRoot() }
    }
    let out = Tensor(uninitialized: x.shape)
    let px = SendablePtr(x.data), py = SendablePtr(out.data)
    let scale = (0..<c).map { rstd[$0] * gamma.data[$0] }
    let shift = (0..<c).map { beta.data[$0] - mean[$0] * scale[$0] }
    scale.withUnsafeBufferPointer { sc in shift.withUnsafeBufferPointer { sh in
        let psc = SendablePtr(sc.baseAddress!), psh = SendablePtr(sh.baseAddress!)
        parallelRange(rows, minChunk: max(1, 16384 / max(c, 1))) { s, e in
            for r in s..<e { for k in 0..<c { py.p[r * c + k] = px.p[r * c + k] * psc.p[k] + psh.p[k] } }
        }
    } }
    return out.recording([x, gamma, beta]) { _, gOut in
        let dy = gOut.data
        var dgamma = [Double](repeating: 0, count: c), dbeta = [Double](repeating: 0, count: c)
        for r in 0..<rows { for k in 0..<c {
            let i = r * c + k
            dgamma[k] += Double(dy[i] * (x.data[i] - mean[k]) * rstd[k]); dbeta[k] += Double(dy[i])
        } }
        if x.requiresGrad {
            let dx = x.gradBuffer()
            if training {
                let n = Float(rows)
                // Σ dx̂ = γ Σ dy and Σ dx̂ x̂ = γ Σ dy x̂ per channel.
                for r in 0..<rows { for k in 0..<c {
                    let i = r * c + k
                    let xh = (x.data[i] - mean[k]) * rstd[k]
                    dx[i] += rstd[k] * gamma.data[k] * (dy[i] - Float(dbeta[k]) / n - xh * Float(dgamma[k]) / n)
                } }
            } else {
                for r in 0..<rows { for k in 0..<c { dx[r * c + k] += dy[r * c + k] * gamma.data[k] * rstd[k] } }
            }
        }
        if gamma.requiresGrad { let d = gamma.gradBuffer(); for k in 0..<c { d[k] += Float(dgamma[k]) } }
        if beta.requiresGrad { let d = beta.gradBuffer(); for k in 0..<c { d[k] += Float(dbeta[k]) } }
    }
}
