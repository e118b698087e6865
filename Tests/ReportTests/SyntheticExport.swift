import Foundation
@testable import Report
import RunModel

/// Small hand-made exports for report tests whose numbers must be chosen (verdict wording, sweep goldens).
/// Every trial shares one classifier, teacher and PD chain (one identity each) and has its own distillation
/// and evaluation stages, as the repository's specs do.
struct SyntheticExport {
    var sweeps: [SweepRecord] = []
    var trials: [TrialRecord] = []

    /// Adds a sweep named `name@1` of preset tiny with the spec path `experiments/tiny/<name>.json`.
    mutating func sweep(_ name: String, description: String? = nil, axes: [SweepAxisRecord]? = nil) {
        var s = SweepRecord(name: name + "@1", specPath: "experiments/tiny/\(name).json", specHash: "hash-\(name)", preset: "tiny")
        s.description = description
        s.axes = axes
        sweeps.append(s)
    }

    /// Adds a trial of the last sweep: `config` (dotted path → JSON value) over the tiny defaults with method rcfd, its
    /// swept `axes` (path → JSON text), and `metrics[stage][metric] = value`; `series[stage]` adds a distillation
    /// stage of that name with those logged series (loss `total`, `queue/refills`, `memory/loss_peak_bytes`, …).
    mutating func trial(axes: [String: String], config: [String: Any], metrics: [String: [String: Double]], status: TrialStatus = .completed,
                        series: [String: [String: [SeriesPoint]]] = [:], key fixedKey: String? = nil) {
        let sweep = sweeps.last!.name
        // A whole resolved configuration, as real exports hold (reports decode it into `ExperimentConfig`).
        var c = try! JSONSerialization.jsonObject(with: Data(canonicalJSON(try! ExperimentConfig.defaults(preset: "tiny")).utf8)) as! [String: Any]
        var distill = c["distill"] as! [String: Any]
        distill["method"] = "rcfd"
        c["distill"] = distill
        for (path, v) in config {
            let parts = path.split(separator: ".").map(String.init)
            if parts.count == 1 { c[parts[0]] = v } else {
                var d = c[parts[0]] as? [String: Any] ?? [:]
                d[parts[1]] = v
                c[parts[0]] = d
            }
        }
        let json = String(decoding: try! JSONSerialization.data(withJSONObject: c, options: [.sortedKeys]), as: UTF8.self)
        let key = fixedKey ?? String(format: "t%03d", trials.filter { $0.sweep == sweep }.count)
        var stages = ["classifier", "teacher", "pd8"].map { StageRecord(name: $0, kind: $0 == "pd8" ? .pd : StageKind(rawValue: $0)!, identity: "shared-\($0)", status: .completed,
                                                                         seconds: 1, peakMemoryBytes: 1 << 20, series: [:]) }
        for (stage, logged) in series.sorted(by: { $0.key < $1.key }) {
            stages.append(StageRecord(name: stage, kind: .distill, identity: "\(sweep)-\(key)-\(stage)", status: .completed,
                                      seconds: 1, peakMemoryBytes: 1 << 20, series: logged))
        }
        var evaluations: [EvaluationRecord] = []
        for stage in metrics.keys.sorted() {
            stages.append(StageRecord(name: stage, kind: .eval, identity: "\(sweep)-\(key)-\(stage)", status: status == .completed ? .completed : .queued,
                                      seconds: 1, peakMemoryBytes: 1 << 20, series: [:]))
            let steps = Int(stage.split(separator: "-").last!) ?? 1
            for (metric, value) in metrics[stage]!.sorted(by: { $0.key < $1.key }) {
                evaluations.append(EvaluationRecord(stage: stage, model: String(stage.split(separator: "-")[1]), metric: metric, value: value,
                                                    label: metric, featureNetwork: "DenseNet-BC (classifier)", samples: 256, reference: "digits test",
                                                    sampler: "student", steps: steps, nfe: steps, secondsPerImage: 0.001,
                                                    artifactDirectory: "stages/\(sweep)-\(key)-\(stage)"))
            }
        }
        if status != .completed { evaluations = [] }
        trials.append(TrialRecord(sweep: sweep, key: key, axes: axes, configJSON: json, status: status, evaluations: evaluations, stages: stages))
    }

    var export: RunExport { RunExport(sweeps: sweeps, trials: trials) }
}
