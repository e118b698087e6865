import Foundation
import Tensor

/// Weight initialisations used by the paper's networks (PyTorch's definitions).
public enum Init {
    /// Fan-in and fan-out of a weight of shape (out, in, k, k…) or (out, in).
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        let receptive = shape.count > 2 ? shape[2...].reduce(1, *) : 1
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// Xavier/Glorot uniform: U(−a, a), a = gain·√(6/(fan_in + fan_out)). DDPM's U-Net (spec §2.2).
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, rng: inout RNG) -> Tensor {
        let (fi, fo) = fans(shape)
        let a = Float(gain * (6.0 / Double(fi + fo)).squareRoot())
        return Tensor.uniform(shape, -a, a, rng: &rng)
    }

    /// Kaiming normal (fan_in, ReLU gain √2): N(0, 2/fan_in). DenseNet convolutions (spec §3.1).
    public static func kaimingNormal(_ shape: [Int], rng: inout RNG) -> Tensor {
        Tensor.randn(shape, std: Float((2.0 / Double(fans(shape).fanIn)).squareRoot()), rng: &rng)
    }

    /// PyTorch's default for Conv/Linear weights (kaiming_uniform with a = √5) and biases:
    /// both U(−1/√fan_in, 1/√fan_in).
    public static func torchDefault(_ shape: [Int], fanIn: Int, rng: inout RNG) -> Tensor {
        let b = Float(1 / Double(fanIn).squareRoot())
        return Tensor.uniform(shape, -b, b, rng: &rng)
    }
}
