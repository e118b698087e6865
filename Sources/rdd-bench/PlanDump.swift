import ArgumentParser
import Foundation
import RunModel
import Sweep

/// `rdd-bench plan-dump SPEC`: everything a plan determines, written out in full — the spec hash; each trial's
/// index, key, axes and resolved configuration JSON; each stage's identity, kind, configuration JSON, inputs,
/// names, trials and steps; each trial–stage link. Two builds agree on a spec exactly when their dumps are equal,
/// which is how a change to `plan`'s speed is checked to leave every stored byte alone (docs/benchmarks.md,
/// "Harness at scale"; `rdd-sweep plan` prints only prefixes of the identities and hash).
struct PlanDump: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan-dump", abstract: "Print everything a spec's plan determines (to compare two builds byte for byte).")
    @Argument(help: "Sweep spec.") var spec: String
    @Option(help: "Refuse a spec that expands to more trials than this.") var maxTrials = SweepSpec.defaultMaxTrials

    func run() throws {
        let p = try SweepPlan.make(try SweepSpec.load(path: spec), maxTrials: maxTrials)
        var out = "spec hash \(p.specHash)\n"
        for t in p.trials {
            out += "trial \(t.index)\t\(t.key)\t\(t.axesSummary)\n\(t.configJSON)\n"
            for l in p.links[t.index] ?? [] { out += "  link \(l.name)\t\(l.role)\t\(l.identity)\n" }
        }
        for s in p.stages {
            let inputs = s.inputs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            out += "stage \(s.identity)\t\(s.kind.rawValue)\t\(s.names.joined(separator: "|"))\tinputs \(inputs)\t"
            out += "steps \(s.totalSteps.map(String.init) ?? "-")\tclassifier \(s.classifierNetwork.map { "\($0)" } ?? "-")\t"
            out += "trials \(s.trials.map(String.init).joined(separator: ","))\n\(s.config)\n"
        }
        print(out, terminator: "")
    }
}
