import Foundation
import ArgumentParser
import Tensor
import NN
import Models
import Pipeline
import Distill
import Data
import RunModel

/// `rdd-train`: run the teacher → PD chain of a preset, or print a preset's networks (dry run).
@main
struct RDDTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-train",
        abstract: "Train the 1024-step teacher and the progressive-distillation chain of a preset.",
        subcommands: [Chain.self, Trial.self, DryRun.self, Floor.self])
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
        var c = try ExperimentConfig.defaults(preset: preset)
        c.chainSeed = seed
        c.pd.downTo = downTo
        c.distill.from = downTo
        let problems = c.validationErrors()
        if !problems.isEmpty { throw ValidationError("invalid chain: " + problems.joined(separator: "; ")) }
        let times = try runTeacherAndPDChain(c, root: out)
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
    @Option(help: "Baselines to evaluate too, comma-separated \(Baseline.form).") var baselines = ""
    @Option(help: "Samples per evaluation (default: the preset's).") var samples: Int?
    @Option(help: "PD steps per halving (default: the preset's).") var pdSteps: Int?
    @Option(help: "PD learning rate (default: the preset's).") var pdLr: Float?

    func run() throws {
        Threads.set(threads)
        var c = try ExperimentConfig.defaults(preset: preset)
        c.distill.method = try DistillMethod(parsing: method)
        c.evaluation.baselines = try baselines.split(separator: ",").map { text in
            let b = text.trimmingCharacters(in: .whitespaces)
            do { return try Baseline(parsing: b) } catch { throw ValidationError("--baselines \(b): \(error)") }
        }
        if let samples { c.evaluation.samples = samples }
        if let pdSteps { c.pd.stepsPerHalving = pdSteps }
        if let pdLr { c.pd.lr = pdLr }
        c.seed = seed
        try runTrialInProcess(c, root: out)
        for n in StagePlan.plan(c) where n.kind == .eval {
            let data = try Data(contentsOf: URL(fileURLWithPath: out + "/" + n.name.description + "/result.json"))
            let r = try JSONDecoder().decode(EvaluationResult.self, from: data)
            for m in r.metrics { print(String(format: "%@  %@ = %.4f   [%@]", n.name.description, m.name, m.value, m.label)) }
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

/// The data-vs-data FID floor of a preset (docs/metrics.md "Data-vs-data floor"). It lives in rdd-train
/// because it needs the preset's trained classifier, which this command trains (or reuses) exactly as a
/// trial's shared classifier stage does; rdd-setup only converts downloaded artifacts and knows no models.
struct Floor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "FID of N real training images vs the evaluation reference (test split), for classifier features and Inception.",
        discussion: """
            N defaults to the preset's evaluation.samples. The classifier is --classifier PATH, else the preset's classifier
            stage trained (or resumed) under --out/classifier with chainSeed 0, the same configuration a trial uses.
            Inception runs when its weights are installed (or with --inception, which fails if they are not).
            """)
    @Option(help: "Preset: tiny, small or paper.") var preset = "tiny"
    @Option(help: "Train images per subset (default: the preset's evaluation.samples).") var samples: Int?
    @Option(help: "Disjoint train subsets (the spread of the floor).") var repeats = 3
    @Option(help: "Seed of the subset permutation.") var seed: UInt64 = 0
    @Option(help: "A classifier final.h5 (default: train the preset's classifier under --out).") var classifier: String?
    @Option(help: "Directory for the classifier stage when it is trained here.") var out = "results/floor"
    @Option(help: "Train the classifier for this many epochs instead of the preset's (a quicker, different classifier: quote it).") var classifierEpochs: Int?
    @Option(help: "Dataset directory (cifar10 / imagenet64 only).") var dataRoot: String?
    @Flag(inversion: .prefixedNo, help: "Inception floor (default: when the weights are installed).") var inception: Bool?
    @Flag(help: "Skip the classifier-feature floor.") var noClassifier = false
    @Option(help: "Also write the results as JSON here.") var json: String?
    @Option(help: "Threads for BLAS and our kernels.") var threads = 2

    func run() throws {
        Threads.set(threads)
        var c = try ExperimentConfig.defaults(preset: preset)
        c.dataRoot = dataRoot
        if let classifierEpochs { c.classifier.epochs = classifierEpochs }
        let n = samples ?? c.evaluation.samples
        let train = try loadDataset(c.dataset, root: c.dataRoot, imageSize: c.imageSize, split: .train)
        let reference = ReferenceSet(dataset: c.dataset, split: "test",
                                     images: try loadDataset(c.dataset, root: c.dataRoot, imageSize: c.imageSize, split: .test))
        var results: [FloorResult] = []
        if !noClassifier {
            let path = try classifier ?? trainedClassifier(c)
            print("classifier: \(path)")
            let clf = try ClassifierExtractor.load(c.classifier.network, from: path)
            let cache = ReferenceStatisticsCache(directory: (path as NSString).deletingLastPathComponent + "/reference-stats")
            results.append(try dataFloor(train: train, reference: reference, samples: n, repeats: repeats, seed: seed, extractor: clf, cache: cache))
            print(results.last!.line)
        }
        if inception == false {
            print("Inception floor not run (--no-inception)")
        } else if inception == true || InceptionExtractor.weightsInstalled {
            let inc = try InceptionExtractor.load()
            let cache = ReferenceStatisticsCache(directory: ReferenceStatisticsCache.defaultInceptionDirectory)
            results.append(try dataFloor(train: train, reference: reference, samples: n, repeats: repeats, seed: seed, extractor: inc, cache: cache))
            print(results.last!.line)
        } else {
            print("Inception floor not run: no weights at \(InceptionExtractor.defaultWeightsPath) (install with `rdd-setup inception`, docs/inception.md)")
        }
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted]
            try atomicWrite(try enc.encode(results), to: json)
        }
    }

    /// The preset's classifier stage under `out/classifier` (trained now unless its final.h5 exists).
    func trainedClassifier(_ c: ExperimentConfig) throws -> String {
        guard let node = StagePlan.plan(c).first(where: { $0.kind == .classifier }) else { throw PipelineError("preset \(preset) plans no classifier") }
        let dir = out + "/classifier-\(c.classifier.epochs)ep"
        if !FileManager.default.fileExists(atPath: dir + "/final.h5") {
            print("training the \(preset) classifier (\(c.classifier.epochs) epochs) under \(dir) (resumable)")
            try runStage(StageRequest(kind: .classifier, config: node.config, inputs: [:], classifierNetwork: nil, directory: dir))
        }
        return dir + "/final.h5"
    }
}
