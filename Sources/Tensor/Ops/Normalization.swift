import Foundation
import CGemm

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
    groupNormCore(x, groups: groups, weight: gamma, bias: beta, eps: eps, silu: false)
}

/// SiLU(GroupNorm(x)) as one op, the U-Net's GN → Swish pair (spec §2.2): the same numbers as
/// `groupNorm(...).silu()`, bit for bit, without the intermediate tensor ŷ = GroupNorm(x) — its
/// allocation, one write and two reads of it per pass, and the separate SiLU backward pass
/// (GroupNorm + SiLU were ~6% of a U-Net training step as two ops, docs/benchmarks.md).
/// Backward: dŷ = dy · SiLU′(ŷ), with ŷ recomputed from x and the saved statistics (the same Float
/// expression as the forward). The first backward pass stores dŷ over dy in the output's gradient
/// buffer, which nothing reads after this op (autodiff drops it), so the second pass reads it back;
/// only when the output's gradient is retained (`retainGrad`) is dŷ recomputed in the second pass
/// instead (the sigmoid is the expensive part: computing it twice cost ~2% of a U-Net step).
public func groupNormSiLU(_ x: Tensor, groups: Int, weight gamma: Tensor, bias beta: Tensor, eps: Float = 1e-5) -> Tensor {
    groupNormCore(x, groups: groups, weight: gamma, bias: beta, eps: eps, silu: true)
}

