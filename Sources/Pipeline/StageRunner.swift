import Foundation
import Models
import Data
import RunModel

/// What a worker needs to run one stage: its kind and configuration (the node's canonical JSON), the
/// artifact paths of its inputs by role, and its directory. Written as `request.json` in the stage
/// directory by the scheduler; `runStage` is the whole worker.
public struct StageRequest: Codable, Equatable, Sendable {
    public var kind: StageKind
    public var config: String
    /// Role → the input stage's `final.h5` ("teacher", "classifier", "model", "evaluator").
    public var inputs: [String: String]
    /// Classifier network configuration when a "classifier" input is present.
    public var classifierNetwork: DenseNetConfig?
    public var directory: String

    public init(kind: StageKind, config: String, inputs: [String: String], classifierNetwork: DenseNetConfig?, directory: String) {
        self.kind = kind; self.config = config; self.inputs = inputs; self.classifierNetwork = classifierNetwork; self.directory = directory
    }
}

/// Loads the training or test split of a stage's dataset at the model size.
public func loadDataset(_ name: String, root: String?, imageSize: Int, split: DatasetSplit) throws -> ImageDataset {
    switch name {
    case "digits":
        return try ImageDataset.digits(split).fitted(to: imageSize)
    case "fashion-mnist":
        return try ImageDataset.fashionMNIST(split).fitted(to: imageSize)
    case "cifar10":
        guard let root else { throw PipelineError("dataset cifar10 needs dataRoot: the folder with data_batch_1.bin … test_batch.bin") }
        return try ImageDataset.cifar10(split, directory: root)
    case "imagenet64":
        guard let root else { throw PipelineError("dataset imagenet64 needs dataRoot: the folder with train_data_batch_*.npz and val_data.npz") }
        return try ImageDataset.imageNet64(split, directory: root)
    default:
        throw PipelineError("unknown dataset '\(name)'; valid: digits, fashion-mnist, cifar10, imagenet64")
    }
}

/// Runs one stage to completion (resuming from its checkpoint if one exists). Its outputs are
/// `final.h5` (training stages) or `result.json` (evaluation), plus `journal.jsonl`.
public func runStage(_ r: StageRequest, context: StageContext? = nil) throws {
    var ctx = context ?? StageContext(directory: r.directory)
    if context == nil { ctx.checkpointEvery = 100; ctx.logEvery = 10 }
    func input(_ role: String) throws -> String {
        guard let p = r.inputs[role] else { throw PipelineError("stage \(r.kind.rawValue) in '\(r.directory)': missing input '\(role)'") }
        return p
    }
    func split(_ d: DataSettings, _ s: DatasetSplit) throws -> ImageDataset { try loadDataset(d.dataset, root: d.dataRoot, imageSize: d.imageSize, split: s) }
    switch try StageSettings.decode(kind: r.kind, json: r.config) {
    case .classifier(let c):
        try trainClassifier(c, train: try split(c.data, .train), test: try split(c.data, .test), context: ctx)
    case .teacher(let c):
        try trainTeacher(c, data: try split(c.data, .train), context: ctx)
    case .pd(let c):
        try runProgressiveDistillation(c, teacherPath: try input("teacher"), data: try split(c.data, .train), context: ctx)
    case .distill(let c):
        try runDistillation(c, teacherPath: try input("teacher"), classifierPath: r.inputs["classifier"], classifierConfig: r.classifierNetwork,
                            data: try split(c.data, .train), context: ctx)
    case .evaluator(let c):
        try trainEvaluator(c, train: try split(c.data, .train), test: try split(c.data, .test), context: ctx)
    case .eval(let c) where c.snapshots != nil:
        let ref = try evaluationReference(c.data, c.reference)
        _ = try runCurveEvaluation(c, modelPath: try input("model"), classifierPath: r.inputs["classifier"], classifierConfig: r.classifierNetwork,
                                   evaluatorPath: r.inputs["evaluator"], reference: ref.images, referenceSplit: ref.split, context: ctx)
    case .eval(let c):
        let ref = try evaluationReference(c.data, c.reference)
        _ = try runEvaluation(c, modelPath: try input("model"), classifierPath: r.inputs["classifier"], classifierConfig: r.classifierNetwork,
                              evaluatorPath: r.inputs["evaluator"], reference: ref.images, referenceSplit: ref.split, context: ctx)
    }
}

/// Runs every stage of a trial's plan in order in this process, under `root/<stage name>`, skipping
/// stages whose output exists. The simplest executor — the sweep scheduler runs the same requests
/// in worker processes and shares stages between trials by their identity.
public func runTrialInProcess(_ c: ExperimentConfig, root: String, log: (String) -> Void = { print($0) }) throws {
    let problems = c.validationErrors()
    if !problems.isEmpty { throw PipelineError("invalid configuration:\n  " + problems.joined(separator: "\n  ")) }
    let nodes = StagePlan.plan(c)
    for n in nodes {
        let dir = root + "/" + n.name.description
        let done = n.kind == .eval ? dir + "/result.json" : dir + "/final.h5"
        if FileManager.default.fileExists(atPath: done) { log("\(n.name): done earlier"); continue }
        var inputs: [String: String] = [:]
        for (role, src) in n.inputs { inputs[role] = root + "/" + src.description + "/final.h5" }
        let req = StageRequest(kind: n.kind, config: n.config, inputs: inputs,
                               classifierNetwork: n.inputs["classifier"] != nil ? c.classifier.network : nil, directory: dir)
        let t0 = Date()
        try runStage(req)
        log(String(format: "%@: %.1f s", n.name.description, Date().timeIntervalSince(t0)))
    }
}
