import Foundation
import Tensor
import NN
import RunModel
import Diffusion

/// The U-Net's fixed time table (spec §2.2, check S3) as a tensor: `timeEmbeddingTable` of the
/// Diffusion module computes it with the official code's float32 arithmetic.
public func sinusoidalTimeTable(rows: Int, dim: Int) -> Tensor {
    do { return Tensor(try timeEmbeddingTable(rows: rows, dim: dim), shape: [rows, dim]) }
    catch { preconditionFailure("sinusoidalTimeTable: \(error)") }
}

/// DDPM's AttnBlock: GN → q, k, v (1×1 convs) → softmax(qkᵀ/√C)v → 1×1 proj (gain 1e-5) → residual.
final class AttnBlock: Module {
    let norm: GroupNorm
    let q: Conv2d, k: Conv2d, v: Conv2d, proj: Conv2d
    init(_ c: Int, groups: Int, rng: inout RNG) {
        norm = GroupNorm(groups: groups, channels: c)
        q = Conv2d(c, c, kernel: 1, init: .xavier(gain: 1), rng: &rng)
        k = Conv2d(c, c, kernel: 1, init: .xavier(gain: 1), rng: &rng)
        v = Conv2d(c, c, kernel: 1, init: .xavier(gain: 1), rng: &rng)
        proj = Conv2d(c, c, kernel: 1, init: .xavier(gain: 1e-5), rng: &rng)
        super.init()
        child("group_norm", norm); child("proj_q", q); child("proj_k", k); child("proj_v", v); child("proj", proj)
    }
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let hn = norm(x)
        let out = attention(q: q(hn).reshaped([b, h * w, c]), k: k(hn).reshaped([b, h * w, c]), v: v(hn).reshaped([b, h * w, c]))
        return x + proj(out.reshaped([b, h, w, c]))
    }
}

/// DDPM's ResBlock: GN → Swish → conv3×3; + Linear(Swish(temb)); GN → Swish → Dropout → conv3×3
/// (gain 1e-5); + shortcut (1×1 conv when channels change); then attention if enabled.
final class ResBlock: Module {
    let norm1: GroupNorm, conv1: Conv2d, tembProj: Linear, norm2: GroupNorm, conv2: Conv2d
    let shortcut: Conv2d?
    let attn: AttnBlock?
    let dropout: Float
    init(_ cin: Int, _ cout: Int, tdim: Int, dropout: Float, attn useAttn: Bool, groups: Int, rng: inout RNG) {
        norm1 = GroupNorm(groups: groups, channels: cin)
        conv1 = Conv2d(cin, cout, kernel: 3, padding: 1, init: .xavier(gain: 1), rng: &rng)
        tembProj = Linear(tdim, cout, xavierGain: 1, rng: &rng)
        norm2 = GroupNorm(groups: groups, channels: cout)
        conv2 = Conv2d(cout, cout, kernel: 3, padding: 1, init: .xavier(gain: 1e-5), rng: &rng)
        shortcut = cin != cout ? Conv2d(cin, cout, kernel: 1, init: .xavier(gain: 1), rng: &rng) : nil
        attn = useAttn ? AttnBlock(cout, groups: groups, rng: &rng) : nil
        self.dropout = dropout
        super.init()
        child("block1.0", norm1); child("block1.2", conv1); child("temb_proj.1", tembProj)
        child("block2.0", norm2); child("block2.3", conv2)
        if let shortcut { child("shortcut", shortcut) }
        if let attn { child("attn", attn) }
    }
    func callAsFunction(_ x: Tensor, _ temb: Tensor, rng: inout RNG) -> Tensor {
        let (b, c) = (x.shape[0], conv1.weight.shape[0])
        var h = conv1(norm1.withSiLU(x))
        h = h + tembProj(temb.silu()).reshaped([b, 1, 1, c])
        h = conv2(norm2.withSiLU(h).dropout(p: dropout, training: isTraining, rng: &rng))
        h = h + (shortcut.map { $0(x) } ?? x)
        return attn.map { $0(h) } ?? h
    }
}

/// The DDPM U-Net (spec §2.2), NHWC. Parameter names follow pytorch-ddpm's `model.py`
/// (time_embedding.timembedding.{1,3}, head, downblocks.N, middleblocks.N, upblocks.N, tail.{0,2}),
/// so an HDF5 checkpoint loads into that module with `load_state_dict`.
public final class UNet: Module {
    public let config: UNetConfig
    /// The fixed sinusoidal table: PyTorch's frozen `nn.Embedding` weight, a parameter that never
    /// trains (counted in the paper's 35,877,507).
    let timeTable: Tensor
    let temb1: Linear, temb2: Linear
    let yEmbedding: Linear?
    let head: Conv2d
    let down: [Module], middle: [ResBlock], up: [Module]
    let tailNorm: GroupNorm, tailConv: Conv2d

