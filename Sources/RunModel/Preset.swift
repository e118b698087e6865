import Foundation

/// Scale presets shared by every stage (issue 4 §6): `tiny` (digits, CI), `small` (Fashion-MNIST,
/// minutes per stage on 2 cores), `paper` (CIFAR-10 configuration of spec §2, for users with the data).
public struct Preset: Codable, Equatable, Sendable {
    public var name: String
    public var dataset: String
    public var imageSize: Int
    public var unet: UNetConfig
    public var teacherSteps: Int
    public var teacherBatch: Int
    public var teacherLR: Float
    public var teacherWarmup: Int
    public var emaDecay: Float
    public var pdStepsPerHalving: Int
    public var pdBatch: Int
    public var pdLR: Float

    public static let tiny = Preset(
        name: "tiny", dataset: "digits", imageSize: 8,
        unet: UNetConfig(imageSize: 8, inChannels: 1, ch: 32, chMult: [1, 2], attn: [1], numResBlocks: 1, dropout: 0.1),
        teacherSteps: 400, teacherBatch: 32, teacherLR: 2e-3, teacherWarmup: 40, emaDecay: 0.99,
        pdStepsPerHalving: 60, pdBatch: 32, pdLR: 5e-4)

    /// Fashion-MNIST at 16×16 (pad 28 → 32, 2×2 box average). Calibrated on 2 cores (docs/benchmarks.md):
    /// at 32×32 a training step of this U-Net took 2.5 s at batch 64 (teacher ≈ 4 h); at 16×16 a step at
    /// batch 32 takes 0.3–0.6 s, so the teacher (4000 steps) and the PD chain (7 halvings × 300 steps)
    /// fit in about an hour, and a distillation stage (200 steps) plus evaluation in a few minutes.
    public static let small = Preset(
        name: "small", dataset: "fashion-mnist", imageSize: 16,
        unet: UNetConfig(imageSize: 16, inChannels: 1, ch: 32, chMult: [1, 2, 2], attn: [1], numResBlocks: 1, dropout: 0.1),
        teacherSteps: 4000, teacherBatch: 32, teacherLR: 1e-3, teacherWarmup: 200, emaDecay: 0.999,
        pdStepsPerHalving: 300, pdBatch: 32, pdLR: 3e-4)

    /// Spec §2.3–2.4 exactly: CIFAR-10 U-Net, 800k teacher steps at batch 128, 10k steps per halving.
    public static let paper = Preset(
        name: "paper", dataset: "cifar10", imageSize: 32, unet: .cifar10,
        teacherSteps: 800_000, teacherBatch: 128, teacherLR: 2e-4, teacherWarmup: 5000, emaDecay: 0.9999,
        pdStepsPerHalving: 10_000, pdBatch: 128, pdLR: 5e-5)

    public static let all = [tiny, small, paper]

    public static func named(_ n: String) throws -> Preset {
        guard let p = all.first(where: { $0.name == n }) else {
            throw ConfigValueError(field: "preset", value: n, valid: all.map(\.name))
        }
        return p
    }
}
