import ArgumentParser
import Foundation
import Tensor
import NN
import Models
import Diffusion
import Checkpoint
import Pipeline
import RunModel

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
