// report-fixture-runner: runs small real trials with the Pipeline and assembles a RunExport from their
// directories — the fixture behind Tests/ReportTests (see scripts/report-fixture/README.md).
//
//   report-fixture-runner run    PLAN.json ROOT     run every trial of the plan under ROOT/<sweep>/<key>
//   report-fixture-runner export PLAN.json ROOT OUT assemble ROOT's trial directories into a RunExport
//
// Not a product of the package: make-fixture.sh adds it to a temporary copy of the manifest. The sweep
// harness (rdd-sweep) will export the same format from its run database; this stands in until then.
import Foundation
import Pipeline
import Report

// MARK: The plan

/// A list of sweeps, each a base (dotted JSON paths → values) and an ordered grid, over a preset.
struct Plan: Decodable {
    struct Sweep: Decodable {
        var name: String
        var specPath: String
        var base: [[JSONValue]]        // [[path, value], ...] in order
        var grid: [[JSONValue]]        // [[path, [values]], ...] in order; cartesian product, first key slowest
        var seeds: [UInt64]
    }
    var preset: String
    var base: [[JSONValue]]
    var sweeps: [Sweep]
    /// Stages whose journal series are kept in the export (others keep timing and memory only).
    var seriesStagesPrefix: String
    /// Series points kept: steps that are multiples of this, and the last logged step.
    var seriesEvery: Int
}

/// A JSON value that keeps its text (numbers are written back exactly as given).
enum JSONValue: Decodable {
    case string(String), number(Double), bool(Bool), array([JSONValue])
    init(from d: Decoder) throws {
        let c = try d.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .array(try c.decode([JSONValue].self)) }
    }
    var any: Any {
        switch self {
        case .string(let s): return s
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? Int(n) as Any : n as Any
        case .bool(let b): return b
        case .array(let a): return a.map(\.any)
        }
    }
    /// The axis text the sweep harness stores: JSON of the value.
    var jsonText: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? "\(Int(n))" : "\(n)"
        case .bool(let b): return b ? "true" : "false"
        case .array(let a): return "[" + a.map(\.jsonText).joined(separator: ",") + "]"
        }
    }
    var stringValue: String { if case .string(let s) = self { return s }; fatalError("expected a string, got \(self)") }
    var arrayValue: [JSONValue] { if case .array(let a) = self { return a }; fatalError("expected an array, got \(self)") }
}

struct PlannedTrial {
    var sweep: Plan.Sweep
    var key: String
    var axes: [(String, JSONValue)]
    var config: ExperimentConfig
}

func setPath(_ obj: inout [String: Any], _ path: [String], _ value: Any) {
    if path.count == 1 { obj[path[0]] = value; return }
    var child = obj[path[0]] as? [String: Any] ?? [:]
    setPath(&child, Array(path.dropFirst()), value)
    obj[path[0]] = child
}

func resolve(preset: String, overrides: [(String, JSONValue)]) throws -> ExperimentConfig {
    let base = try ExperimentConfig.defaults(preset: preset)
    var obj = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as! [String: Any]
    for (path, v) in overrides { setPath(&obj, path.split(separator: ".").map(String.init), v.any) }
    let c = try JSONDecoder().decode(ExperimentConfig.self, from: JSONSerialization.data(withJSONObject: obj))
    let problems = c.validationErrors()
    if !problems.isEmpty { throw PipelineError("invalid configuration: " + problems.joined(separator: "; ")) }
    return c
}

func expand(_ plan: Plan) throws -> [PlannedTrial] {
    var out: [PlannedTrial] = []
    for s in plan.sweeps {
        let base = (plan.base + s.base).map { ($0[0].stringValue, $0[1]) }
        let grid = s.grid.map { ($0[0].stringValue, $0[1].arrayValue) }
        var points: [[(String, JSONValue)]] = [[]]
        for (k, vs) in grid { points = points.flatMap { p in vs.map { p + [(k, $0)] } } }
        var i = 0
        for p in points { for seed in s.seeds {
            let axes = p + [("seed", JSONValue.number(Double(seed)))]
            let c = try resolve(preset: plan.preset, overrides: base + axes)
            out.append(PlannedTrial(sweep: s, key: String(format: "t%03d", i), axes: axes, config: c))
            i += 1
        } }
    }
    return out
}

