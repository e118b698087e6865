import ArgumentParser
import Foundation
import Tensor
import NN
import Models
import Checkpoint
import Pipeline
import RunModel
import Sweep

/// `rdd-bench step`: the distillation training step of a sweep spec's trials (issue 23: "the small preset's training
/// step … recorded before and after"), timed on the pipeline's own code — `runDistillation`, the function a sweep
/// worker runs — not a copy. The spec (default experiments/v2/tables.json, the v2 reproduction's workload) is
/// expanded and planned exactly as `rdd-sweep run` does; the first distillation stage of the first trial with the
/// chosen method is run for `--steps` steps in a scratch directory, with an untrained teacher (and classifier where
/// the method uses one) of the planned networks standing in for the trained inputs: the work per step does not depend
/// on the weights. The data set is the stage's own (Fashion-MNIST for `small`).
///
/// Each step's time is taken in the stage's progress callback, which the training loop calls after every step
/// (before any checkpoint: checkpoints are written only after the last step here), so the interval between two
/// callbacks is one step's body: batch, PD target (two teacher steps), student forward, classifier passes, the
/// method's terms, backward, clipping and Adam. Reported: process CPU seconds (getrusage, all threads — the measure
/// to compare on a shared machine) and wall seconds per step, median and mean over the steps after `--warmup`.
struct StepBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "CPU and wall time per distillation training step of a sweep spec's stage, on the pipeline's code.")
    @Option(help: "Sweep spec whose trials are planned (its preset, base and grid decide the stage).")
    var spec = "experiments/v2/tables.json"
    @Option(help: "Distillation method (pd, pd_perceptual, rcfd, cfd+ii_p2p, cfd+is_p2p, cfd+m_p2p, rdd).")
    var method: DistillMethod = .rdd
    @Option(help: "Timed steps after the warm-up.") var steps = 10
    @Option(help: "Untimed warm-up steps (the first steps allocate and prepare).") var warmup = 2
    @Option(help: "Threads for our kernels and OpenBLAS.") var threads = 2
    @Option(help: "Scratch directory (default: a fresh one under the temporary directory, removed afterwards).")
    var scratch: String?

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps \(steps): must be ≥ 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup \(warmup): must be ≥ 0") }
        guard threads >= 1 else { throw ValidationError("--threads \(threads): must be ≥ 1") }
    }

    func run() throws {
        Threads.set(threads)
        let sweep = try SweepSpec.load(path: spec)
        guard let trial = try sweep.expand().first(where: { $0.config.distill.method == method }) else {
            throw ValidationError("--method \(method.rawValue): no trial of \(spec) distils with it")
        }
        let c = trial.config
        guard let node = StagePlan.plan(c).first(where: { $0.kind == .distill }),
              case .distill(var cfg) = node.settings else {
            throw ValidationError("\(spec): trial '\(trial.key)' plans no distillation stage")
        }
        let total = warmup + steps
        cfg.settings.steps[0] = total
        cfg.snapshotEvery = nil
        let dir = scratch ?? NSTemporaryDirectory() + "rdd-bench-step-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: dir) } }

        // Stand-in inputs: an untrained teacher on the stage's teacher grid, an untrained classifier of the plan's network.
        let teacherPath = dir + "/teacher.h5"
        // The attributes `loadUNet` reads: the grid (T, time scale) of a teacher with T steps on the 1024-step schedule.
        var teacherCk = Checkpoint(arrays: UNet(cfg.unet, seed: 0).stateArrays())
        teacherCk.attributes["T"] = .int(Int64(cfg.teacherSteps))
        teacherCk.attributes["time_scale"] = .int(Int64(1024 / cfg.teacherSteps))
        try teacherCk.save(to: teacherPath)
        var classifierPath: String?
        let classifierConfig = node.inputs["classifier"] != nil ? c.classifier.network : nil
        if let cc = classifierConfig {
            let path = dir + "/classifier.h5"
            try Checkpoint(arrays: DenseNet(cc, seed: 0).stateArrays()).save(to: path)
            classifierPath = path
        }
        let data = try loadDataset(cfg.dataset, root: cfg.dataRoot, imageSize: cfg.imageSize, split: .train)

        var cpu: [Double] = [], wall: [Double] = []
        var lastCPU = cpuSeconds(), lastWall = nowSeconds()
        var ctx = StageContext(directory: dir + "/stage", checkpointEvery: total + 1, logEvery: total + 1)
        ctx.progress = { done, _, _ in
            let c1 = cpuSeconds(), w1 = nowSeconds()
            if done > warmup { cpu.append(c1 - lastCPU); wall.append(w1 - lastWall) }
            lastCPU = c1; lastWall = w1
        }
        print("rdd-bench step: \(spec), trial '\(trial.key)', stage \(node.name): method \(method.rawValue), preset \(sweep.preset), "
              + "U-Net ch \(cfg.unet.ch) × \(cfg.unet.chMult) at \(cfg.imageSize)×\(cfg.imageSize), batch \(cfg.settings.batchSize), "
              + "teacher T = \(cfg.teacherSteps); \(threads) threads, kernels \(GemmDispatch.isa.provenanceName); warm-up \(warmup), timed \(steps)")
        try runDistillation(cfg, teacherPath: teacherPath, classifierPath: classifierPath, classifierConfig: classifierConfig,
                            data: data, context: ctx)
        func mean(_ a: [Double]) -> Double { a.reduce(0, +) / Double(a.count) }
        print(String(format: "per step: CPU %.1f ms median, %.1f ms mean (min %.1f); wall %.1f ms median, %.1f ms mean",
                     median(cpu) * 1e3, mean(cpu) * 1e3, cpu.min()! * 1e3, median(wall) * 1e3, mean(wall) * 1e3))
        print("CPU ms per step: " + cpu.map { String(format: "%.1f", $0 * 1e3) }.joined(separator: " "))
    }
}

extension DistillMethod: ExpressibleByArgument {}
