import Foundation
import RunModel

/// The teacher → PD chain of a trial's configuration (spec §2.3–2.4) in one directory: `teacher/`, `pd512/`, …,
/// `pd<pd.downTo>/`. The stages are the trial plan's own (`StagePlan.plan`), run by the worker's `runStage`, so
/// `rdd-train chain` trains exactly what a sweep with the same settings would. Each stage resumes from its own
/// checkpoint, and a finished stage (its `final.h5` exists) is skipped, so rerunning continues where it stopped.
public func runTeacherAndPDChain(_ c: ExperimentConfig, root: String, log: (String) -> Void = { print($0) }) throws -> [(stage: String, seconds: Double)] {
    var times: [(String, Double)] = []
    let clock = ContinuousClock()
    for n in StagePlan.plan(c) where n.kind == .teacher || n.kind == .pd {
        let name = n.name.description
        let ctx = StageContext(directory: root + "/" + name, checkpointEvery: 100, logEvery: 10)
        if FileManager.default.fileExists(atPath: ctx.finalPath) { log("\(name): done earlier, reused"); continue }
        let inputs = n.inputs.mapValues { root + "/" + $0.description + "/final.h5" }
        let t0 = clock.now
        try runStage(StageRequest(kind: n.kind, config: n.config, inputs: inputs, classifierNetwork: nil, directory: ctx.directory), context: ctx)
        let dt = (clock.now - t0) / .seconds(1)
        times.append((name, dt))
        log(String(format: "%@: %.1f s", name, dt))
    }
    return times
}
