import Foundation
import ArgumentParser
import Tensor
import NN
import Models
import Pipeline

/// `rdd-train`: run the teacher → PD chain of a preset, or print a preset's networks (dry run).
@main
struct RDDTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-train",
        abstract: "Train the 1024-step teacher and the progressive-distillation chain of a preset.",
        subcommands: [Chain.self, Trial.self, DryRun.self])
}

struct Chain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Teacher, then PD halvings down to --down-to steps; resumable.")
    @Option(help: "Preset: tiny, small or paper.") var preset = "tiny"
    @Option(help: "Output directory (stages are subdirectories; rerun to resume).") var out = "results/chain-tiny"
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(help: "Stop the chain at this many steps.") var downTo = 8
    @Option(help: "Threads for BLAS and our kernels.") var threads = 2

    func run() throws {
        Threads.set(threads)
        let p = try Preset.named(preset)
        let times = try runTeacherAndPDChain(p, root: out, seed: seed, downTo: downTo)
        let total = times.map(\.seconds).reduce(0, +)
        print(String(format: "chain '%@' finished in %.1f s (stages run now: %d)", preset, total, times.count))
    }
}

struct Trial: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One trial in this process: classifier, teacher, PD chain, distillation, evaluation.")
    @Option(help: "Preset: tiny, small or paper.") var preset = "tiny"
    @Option(help: "Distillation method (pd, pd_perceptual, rcfd, rdd, cfd+ii_p2p, cfd+is_p2p, cfd+m_p2p, cfd+is_p2p+m_p2p).") var method = "rdd"
    @Option(help: "Trial seed.") var seed: UInt64 = 0
    @Option(help: "Output directory (rerun to resume).") var out = "results/trial-tiny"
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Baselines to evaluate too, comma-separated (ddim:8, ddim:1024, pd:8, dpm_solver:12, pndm:10).") var baselines = ""
    @Option(help: "Samples per evaluation (default: the preset's).") var samples: Int?
    @Option(help: "PD steps per halving (default: the preset's).") var pdSteps: Int?
    @Option(help: "PD learning rate (default: the preset's).") var pdLr: Float?

    func run() throws {
        Threads.set(threads)
        var c = try ExperimentConfig.defaults(preset: preset)
        c.distill.method = method
        c.evaluation.baselines = baselines.split(separator: ",").map(String.init)
        if let samples { c.evaluation.samples = samples }
        if let pdSteps { c.pd.stepsPerHalving = pdSteps }
        if let pdLr { c.pd.lr = pdLr }
        c.seed = seed
        try runTrialInProcess(c, root: out)
        for n in StagePlan.plan(c) where n.kind == .eval {
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + n.name + "/result.json"))
            let r = try JSONDecoder().decode(EvaluationResult.self, from: data)
            for m in r.metrics { print(String(format: "%@  %@ = %.4f   [%@]", n.name, m.name, m.value, m.label)) }
        }
    }
}

struct DryRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dry-run", abstract: "Print a preset's U-Net and its parameter count, and time its training step.")
    @Option(help: "Preset: tiny, small or paper.") var preset = "paper"
    @Option(help: "Batch size for the timed step (0: skip timing).") var timeBatch = 0
    @Option(help: "Timed steps after one warm-up step (median reported).") var timeSteps = 3
    @Flag(help: "List every parameter.") var verbose = false

    func run() throws {
        let p = try Preset.named(preset)
        let net = UNet(p.unet, seed: 0)
        if verbose { print(net.parameterSummary()) }
        print("preset \(p.name): dataset \(p.dataset), U-Net \(p.unet.ch)×\(p.unet.chMult), attention at levels \(p.unet.attn), \(p.unet.numResBlocks) blocks: \(net.parameterCount) parameters")
        print("teacher: \(p.teacherSteps) steps at batch \(p.teacherBatch); PD: \(p.pdStepsPerHalving) steps per halving at batch \(p.pdBatch)")
        if timeBatch > 0 {
            var rng = RNG(seed: 1)
            let x = Tensor.randn([timeBatch, p.unet.imageSize, p.unet.imageSize, p.unet.inChannels], rng: &rng)
            let adam = Adam(net.namedTrainableParameters(), lr: 1e-4)
            // One untimed warm-up step (allocation, page faults, OpenBLAS start-up), then the median of `timeSteps`.
            var times: [Double] = []
            for i in 0...max(timeSteps, 1) {
                let t0 = Date()
                adam.zeroGrad()
                let y = net(x, timesteps: [Int](repeating: 500, count: timeBatch), rng: &rng)
                let loss = mseLoss(y, x)
                loss.backward()
                adam.update()
                if i > 0 { times.append(Date().timeIntervalSince(t0)) }
            }
            let dt = times.sorted()[times.count / 2]
            print(String(format: "training step at batch %d: median %.3f s of %d (first step excluded) → teacher ≈ %.2f h", timeBatch, dt, times.count, dt * Double(p.teacherSteps) / 3600))
        }
    }
}