    public init(_ c: UNetConfig, seed: UInt64) {
        let problems = c.validationErrors()
        precondition(problems.isEmpty, "UNet: invalid configuration: " + problems.joined(separator: "; "))
        var rng = RNG(seed: seed)
        config = c
        let tdim = c.ch * 4
        timeTable = sinusoidalTimeTable(rows: c.timeRows, dim: c.ch)
        temb1 = Linear(c.ch, tdim, xavierGain: 1, rng: &rng)
        temb2 = Linear(tdim, tdim, xavierGain: 1, rng: &rng)
        yEmbedding = c.numClasses.map { Linear($0, tdim, xavierGain: 1, rng: &rng) }
        head = Conv2d(c.inChannels, c.ch, kernel: 3, padding: 1, init: .xavier(gain: 1), rng: &rng)
        var chs = [c.ch], now = c.ch
        var down: [Module] = []
        for (i, mult) in c.chMult.enumerated() {
            for _ in 0..<c.numResBlocks {
                down.append(ResBlock(now, c.ch * mult, tdim: tdim, dropout: c.dropout, attn: c.attn.contains(i), groups: c.groups, rng: &rng))
                now = c.ch * mult
                chs.append(now)
            }
            if i != c.chMult.count - 1 {
                down.append(Conv2d(now, now, kernel: 3, stride: 2, padding: 1, init: .xavier(gain: 1), rng: &rng))
                chs.append(now)
            }
        }
        middle = [ResBlock(now, now, tdim: tdim, dropout: c.dropout, attn: true, groups: c.groups, rng: &rng),
                  ResBlock(now, now, tdim: tdim, dropout: c.dropout, attn: false, groups: c.groups, rng: &rng)]
        var up: [Module] = []
        for (i, mult) in c.chMult.enumerated().reversed() {
            for _ in 0...c.numResBlocks {
                up.append(ResBlock(chs.removeLast() + now, c.ch * mult, tdim: tdim, dropout: c.dropout, attn: c.attn.contains(i), groups: c.groups, rng: &rng))
                now = c.ch * mult
            }
            if i != 0 { up.append(Conv2d(now, now, kernel: 3, padding: 1, init: .xavier(gain: 1), rng: &rng)) }
        }
        self.down = down
        self.up = up
        tailNorm = GroupNorm(groups: c.groups, channels: now)
        tailConv = Conv2d(now, c.inChannels, kernel: 3, padding: 1, init: .xavier(gain: 1e-5), rng: &rng)
        super.init()
        frozenParameter("time_embedding.timembedding.0.weight", timeTable)
        child("time_embedding.timembedding.1", temb1)
        child("time_embedding.timembedding.3", temb2)
        if let yEmbedding { child("y_embedding", yEmbedding) }
        child("head", head)
        for (i, m) in down.enumerated() { child(m is ResBlock ? "downblocks.\(i)" : "downblocks.\(i).main", m) }
        for (i, m) in middle.enumerated() { child("middleblocks.\(i)", m) }
        for (i, m) in up.enumerated() { child(m is ResBlock ? "upblocks.\(i)" : "upblocks.\(i).main", m) }
        child("tail.0", tailNorm)
        child("tail.2", tailConv)
    }

    /// x̂ = UNet(x, k): x (B, H, W, C) in NHWC, `timesteps` the integer grid indices k ∈ [0, timeRows)
    /// (spec §1.2), `labels` class indices when conditional. `rng` drives dropout in training mode.
    public func callAsFunction(_ x: Tensor, timesteps: [Int], labels: [Int]? = nil, rng: inout RNG) -> Tensor {
        let b = x.shape[0]
        precondition(timesteps.count == b, "UNet: \(timesteps.count) timesteps for a batch of \(b)")
        var temb = temb2(temb1(timeTable.gatherRows(timesteps)).silu())
        if let yEmbedding, let n = config.numClasses {
            guard let labels, labels.count == b, labels.allSatisfy({ $0 >= 0 && $0 < n }) else {
                preconditionFailure("UNet: a class-conditional model needs \(b) labels in 0..<\(n)")
            }
            var onehot = [Float](repeating: 0, count: b * n)
            for (i, y) in labels.enumerated() { onehot[i * n + y] = 1 }
            temb = temb + yEmbedding(Tensor(onehot, shape: [b, n]))
        }
        var h = head(x)
        var hs = [h]
        for m in down {
            if let r = m as? ResBlock { h = r(h, temb, rng: &rng) } else { h = (m as! Conv2d)(h) }
            hs.append(h)
        }
        for r in middle { h = r(h, temb, rng: &rng) }
        for m in up {
            if let r = m as? ResBlock { h = r(Tensor.concat([h, hs.removeLast()], axis: -1), temb, rng: &rng) }
            else { h = (m as! Conv2d)(h.upsampleNearest2x()) }
        }
        return tailConv(tailNorm.withSiLU(h))
    }
}
