import Tensor

/// The layers the paper's networks are built from, each a thin owner of parameters around a Tensor op.

/// 2-D convolution on NHWC input; weight (Cout, Cin, k, k) and bias (Cout) in PyTorch layout.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int, padding: Int

    public enum Initialisation {
        /// Xavier uniform weight with `gain`, zero bias (DDPM U-Net).
        case xavier(gain: Double)
        /// Kaiming normal weight, zero bias (DenseNet).
        case kaimingNormal
        /// PyTorch's default (kaiming_uniform a=√5, bias U(±1/√fan_in)) (projection head).
        case torchDefault
    }

    public init(_ cin: Int, _ cout: Int, kernel k: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                init scheme: Initialisation, rng: inout RNG) {
        precondition(cin > 0 && cout > 0 && k > 0 && stride > 0 && padding >= 0,
                     "Conv2d: invalid configuration cin=\(cin) cout=\(cout) k=\(k) stride=\(stride) padding=\(padding)")
        let shape = [cout, cin, k, k]
        let w: Tensor, b: Tensor?
        switch scheme {
        case .xavier(let gain):
            w = Init.xavierUniform(shape, gain: gain, rng: &rng)
            b = bias ? Tensor(zeros: [cout]) : nil
        case .kaimingNormal:
            w = Init.kaimingNormal(shape, rng: &rng)
            b = bias ? Tensor(zeros: [cout]) : nil
        case .torchDefault:
            w = Init.torchDefault(shape, fanIn: cin * k * k, rng: &rng)
            b = bias ? Init.torchDefault([cout], fanIn: cin * k * k, rng: &rng) : nil
        }
        self.stride = stride
        self.padding = padding
        self.weight = w
        self.bias = b
        super.init()
        parameter("weight", w)
        if let b { parameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// Fully connected layer y = x·Wᵀ + b; weight (out, in).
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inF: Int, _ outF: Int, bias: Bool = true, xavierGain: Double? = nil, rng: inout RNG) {
        if let g = xavierGain {
            weight = Init.xavierUniform([outF, inF], gain: g, rng: &rng)
            self.bias = bias ? Tensor(zeros: [outF]) : nil
        } else {
            weight = Init.torchDefault([outF, inF], fanIn: inF, rng: &rng)
            self.bias = bias ? Init.torchDefault([outF], fanIn: inF, rng: &rng) : nil
        }
        super.init()
        parameter("weight", weight)
        if let b = self.bias { parameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}

/// GroupNorm with affine γ = 1, β = 0 at init; eps 1e-5 (PyTorch default).
public final class GroupNorm: Module {
    public let groups: Int
    public let weight: Tensor, bias: Tensor
    public let eps: Float

    public init(groups: Int, channels: Int, eps: Float = 1e-5) {
        precondition(groups > 0 && channels % groups == 0, "GroupNorm: \(channels) channels not divisible into \(groups) groups")
        self.groups = groups
        self.eps = eps
        weight = Tensor(repeating: 1, shape: [channels])
        bias = Tensor(zeros: [channels])
        super.init()
        parameter("weight", weight)
        parameter("bias", bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps) }
    /// SiLU(GroupNorm(x)) as one fused op (`groupNormSiLU`): the same values as `self(x).silu()`.
    public func withSiLU(_ x: Tensor) -> Tensor { groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// BatchNorm over the channel (last) axis with running statistics (momentum 0.1, eps 1e-5) and the
/// PyTorch buffer names `running_mean`, `running_var`, `num_batches_tracked`.
public final class BatchNorm: Module {
    public let weight: Tensor, bias: Tensor
    public let runningMean: Tensor, runningVar: Tensor, numBatchesTracked: Tensor
    public let momentum: Float, eps: Float

    public init(_ channels: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        self.momentum = momentum
        self.eps = eps
        weight = Tensor(repeating: 1, shape: [channels])
        bias = Tensor(zeros: [channels])
        runningMean = Tensor(zeros: [channels])
        runningVar = Tensor(repeating: 1, shape: [channels])
        numBatchesTracked = Tensor(zeros: [])
        super.init()
        parameter("weight", weight)
        parameter("bias", bias)
        buffer("running_mean", runningMean)
        buffer("running_var", runningVar)
        buffer("num_batches_tracked", numBatchesTracked)
    }

    /// Uses batch statistics in training mode (or when `useBatchStatistics`, as the projection head
    /// always does, spec §4.4), running statistics otherwise.
    public func callAsFunction(_ x: Tensor, useBatchStatistics: Bool? = nil) -> Tensor {
        let training = useBatchStatistics ?? isTraining
        if training { numBatchesTracked.data[0] += 1 }
        return batchNorm(x, weight: weight, bias: bias, runningMean: runningMean, runningVar: runningVar,
                         training: training, momentum: momentum, eps: eps)
    }
}
