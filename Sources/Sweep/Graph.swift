import Foundation
import Pipeline
import Models
import RunModel

/// The content identity of a stage: SHA-256 over a versioned preamble, the stage kind, the code
/// version, the canonical configuration JSON and the identities of its inputs by role (sorted). Any
/// change upstream changes the input identities and so this one; a code version bump changes all.
public func stageIdentity(kind: StageKind, config: String, inputs: [String: String], codeVersion: String = CodeVersion.string) -> String {
    // The bytes of `stageIdentityText`, fed to the hasher piece by piece rather than copied into one string first.
    var h = SHA256.Hasher()
    h.update("rdd-stage-identity/1\nkind=\(kind.rawValue)\ncode=\(codeVersion)\nconfig=")
    h.update(config)
    h.update("\n")
    for (role, id) in inputs.sorted(by: { $0.key < $1.key }) { h.update("input \(role)=\(id)\n") }
    return SHA256.hex(digest: h.finalize())
}

/// What `stageIdentity` hashes.
func stageIdentityText(kind: StageKind, config: String, inputs: [String: String], codeVersion: String = CodeVersion.string) -> String {
    var text = "rdd-stage-identity/1\nkind=\(kind.rawValue)\ncode=\(codeVersion)\nconfig=\(config)\n"
    for (role, id) in inputs.sorted(by: { $0.key < $1.key }) { text += "input \(role)=\(id)\n" }
    return text
}

/// A stage of the sweep's graph: one per distinct identity, shared by every trial that needs it.
public struct PlannedStage {
    public var identity: String
    public var kind: StageKind
    public var config: String
    /// Role → input stage identity.
    public var inputs: [String: String]
    public var classifierNetwork: DenseNetConfig?
    /// The node names trials give it ("teacher", "pd512", "distill-rdd-4", …).
    public var names: [String]
    /// Indices of the trials that need it.
    public var trials: [Int]
    /// Steps of a training stage when known from its configuration.
    public var totalSteps: Int?

    public var displayName: String { names.count == 1 ? names[0] : names.joined(separator: "|") }
    public var shortID: String { String(identity.prefix(10)) }
}

/// A trial's link to one of its stages.
public struct TrialStageLink {
    public var name: String
    /// For evaluations, what was measured: "student@1", "ddim@8", "pd@8"; else the stage name.
    public var role: String
    public var identity: String
}

/// A sweep expanded into trials and its de-duplicated stage graph.
public struct SweepPlan {
    public var spec: SweepSpec
    public var trials: [ExpandedTrial]
    /// In dependency order (every stage after its inputs).
    public var stages: [PlannedStage]
    public var links: [Int: [TrialStageLink]]
    /// SHA-256 of what the sweep computes: each trial's index, key and resolved configuration.
    /// Formatting, key order, `description` and `execution` do not change it.
    public var specHash: String
    /// Identity → position in `stages`, so looking a stage up costs O(1), not a scan of the sweep
    /// (a scan per trial–stage link made `plan` quadratic in the number of trials).
    let position: [String: Int]

    public func stage(_ id: String) -> PlannedStage? { position[id].map { stages[$0] } }

    public static func make(_ spec: SweepSpec, maxTrials: Int = SweepSpec.defaultMaxTrials) throws -> SweepPlan {
        let trials = try spec.expand(maxTrials: maxTrials)
        var stages: [PlannedStage] = []
        var index: [String: Int] = [:]
        var links: [Int: [TrialStageLink]] = [:]
        // Most nodes of a trial (classifier, teacher, PD chain) are those of the trial before it when the axes do not
        // change them: a node whose settings and input identities equal the previous trial's node of the same name
        // has its identity, so neither its canonical JSON nor its identity text is made again (a bounded memo: one
        // entry per node name). Settings compare as values, far cheaper than encoding and hashing them.
        var previous: [StageName: (settings: StageSettings, inputs: [String: String], config: String, id: String)] = [:]
        // The nodes that do change (a trial's distillation and evaluation) mostly change in a member or two.
        let encoder = CanonicalEncoder()
        for t in trials {
            var ids: [StageName: String] = [:]
            var kinds: [StageName: StageKind] = [:]
            for n in StagePlan.plan(t.config) {
                var inputs: [String: String] = [:]
                for (role, src) in n.inputs {
                    guard let id = ids[src] else { throw PipelineError("stage plan: '\(n.name)' needs '\(src)', which comes later or not at all") }
                    inputs[role] = id
                }
                let config: String, id: String
                if let p = previous[n.name], p.inputs == inputs, p.settings == n.settings {
                    (config, id) = (p.config, p.id)
                } else {
                    config = encoder.encode(n.settings.payload)   // = n.config
                    id = stageIdentity(kind: n.kind, config: config, inputs: inputs)
                    previous[n.name] = (n.settings, inputs, config, id)
                }
                ids[n.name] = id
                kinds[n.name] = n.kind
                let name = n.name.description
                if let i = index[id] {
                    if !stages[i].names.contains(name) { stages[i].names.append(name) }
                    if stages[i].trials.last != t.index { stages[i].trials.append(t.index) }
                } else {
                    index[id] = stages.count
                    stages.append(PlannedStage(identity: id, kind: n.kind, config: config, inputs: inputs,
                                               classifierNetwork: n.inputs["classifier"] != nil ? t.config.classifier.network : nil,
                                               names: [name], trials: [t.index], totalSteps: n.settings.totalSteps))
                }
                var role = name
                if case .eval(let e) = n.settings {
                    // The role follows from the configuration and the model's kind, both part of the identity.
                    let model = n.inputs["model"].flatMap { kinds[$0] }
                    role = e.snapshots != nil ? "curve@\(e.steps)" : model == .distill ? "student@\(e.steps)" : "\(e.label)@\(e.steps)"
                }
                links[t.index, default: []].append(TrialStageLink(name: name, role: role, identity: id))
            }
        }
        // "rdd-sweep-spec/1\n" + the trials' "index\tkey\tconfiguration" lines joined by "\n", hashed as it is written.
        var hash = SHA256.Hasher()
        hash.update("rdd-sweep-spec/1\n")
        for (i, t) in trials.enumerated() {
            hash.update(i == 0 ? "\(t.index)\t\(t.key)\t" : "\n\(t.index)\t\(t.key)\t")
            hash.update(t.configJSON)
        }
        return SweepPlan(spec: spec, trials: trials, stages: stages, links: links, specHash: SHA256.hex(digest: hash.finalize()), position: index)
    }
}