// MARK: Running

/// 64-bit FNV-1a, hex: the fixture's stage identity (the sweep harness uses SHA-256 of the same content).
func fnv1a(_ s: String) -> String {
    var h: UInt64 = 0xcbf29ce484222325
    for b in s.utf8 { h ^= UInt64(b); h = h &* 0x100000001b3 }
    return String(format: "%016llx", h)
}

struct StageInfo: Codable { var identity: String; var seconds: Double; var peakMemoryBytes: Int; var sharedFrom: String? }
struct TrialInfo: Codable { var sweep: String; var specPath: String; var preset: String; var key: String; var axes: [[String]]; var configJSON: String }

/// Resets the process's peak resident set (Linux: write 5 to /proc/self/clear_refs after trimming the heap).
func resetPeak() {
    if let sym = dlsym(nil, "malloc_trim") {
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(sym, to: Trim.self)(0)
    }
    if let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") { try? h.write(contentsOf: Data("5".utf8)); try? h.close() }
}

/// VmHWM of this process in bytes.
func peakBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return 1024 * (Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") ?? 0)
    }
    return 0
}

func identities(_ nodes: [StageNode]) -> [String: String] {
    var id: [String: String] = [:]
    for n in nodes {
        let inputs = n.inputs.keys.sorted().map { "\($0)=\(id[n.inputs[$0]!]!)" }.joined(separator: ",")
        id[n.name] = fnv1a(CodeVersion.string + "|" + n.kind.rawValue + "|" + n.config + "|" + inputs)
    }
    return id
}

func run(_ plan: Plan, root: String) throws {
    let fm = FileManager.default
    var done: [String: String] = [:]     // identity → directory that holds the finished stage
    let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys, .prettyPrinted]
    for t in try expand(plan) {
        let dir = "\(root)/\(t.sweep.name)/\(t.key)"
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let info = TrialInfo(sweep: t.sweep.name, specPath: t.sweep.specPath, preset: plan.preset, key: t.key,
                             axes: t.axes.map { [$0.0, $0.1.jsonText] }, configJSON: canonicalJSON(t.config))
        try enc.encode(info).write(to: URL(fileURLWithPath: dir + "/trial.json"))
        let nodes = StagePlan.plan(t.config)
        let ids = identities(nodes)
        print("== \(t.sweep.name)/\(t.key): " + t.axes.map { "\($0.0)=\($0.1.jsonText)" }.joined(separator: " "))
        for n in nodes {
            let sdir = dir + "/" + n.name
            let doneFile = n.kind == .eval ? sdir + "/result.json" : sdir + "/final.h5"
            let id = ids[n.name]!
            if fm.fileExists(atPath: doneFile) { done[id] = done[id] ?? sdir; continue }
            if let src = done[id] {
                try? fm.removeItem(atPath: sdir)
                try fm.copyItem(atPath: src, toPath: sdir)
                var si = try JSONDecoder().decode(StageInfo.self, from: Data(contentsOf: URL(fileURLWithPath: src + "/stage.json")))
                si.sharedFrom = si.sharedFrom ?? src
                try enc.encode(si).write(to: URL(fileURLWithPath: sdir + "/stage.json"))
                continue
            }
            var inputs: [String: String] = [:]
            for (role, src) in n.inputs { inputs[role] = dir + "/" + src + "/final.h5" }
            let req = StageRequest(kind: n.kind, config: n.config, inputs: inputs,
                                   classifierNetwork: n.inputs["classifier"] != nil ? t.config.classifier.network : nil, directory: sdir)
            resetPeak()
            let t0 = Date()
            try runStage(req, context: StageContext(directory: sdir, checkpointEvery: 100, logEvery: 2))
            let secs = Date().timeIntervalSince(t0)
            try enc.encode(StageInfo(identity: id, seconds: secs, peakMemoryBytes: peakBytes(), sharedFrom: nil))
                .write(to: URL(fileURLWithPath: sdir + "/stage.json"))
            print(String(format: "   %@: %.1f s", n.name, secs))
            done[id] = sdir
        }
    }
}

