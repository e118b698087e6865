import ArgumentParser
import Foundation
import Tensor
import NN
import Models
import Diffusion
import Checkpoint
import Pipeline
import RunModel

/// Sampling speed of a k-step student against the 1024-step DDIM teacher, measured in one run on the same
/// U-Net (issue 6 §5: the paper's "256× faster than DDIM at 1024 steps" measured, not quoted). Both sample the
/// same N images from the same noise; rounds alternate student and teacher so both see the same machine load.
/// The network's weights do not change the work per step, so an untrained U-Net of the preset (the default)
/// times the same as a trained one; `--model` loads a checkpoint's weights instead.
struct SamplingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sampling",
        abstract: "Images per second of a k-step student vs DDIM at 1024 steps on the same U-Net, in one run.")
    @Option(help: "Preset whose U-Net is timed.") var preset = "small"
    @Option(help: "Images sampled by each side per round (N).") var samples = 16
    @Option(help: "Sampling batch size.") var batch = 16
    @Option(help: "Student steps (k).") var studentSteps = 1
    @Option(help: "Rounds (student then teacher in each).") var rounds = 2
    @Option(help: "Threads for BLAS and our kernels.") var threads = 2
    @Option(help: "Load U-Net weights from this checkpoint (default: untrained, seed 0).") var model: String?

    func run() throws {
        Threads.set(threads)
        let p = try Preset.named(preset)
        var ucfg = p.unet
        ucfg.dropout = 0
        let net = model == nil ? UNet(ucfg, seed: 0) : try loadUNet(ucfg, from: model!).0
        net.train(false)
        var unused = RNG(seed: 0)
        let denoiser: Denoiser = { z, k, y in net(z, timesteps: k, labels: y, rng: &unused) }
        let student = try StepGrid(steps: studentSteps, timeScale: 1024 / studentSteps).samplingIndices()
        let teacher = try StepGrid(steps: 1024, timeScale: 1).samplingIndices()
        var rng = RNG(seed: 7)
        let shape = [ucfg.imageSize, ucfg.imageSize, ucfg.inChannels]
        let noise = (0..<((samples + batch - 1) / batch)).map { i in Tensor.randn([min(batch, samples - i * batch)] + shape, rng: &rng) }
        func time(_ indices: [Int]) -> Double {
            let clock = ContinuousClock(), t0 = clock.now
            for x in noise { _ = Autograd.noGrad { ddimSample(model: denoiser, indices: indices, xT: x) } }
            return (clock.now - t0) / .seconds(1)
        }
        print("preset \(p.name) U-Net \(ucfg.ch)×\(ucfg.chMult) at \(ucfg.imageSize)×\(ucfg.imageSize)×\(ucfg.inChannels), \(net.parameterCount) parameters, "
              + "\(model == nil ? "untrained (seed 0)" : model!); N = \(samples) per side, batch \(batch), \(threads) threads")
        for r in 1...rounds {
            let ts = time(student), tt = time(teacher)
            print(String(format: "round %d: student %d step%@ (NFE %d): %.3f s = %.2f images/s | DDIM 1024 (NFE %d): %.1f s = %.4f images/s | speed-up %.0f× (NFE ratio %d×)",
                         r, studentSteps, studentSteps == 1 ? "" : "s", student.count - 1, ts, Double(samples) / ts,
                         teacher.count - 1, tt, Double(samples) / tt, tt / ts, (teacher.count - 1) / (student.count - 1)))
        }
    }
}

/// FID (Inception) of N samples end to end, as the evaluation stage computes it: sampling with a k-step model,
/// Inception pool3 features of the samples, statistics and the Fréchet distance against the cached reference
/// statistics of the preset's test split (computed first when not cached, and timed separately).
struct FIDBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fid",
        abstract: "Time FID (Inception) of N samples end to end: sampling + features + FID (reference cached).")
    @Option(help: "Preset (image size, dataset, U-Net).") var preset = "small"
    @Option(help: "Samples (N).") var samples = 2000
    @Option(help: "Sampling batch size.") var batch = 128
    @Option(help: "Model steps (the untrained model is saved as a k-step student).") var steps = 1
    @Option(help: "A model checkpoint (default: an untrained U-Net of the preset saved as a k-step model).") var model: String?
    @Option(help: "Threads for BLAS and our kernels.") var threads = 2
    @Option(help: "Working directory.") var dir = NSTemporaryDirectory() + "rdd-bench-fid"

    func run() throws {
        Threads.set(threads)
        let c = try ExperimentConfig.defaults(preset: preset)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var modelPath = model ?? ""
        if model == nil {
            modelPath = dir + "/untrained-\(preset)-\(steps)step.h5"
            let net = UNet(c.unet, seed: 0)
            try Checkpoint(arrays: net.stateArrays(), attributes: ["T": .int(Int64(steps)), "time_scale": .int(Int64(1024 / steps))]).save(to: modelPath)
        }
        let cfg = EvalStageConfig(dataset: c.dataset, dataRoot: c.dataRoot, imageSize: c.imageSize, conditional: false, unet: c.unet,
                                  sampler: .ddim, steps: steps, samples: samples, metrics: [.fidInception], batchSize: batch, seed: 0,
                                  label: model == nil ? "untrained" : "model")
        let reference = try loadDataset(c.dataset, root: c.dataRoot, imageSize: c.imageSize, split: .test)
        let clock = ContinuousClock(), t0 = clock.now
        let r = try runEvaluation(cfg, modelPath: modelPath, classifierPath: nil, classifierConfig: nil, reference: reference,
                                  context: StageContext(directory: dir + "/eval"))
        let wall = (clock.now - t0) / .seconds(1)
        let t = r.timings ?? [:]
        func s(_ k: String) -> Double { t[k] ?? 0 }
        let cached = s("inception_reference_cached") == 1
        let e2e = s("sampling") + s("inception_features") + s("inception_fid")
        for m in r.metrics { print("\(m.name) = \(String(format: "%.3f", m.value))  [\(m.label)]") }
        print(String(format: "sampling %.1f s (%.4f s/image) + Inception features %.1f s (%.3f s/image) + statistics and FID %.1f s = %.1f s end to end for N = %d",
                     s("sampling"), s("sampling") / Double(samples), s("inception_features"), s("inception_features") / Double(samples),
                     s("inception_fid"), e2e, samples))
        print(String(format: "reference statistics (%@): %.1f s%@; whole call %.1f s; %d threads",
                     reference.name, s("inception_reference"), cached ? " (read from the cache)" : " (computed now and cached)", wall, threads))
    }
}