func groupNormCore(_ x: Tensor, groups: Int, weight gamma: Tensor, bias beta: Tensor, eps: Float, silu: Bool) -> Tensor {
    let c = x.shape.last ?? 0
    guard x.rank >= 2, groups > 0, c % groups == 0, gamma.shape == [c], beta.shape == [c] else {
        shapeFailure(ShapeError("groupNorm", "input \(fmt(x.shape)), \(groups) groups, weight \(fmt(gamma.shape)), bias \(fmt(beta.shape))"))
    }
    // NHWC: every loop below runs over the contiguous channel axis of one pixel (vectorised), keeping
    // per-channel Float64 sums; group statistics are then sums of their channels' sums.
    let b = x.shape[0], a = x.count / (b * c), cg = c / groups
    let n = Double(a * cg)
    let out = Tensor(uninitialized: x.shape)
    var mean = [Float](repeating: 0, count: b * groups), rstd = [Float](repeating: 0, count: b * groups)
    let px = SendablePtr(x.data), py = SendablePtr(out.data), pg = SendablePtr(gamma.data), pb = SendablePtr(beta.data)
    _ = GemmDispatch.isa   // the RDD_KERNELS choice, before the C kernels read it
    mean.withUnsafeMutableBufferPointer { mb in rstd.withUnsafeMutableBufferPointer { rb in
        let pm = SendablePtr(mb.baseAddress!), pr = SendablePtr(rb.baseAddress!)
        parallelRange(b, minChunk: 1) { s, e in
            var s1 = [Double](repeating: 0, count: c), s2 = [Double](repeating: 0, count: c)
            var scale = [Float](repeating: 0, count: c), mu = [Float](repeating: 0, count: c)
            for bb in s..<e {
                let xb = px.p + bb * a * c, yb = py.p + bb * a * c
                // AVX-512F and AVX2: the same per-channel sums in C (Sources/CGemm/groupnorm.c, vector lanes along
                // the channels, each sum in pixel order); these loops are the portable path and the reference.
                let inC = s1.withUnsafeMutableBufferPointer { p1 in s2.withUnsafeMutableBufferPointer { p2 in
                    rdd_groupnorm_stats(xb, a, c, p1.baseAddress!, p2.baseAddress!) != 0
                } }
                if !inC {
                    for k in 0..<c { s1[k] = 0; s2[k] = 0 }
                    for p in 0..<a {
                        let row = xb + p * c
                        for k in 0..<c { let v = Double(row[k]); s1[k] += v; s2[k] += v * v }
                    }
                }
                for g in 0..<groups {
                    var g1 = 0.0, g2 = 0.0
                    for k in g * cg ..< (g + 1) * cg { g1 += s1[k]; g2 += s2[k] }
                    let m = g1 / n
                    let r = 1 / (max(g2 / n - m * m, 0) + Double(eps)).squareRoot()
                    pm.p[bb * groups + g] = Float(m)
                    pr.p[bb * groups + g] = Float(r)
                    // y = (x − μ)·(rstd·γ) + β, per channel (μ subtracted first: no cancellation).
                    for k in g * cg ..< (g + 1) * cg { scale[k] = Float(r) * pg.p[k]; mu[k] = Float(m) }
                }
                scale.withUnsafeBufferPointer { sc in mu.withUnsafeBufferPointer { mk in
                    // AVX-512F and AVX2: the loops below in C, the same operations per element (groupnorm.c).
                    if rdd_groupnorm_apply(xb, yb, a, c, mk.baseAddress!, sc.baseAddress!, pb.p, silu ? 1 : 0) != 0 { return }
                    for p in 0..<a {
                        let xr = xb + p * c, yr = yb + p * c
                        if silu {
                            for k in 0..<c { let v = (xr[k] - mk[k]) * sc[k] + pb.p[k]; yr[k] = v * fastSigmoid(v) }
                        } else {
                            for k in 0..<c { yr[k] = (xr[k] - mk[k]) * sc[k] + pb.p[k] }
                        }
                    }
                } }
            }
        }
    } }
    return out.recording([x, gamma, beta]) { outT, gOut in
        let dyInPlace = silu && !outT.retainsGrad
        // Per sample and channel: A = Σ_p dy·x, B = Σ_p dy (Float64). Then, with x̂ = (x − μ)·r,
        //   dγ_k = r·(A_k − μ·B_k),  dβ_k = B_k,
        //   mean_S(dx̂) = Σ_k γ_k B_k / n,  mean_S(dx̂ ⊙ x̂) = Σ_k γ_k dγ_k / n   (over the group's channels),
        //   dx = r·(γ_k dy − m1 − x̂·m2) = dy·(r γ_k) + (x − μ)·(−r² m2) − r m1.
        // Parallel over samples; per-sample dγ, dβ are reduced in sample order afterwards, so the result
        // does not depend on the thread count.
        var partial = [Double](repeating: 0, count: b * 2 * c)
        let (dxBuf, fresh) = x.requiresGrad ? x.gradBufferForWrite() : (nil, false)
        let dx = dxBuf.map { SendablePtr($0) }
        let dy = SendablePtr(gOut.data)
        let (meanC, rstdC) = (mean, rstd)
        partial.withUnsafeMutableBufferPointer { pbuf in meanC.withUnsafeBufferPointer { mb in rstdC.withUnsafeBufferPointer { rb in
            let part = SendablePtr(pbuf.baseAddress!), pm = SendablePtr(mb.baseAddress!), pr = SendablePtr(rb.baseAddress!)
            parallelRange(b, minChunk: 1) { s, e in
                var sa = [Double](repeating: 0, count: c), sb = [Double](repeating: 0, count: c)
                var k1 = [Float](repeating: 0, count: c), k2 = [Float](repeating: 0, count: c), k3 = [Float](repeating: 0, count: c)
                var mu = [Float](repeating: 0, count: c)
                var scale = [Float](repeating: 0, count: c), smu = [Float](repeating: 0, count: c)
                var drow = [Float](repeating: 0, count: c)
                for bb in s..<e {
                    let xb = px.p + bb * a * c, dyb = dy.p + bb * a * c
                    if silu {
                        // ŷ = (x − μ)·(rstd·γ) + β exactly as in the forward (the SiLU's input).
                        for g in 0..<groups {
                            let m = pm.p[bb * groups + g], r = pr.p[bb * groups + g]
                            for k in g * cg ..< (g + 1) * cg { scale[k] = r * pg.p[k]; smu[k] = m }
                        }
                    }
                    for k in 0..<c { sa[k] = 0; sb[k] = 0 }
                    scale.withUnsafeBufferPointer { sc in smu.withUnsafeBufferPointer { mk in drow.withUnsafeMutableBufferPointer { dr in
                        // AVX-512F: this pass in C (groupnorm.c), the same operations per element and each sum in
                        // pixel order; the loops below are the other ISAs' path and the reference.
                        let mode: Int32 = dyInPlace ? 1 : silu ? 2 : 0
                        let inC = sa.withUnsafeMutableBufferPointer { pa in sb.withUnsafeMutableBufferPointer { pbs in
                            rdd_groupnorm_backward_sums(xb, dyb, a, c, mk.baseAddress!, sc.baseAddress!, pb.p, mode, pa.baseAddress!, pbs.baseAddress!) != 0
                        } }
                        if inC { return }
                        for p in 0..<a {
                            let xr = xb + p * c
                            var gr = dyb + p * c
                            if dyInPlace {  // dŷ over dy, for the second pass
                                for k in 0..<c { gr[k] = gr[k] * siluDerivative((xr[k] - mk[k]) * sc[k] + pb.p[k]) }
                            } else if silu {  // this pixel's dŷ into a one-row buffer
                                for k in 0..<c { dr[k] = gr[k] * siluDerivative((xr[k] - mk[k]) * sc[k] + pb.p[k]) }
                                gr = dr.baseAddress!
                            }
                            for k in 0..<c { let d = Double(gr[k]); sa[k] += d * Double(xr[k]); sb[k] += d }
                        }
                    } } }
                    let dg = part.p + bb * 2 * c, db = dg + c
                    for g in 0..<groups {
                        let m = Double(pm.p[bb * groups + g]), r = Double(pr.p[bb * groups + g])
                        var sdxh = 0.0, sdxhx = 0.0
                        for k in g * cg ..< (g + 1) * cg {
                            dg[k] = r * (sa[k] - m * sb[k]); db[k] = sb[k]
                            sdxh += Double(pg.p[k]) * sb[k]; sdxhx += Double(pg.p[k]) * dg[k]
                        }
                        let m1 = sdxh / n, m2 = sdxhx / n
                        for k in g * cg ..< (g + 1) * cg {
                            k1[k] = Float(r * Double(pg.p[k])); k2[k] = Float(-r * r * m2); k3[k] = Float(-r * m1); mu[k] = Float(m)
                        }
                    }
                    if let dx {
                        let dxb = dx.p + bb * a * c
                        k1.withUnsafeBufferPointer { c1 in k2.withUnsafeBufferPointer { c2 in k3.withUnsafeBufferPointer { c3 in
                            mu.withUnsafeBufferPointer { mk in scale.withUnsafeBufferPointer { sc in smu.withUnsafeBufferPointer { sm in
                              drow.withUnsafeMutableBufferPointer { drb in
                                if rdd_groupnorm_backward_dx(xb, dyb, dxb, a, c, c1.baseAddress!, c2.baseAddress!, c3.baseAddress!, mk.baseAddress!,
                                                             sm.baseAddress!, sc.baseAddress!, pb.p, silu && !dyInPlace ? 1 : 0, fresh ? 0 : 1) != 0 { return }
                                for p in 0..<a {
                                    let xr = xb + p * c, dr = dxb + p * c
                                    var gr = dyb + p * c
                                    if silu && !dyInPlace {  // dŷ recomputed as in the first pass
                                        for k in 0..<c { drb[k] = gr[k] * siluDerivative((xr[k] - sm[k]) * sc[k] + pb.p[k]) }
                                        gr = drb.baseAddress!
                                    }
                                    if fresh { for k in 0..<c { dr[k] = gr[k] * c1[k] + (xr[k] - mk[k]) * c2[k] + c3[k] } }
                                    else { for k in 0..<c { dr[k] += gr[k] * c1[k] + (xr[k] - mk[k]) * c2[k] + c3[k] } }
                                }
                              }
                            } } }
                        } } }
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
        _ = GemmDispatch.isa
        parallelRange(rows, minChunk: max(1, 16384 / max(c, 1))) { s, e in
            // The same element operations vectorised in C where the ISA allows (the same bits); else this loop.
            if rdd_channel_affine(px.p + s * c, py.p + s * c, e - s, c, psc.p, psh.p) != 0 { return }
            for r in s..<e { for k in 0..<c { py.p[r * c + k] = px.p[r * c + k] * psc.p[k] + psh.p[k] } }
        }
    } }
    return out.recording([x, gamma, beta]) { _, gOut in
        let dy = gOut.data
        var dgamma = [Double](repeating: 0, count: c), dbeta = [Double](repeating: 0, count: c)
        // The per-channel sums feed γ's and β's gradients and the training-mode dx; a frozen network in evaluation
        // mode (the distillation classifier: gradients flow through it into the student's image only) needs none
        // of them, so they are skipped there — they were computed and dropped (a serial pass over the activations).
        if gamma.requiresGrad || beta.requiresGrad || (training && x.requiresGrad) {
            for r in 0..<rows { for k in 0..<c {
                let i = r * c + k
                dgamma[k] += Double(dy[i] * (x.data[i] - mean[k]) * rstd[k]); dbeta[k] += Double(dy[i])
            } }
        }
        if x.requiresGrad, !training {
            // dx += (dy·γ)·rstd, element by element (each element its own operations, in the old order), over row
            // chunks on the threads.
            let pdx = SendablePtr(x.gradBuffer()), pdy = SendablePtr(dy)
            let pg = SendablePtr(gamma.data)
            rstd.withUnsafeBufferPointer { rs in
                let pr = SendablePtr(rs.baseAddress!)
                parallelRange(rows, minChunk: max(1, 16384 / max(c, 1))) { s, e in
                    for r in s..<e { for k in 0..<c { pdx.p[r * c + k] += pdy.p[r * c + k] * pg.p[k] * pr.p[k] } }
                }
            }
        } else if x.requiresGrad {
            let dx = x.gradBuffer()
            let n = Float(rows)
            // Σ dx̂ = γ Σ dy and Σ dx̂ x̂ = γ Σ dy x̂ per channel.
            for r in 0..<rows { for k in 0..<c {
                let i = r * c + k
                let xh = (x.data[i] - mean[k]) * rstd[k]
                dx[i] += rstd[k] * gamma.data[k] * (dy[i] - Float(dbeta[k]) / n - xh * Float(dgamma[k]) / n)
            } }
        }
        if gamma.requiresGrad { let d = gamma.gradBuffer(); for k in 0..<c { d[k] += Float(dgamma[k]) } }
        if beta.requiresGrad { let d = beta.gradBuffer(); for k in 0..<c { d[k] += Float(dbeta[k]) } }
    }
}

/// Whether the C kernels (groupnorm.c), not the Swift loops, compute GroupNorm's forward and its backward on
/// the selected ISA — for tests, so that a silent fallback cannot pass as the kernels' check.
func groupNormKernelsRun() -> (forward: Bool, backward: Bool) {
    _ = GemmDispatch.isa
    var s = [Double](repeating: 0, count: 2)
    var x: [Float] = [1], p: [Float] = [0]
    return s.withUnsafeMutableBufferPointer { sp in
        x.withUnsafeMutableBufferPointer { xp in
            (rdd_groupnorm_stats(xp.baseAddress!, 1, 1, sp.baseAddress!, sp.baseAddress! + 1) != 0,
             rdd_groupnorm_backward_sums(p, xp.baseAddress!, 1, 1, p, p, p, 0, sp.baseAddress!, sp.baseAddress! + 1) != 0)
        }
    }
}
