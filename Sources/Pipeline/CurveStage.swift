import Foundation
import Models
import Data
import Metrics
import RunModel

// Learning curves (issue 20 §4, docs/reports.md "Learning curves"): how the evaluated quality of a distillation
// stage's student moves with its training steps, beside its loss terms.

/// Where a distillation stage keeps the student after `step` updates (`DistillStageConfig.snapshotEvery`).
public func distillSnapshotPath(stageDirectory: String, step: Int) -> String {
    stageDirectory + "/snapshots/step-" + String(format: "%06d", step) + ".h5"
}

/// A `curve-<method>-<steps>` stage: evaluates each snapshot of the distillation stage whose `final.h5` is
/// `modelPath` — steps `cfg.snapshots`, the last being `final.h5` itself — exactly as an evaluation stage does
/// (`runEvaluation`, the same sampler, seed and metric code, at `cfg.samples` samples), each in its own
/// subdirectory `step-<n>/` (so an interrupted curve resumes after the snapshots it finished). The values go to
/// the stage's journal at their training step (the run database's `metrics` table, the export's `series` of
/// the stage: one point per snapshot, named after the metric). The stage's `result.json` lists no metric, so no
/// table mistakes a snapshot for a finished student; each `step-<n>/result.json` keeps its snapshot's labels.
public func runCurveEvaluation(_ cfg: EvalStageConfig, modelPath: String, classifierPath: String?, classifierConfig: DenseNetConfig?,
                               evaluatorPath: String?, reference: ImageDataset, referenceSplit: String = "test", environment env: EvaluationEnvironment = .standard,
                               context ctx: StageContext) throws -> EvaluationResult {
    try ctx.prepare()
    let steps = cfg.snapshots ?? []
    guard let last = steps.last else { throw PipelineError("learning curve '\(cfg.label)' \(cfg.steps) steps: no snapshot steps to evaluate") }
    let stageDirectory = (modelPath as NSString).deletingLastPathComponent
    // Every snapshot must exist before any sampling (a distillation stage run without snapshotEvery has none).
    let paths = steps.map { $0 == last ? modelPath : distillSnapshotPath(stageDirectory: stageDirectory, step: $0) }
    if let missing = paths.first(where: { !FileManager.default.fileExists(atPath: $0) }) {
        throw PipelineError("learning curve '\(cfg.label)' \(cfg.steps) steps: snapshot \(missing) is missing (the distillation stage keeps one every evaluation.every steps)")
    }
    var one = cfg
    one.snapshots = nil
    let clock = ContinuousClock(), start = clock.now
    var points: [(step: Int, result: EvaluationResult)] = []
    for (i, (step, path)) in zip(steps, paths).enumerated() {
        let sub = StageContext(directory: ctx.directory + "/step-" + String(format: "%06d", step))
        let r: EvaluationResult
        if let data = FileManager.default.contents(atPath: sub.directory + "/result.json"),
           let done = try? JSONDecoder().decode(EvaluationResult.self, from: data) {
            r = done
        } else {
            ctx.phase?("snapshot at step \(step)")
            r = try runEvaluation(one, modelPath: path, classifierPath: classifierPath, classifierConfig: classifierConfig,
                                  evaluatorPath: evaluatorPath, reference: reference, referenceSplit: referenceSplit, environment: env, context: sub)
        }
        points.append((step, r))
        ctx.progress?(i + 1, steps.count, r.metrics.map { ($0.name, $0.value) })
    }
    let journal = try Journal(path: ctx.journalPath)
    for p in points { journal.log(step: p.step, p.result.metrics.map { ($0.name, $0.value) }) }
    journal.sync()
    let perImage = points.map(\.result.secondsPerImage).reduce(0, +) / Double(points.count)
    let out = EvaluationResult(metrics: [], secondsPerImage: perImage, modelLabel: cfg.label,
                               timings: ["total": (clock.now - start) / .seconds(1), "snapshots": Double(points.count)])
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .prettyPrinted]
    try atomicWrite(try enc.encode(out), to: ctx.directory + "/result.json")
    return out
}
