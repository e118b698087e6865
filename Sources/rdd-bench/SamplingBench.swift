import ArgumentParser
import Foundation
import Tensor
import NN
import Models
import Diffusion
import Pipeline
import Report
import RunModel
import Sweep

/// Sampling speed of a k-step student against the 1024-step DDIM teacher, measured in one run on the same
/// U-Net (issue 6 §5: the paper's "256× faster than DDIM at 1024 steps" measured, not quoted). Both sample the
/// same N images from the same noise; rounds alternate student and teacher so both see the same machine load.
/// The network's weights do not change the work per step, so an untrained U-Net of the preset (the default)
/// times the same as a trained one; `--model` loads a checkpoint's weights instead.
///
/// `--output FILE` writes the run as a `SamplingBenchmark` record (issue 20 §6): the command line, CPU and
/// kernels (the provenance a stage records), threads, the load average before and after, every round's times.
/// The `speedup` report leads with it (`results/benchmarks/sampling-<preset>.json` by convention).
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
    @Option(help: "Write the run as a JSON record here (the speed-up report reads results/benchmarks/sampling-<preset>.json).") var output: String?
    @Option(help: "Free text stored in the record (e.g. why it was taken on a loaded machine).") var note: String?

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples \(samples): must be ≥ 1") }
        guard batch >= 1 else { throw ValidationError("--batch \(batch): must be ≥ 1") }
        guard rounds >= 1 else { throw ValidationError("--rounds \(rounds): must be ≥ 1") }
        guard threads >= 1 else { throw ValidationError("--threads \(threads): must be ≥ 1") }
    }

    func run() throws {
        // Everything that can refuse the run does so before any sampling: the preset, the step grids, the output.
        Threads.set(threads)
        let p = try Preset.named(preset)
        let student = try StepGrid(steps: studentSteps, timeScale: 1024 / studentSteps).samplingIndices()
        let teacher = try StepGrid(steps: 1024, timeScale: 1).samplingIndices()
        if let output {
            let dir = (output as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            guard FileManager.default.isWritableFile(atPath: dir.isEmpty ? "." : dir) else {
                throw ValidationError("--output \(output): directory '\(dir)' is not writable")
            }
        }
        var ucfg = p.unet
        ucfg.dropout = 0
        let net = model == nil ? UNet(ucfg, seed: 0) : try loadUNet(ucfg, from: model!).0
        net.train(false)
        var unused = RNG(seed: 0)
        let denoiser: Denoiser = { z, k, y in net(z, timesteps: k, labels: y, rng: &unused) }
        var rng = RNG(seed: 7)
        let shape = [ucfg.imageSize, ucfg.imageSize, ucfg.inChannels]
        let noise = (0..<((samples + batch - 1) / batch)).map { i in Tensor.randn([min(batch, samples - i * batch)] + shape, rng: &rng) }
        /// Wall seconds of sampling every batch with `indices`; `cpu` gets the process CPU seconds (getrusage, all threads:
        /// the measure to compare on a shared machine, printed, not part of the record).
        func time(_ indices: [Int], cpu: inout Double) -> Double {
            let clock = ContinuousClock(), t0 = clock.now, c0 = cpuSeconds()
            for x in noise { _ = Autograd.noGrad { ddimSample(model: denoiser, indices: indices, xT: x) } }
            cpu = cpuSeconds() - c0
            return (clock.now - t0) / .seconds(1)
        }
        let network = "U-Net ch \(ucfg.ch) × \(ucfg.chMult) at \(ucfg.imageSize)×\(ucfg.imageSize)×\(ucfg.inChannels), \(net.parameterCount) parameters"
        let weights = model.map { "weights of \($0)" } ?? "untrained (seed 0): the work per image does not depend on the weights"
        print("preset \(p.name) \(network), \(model ?? "untrained (seed 0)"); N = \(samples) per side, batch \(batch), \(threads) threads")
        let started = Date(), loadStart = loadAverage()
        var measured: [SamplingBenchmark.Round] = []
        for r in 1...rounds {
            var cs = 0.0, ct = 0.0
            let ts = time(student, cpu: &cs), tt = time(teacher, cpu: &ct)
            measured.append(SamplingBenchmark.Round(student: .init(seconds: ts, samples: samples), teacher: .init(seconds: tt, samples: samples)))
            print(String(format: "round %d: student %d step%@ (NFE %d): %.3f s = %.2f images/s | DDIM 1024 (NFE %d): %.1f s = %.4f images/s | speed-up %.0f× (NFE ratio %d×)",
                         r, studentSteps, studentSteps == 1 ? "" : "s", student.count - 1, ts, Double(samples) / ts,
                         teacher.count - 1, tt, Double(samples) / tt, tt / ts, (teacher.count - 1) / (student.count - 1))
                  + String(format: " | CPU per image: student %.2f ms, DDIM 1024 %.1f ms", cs / Double(samples) * 1e3, ct / Double(samples) * 1e3))
        }
        guard let output else { return }
        let iso = ISO8601DateFormatter()
        let record = SamplingBenchmark(
            command: ["rdd-bench"] + CommandLine.arguments.dropFirst(), started: iso.string(from: started), finished: iso.string(from: Date()),
            provenance: .current(), cores: Threads.availableCores(), loadAverageStart: loadStart, loadAverageEnd: loadAverage(),
            preset: p.name, network: network, weights: weights, samples: samples, batch: batch, studentSteps: studentSteps,
            studentNFE: student.count - 1, teacherNFE: teacher.count - 1, rounds: measured, note: note)
        // Written whole or not at all: a temporary file renamed over the destination.
        let tmp = output + ".tmp-\(getpid())"
        try record.encoded().write(to: URL(fileURLWithPath: tmp))
        if FileManager.default.fileExists(atPath: output) { try FileManager.default.removeItem(atPath: output) }
        try FileManager.default.moveItem(atPath: tmp, toPath: output)
        print(String(format: "wrote %@: speed-up %.0f× over %d round%@ (load average %.2f → %.2f)", output, record.speedup, rounds,
                     rounds == 1 ? "" : "s", loadStart.first ?? -1, record.loadAverageEnd.first ?? -1))
    }
}

/// /proc/loadavg's 1-, 5- and 15-minute load averages (empty where the file is unreadable).
func loadAverage(path: String = "/proc/loadavg") -> [Double] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: " ").prefix(3).compactMap { Double($0) }
}