// MARK: Export

func export(_ plan: Plan, root: String, out: String) throws {
    let dec = JSONDecoder()
    var sweeps: [String: SweepRecord] = [:]
    var trials: [TrialRecord] = []
    for t in try expand(plan) {
        let rel = "\(t.sweep.name)/\(t.key)"
        let dir = root + "/" + rel
        let info = try dec.decode(TrialInfo.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/trial.json")))
        sweeps[info.sweep] = SweepRecord(name: info.sweep, specPath: info.specPath, specHash: fnv1a(info.specPath), preset: info.preset)
        var evals: [EvaluationRecord] = []
        var stages: [StageRecord] = []
        var complete = true
        for n in StagePlan.plan(t.config) {
            let sdir = dir + "/" + n.name
            guard let si = try? dec.decode(StageInfo.self, from: Data(contentsOf: URL(fileURLWithPath: sdir + "/stage.json"))) else {
                complete = false; continue
            }
            var series: [String: [SeriesPoint]] = [:]
            if n.name.hasPrefix(plan.seriesStagesPrefix) {
                // Thinned to every `seriesEvery`-th step and the last, to keep the fixture small.
                let entries = Journal.read(path: sdir + "/journal.jsonl").filter { $0.name != "lr" }
                let last = entries.map(\.step).max() ?? 0
                for e in entries where e.step % plan.seriesEvery == 0 || e.step == last {
                    series[e.name, default: []].append(SeriesPoint(step: e.step, value: e.value))
                }
            }
            stages.append(StageRecord(name: n.name, kind: n.kind.rawValue, identity: si.identity, status: "completed",
                                      seconds: si.seconds, peakMemoryBytes: si.peakMemoryBytes, series: series))
            if n.kind == .eval {
                let r = try dec.decode(EvaluationResult.self, from: Data(contentsOf: URL(fileURLWithPath: sdir + "/result.json")))
                for m in r.metrics {
                    evals.append(EvaluationRecord(stage: n.name, model: r.modelLabel, metric: m.name, value: m.value, label: m.label,
                                                  featureNetwork: m.featureNetwork, samples: m.samples, reference: m.reference,
                                                  sampler: m.sampler, steps: m.steps, nfe: m.nfe, secondsPerImage: r.secondsPerImage,
                                                  artifactDirectory: rel + "/" + n.name))
                }
            }
        }
        trials.append(TrialRecord(sweep: info.sweep, key: info.key, axes: Dictionary(uniqueKeysWithValues: info.axes.map { ($0[0], $0[1]) }),
                                  configJSON: info.configJSON, status: complete ? "completed" : "failed", evaluations: evals, stages: stages))
    }
    let ex = RunExport(sweeps: sweeps.keys.sorted().map { sweeps[$0]! },
                       trials: trials.sorted { ($0.sweep, $0.key) < ($1.sweep, $1.key) })
    // Compact (not pretty-printed) but with sorted keys: deterministic, and RunExport.load reads either.
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    try (enc.encode(ex) + Data("\n".utf8)).write(to: URL(fileURLWithPath: out))
    print("wrote \(out): \(ex.trials.count) trials, \(ex.trials.map(\.evaluations.count).reduce(0, +)) evaluation records")
}

// MARK: Main

let args = CommandLine.arguments
do {
    guard args.count >= 4, let plan = try? JSONDecoder().decode(Plan.self, from: Data(contentsOf: URL(fileURLWithPath: args[2]))) else {
        throw PipelineError("usage: report-fixture-runner run PLAN.json ROOT | export PLAN.json ROOT OUT.json (plan must decode)")
    }
    switch args[1] {
    case "run": try run(plan, root: args[3])
    case "export" where args.count >= 5: try export(plan, root: args[3], out: args[4])
    default: throw PipelineError("unknown command '\(args[1])'")
    }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
