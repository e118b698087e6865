import Foundation
import RunModel

// Tables 1–3: rows × columns as in the paper, each cell "ours (paper)".

/// The four method columns of Tables 1 and 2, ours → the paper's name.
let tableMethods: [(ours: String, paper: String)] = [("pd", "PD"), ("pd_perceptual", "PD+LPIPS"), ("rcfd", "RCFD"), ("rdd", "RDD")]
let tableSteps = [1, 2, 4]

/// The values of `metric` for the `steps`-step students of any of `methods` (stage "eval-<method>-<steps>").
func studentCell(_ trials: [TrialView], methods: [String], steps: Int, metric: String) -> Cell {
    Cell(trials.filter { methods.contains($0.method) }.compactMap { t in
        t.metric("eval-\(t.method)-\(steps)", metric).map { seedValue(t, $0) }
    })
}

/// The spec file to name when a cell is missing: the sweep contributing most of `trials` (ties: by name).
/// Where a preset's specs live: `experiments/` for `small` (the measured reproduction),
/// `experiments/<preset>/` for the others (scripts/experiments/make_specs.py writes them).
func specDirectory(_ preset: String) -> String { preset == "small" ? "experiments/" : "experiments/\(preset)/" }

/// The repository's one-seed spec for the DDIM-1024 row of Table 1 (or, `conditional`, Table 2), kept apart from
/// table1.json / table2.json: it is hours at small.
func ddim1024Spec(_ preset: String, conditional: Bool) -> String {
    specDirectory(preset) + (conditional ? "table2-ddim1024.json" : "table1-ddim1024.json")
}

/// What to run when a report has no completed trials for something: the command that resumes the sweeps
/// whose trials `waiting` have not completed, else the repository's spec `name` of each preset in view
/// (`rdd-sweep run experiments/fig8.json`), with `orAdd` as the alternative of writing one's own sweep.
func runHint(_ data: ReportData, spec name: String, waiting: [TrialView], orAdd: String) -> String {
    if !waiting.isEmpty {
        return "its trials have not completed yet (\(statesText(waiting))): \(resumeCommands(data, waiting)) resumes them, then export again."
    }
    var presets = data.presetFilter.map { [$0] } ?? Array(Set(data.trials.filter(data.passesFilters).map(\.preset))).sorted()
    if presets.isEmpty { presets = ["small"] }
    return presets.map { "`rdd-sweep run \(specDirectory($0))\(name).json`" }.joined(separator: " or ")
        + " runs the repository's sweep for it (or \(orAdd)), then export again."
}

/// "2 queued, 1 running": how many of `trials` are in each state.
func statesText(_ trials: [TrialView]) -> String {
    Dictionary(grouping: trials, by: { $0.record.status.rawValue }).map { "\($0.value.count) \($0.key)" }.sorted().joined(separator: ", ")
}

/// The `rdd-sweep run SPEC` commands that resume the sweeps of `trials`.
func resumeCommands(_ data: ReportData, _ trials: [TrialView]) -> String {
    Array(Set(trials.map { data.sweep(named: $0.record.sweep)?.resumeCommand ?? "rdd-sweep run \($0.record.sweep)" })).sorted()
        .map { "`\($0)`" }.joined(separator: ", ")
}

/// Said above a table or figure some of whose trials have not completed (a report made while sweeps
/// run): its cells may have fewer seeds, or values, than the sweeps will give.
func pendingNote(_ data: ReportData, _ waiting: [TrialView]) -> String {
    guard !waiting.isEmpty else { return "" }
    return "**Incomplete:** \(waiting.count) trial\(waiting.count == 1 ? "" : "s") behind this report \(waiting.count == 1 ? "has" : "have") not completed (\(statesText(waiting))), "
        + "so cells may have fewer seeds, or values, than the sweeps will give; \(resumeCommands(data, waiting)) resumes them.\n\n"
}

func specToExtend(_ data: ReportData, _ trials: [TrialView], fallback: String) -> String {
    var count: [String: Int] = [:]
    for t in trials { count[t.record.sweep, default: 0] += 1 }
    guard let best = count.keys.sorted().max(by: { count[$0]! < count[$1]! || (count[$0]! == count[$1]! && $0 > $1) }) else { return fallback }
    return data.sweep(named: best)?.specPath ?? fallback
}

/// Why a student cell is empty and which trial would fill it.
/// `unfinished`: the scope's trials that have not completed; when some of them would fill the cell, the hint says
/// so (a sweep still running, or failed trials to retry) instead of asking for a spec change.
func missingStudent(_ trials: [TrialView], method: String, steps: Int, spec: String, unfinished: [TrialView] = []) -> String {
    let withMethod = trials.filter { $0.method == method }
    let waiting = unfinished.filter { $0.method == method }
    if withMethod.isEmpty, !waiting.isEmpty {
        return "missing: method=\(method) at \(steps) step\(steps == 1 ? "" : "s") — its trials have not completed yet (\(statesText(waiting))): `rdd-sweep run \(spec)` resumes them"
    }
    if withMethod.isEmpty {
        return "missing: method=\(method) at \(steps) step\(steps == 1 ? "" : "s"), any seed — add it to \(spec)"
    }
    return "missing: method=\(method) at \(steps) step\(steps == 1 ? "" : "s") — its trials (\(withMethod.map(\.ref).joined(separator: ", "))) did not evaluate it: add \(steps) to evaluation.studentSteps (with distill.to ≤ \(steps)) in \(spec)"
}

/// Tables 1 (unconditional) and 2 (class-conditional).
func methodTable(_ data: ReportData, conditional: Bool, paper: [PaperReference.Row], title: String,
                 paperDataset: String, baselineRows: [Baseline], links: LinkStyle) -> String {
    var out = "## \(title)\n\n"
    let scopes = data.scopes(conditional: conditional)
    if scopes.isEmpty {
        out += "No completed \(conditional ? "class-conditional (`conditional: true`)" : "unconditional") trials in this export: every cell is missing — "
        out += runHint(data, spec: conditional ? "table2" : "table1", waiting: data.notCompleted.filter { $0.conditional == conditional && isTableTrial($0) },
                       orAdd: "add a sweep over `distill.method` (pd, pd_perceptual, rcfd, rdd) with `evaluation.studentSteps: [1, 2, 4]`\(conditional ? " and `conditional: true`" : "") and several seeds") + "\n\n"
        out += "Paper (\(paperDataset)), FID: " + paper.map { "\($0.method) \($0.steps): \(fixed($0.fid, 2))" }.joined(separator: "; ") + ".\n"
        return out
    }
    for scope in scopes {
        let trials = data.trials(in: scope).filter(isTableTrial)
        if scopes.count > 1 { out += "### \(scope.title)\n\n" }
        out += "Our data set **\(scope.dataset)** (preset `\(scope.preset)`) stands in for the paper's \(paperDataset). "
        let sweeps = Array(Set(trials.map(\.record.sweep))).sorted()
        out += "\(trials.count) trial\(trials.count == 1 ? "" : "s") (sweep\(sweeps.count == 1 ? "" : "s") \(sweeps.joined(separator: ", "))).\n\n"
        out += pendingNote(data, data.unfinished(in: scope).filter(isTableTrial))
        let fid = fidMetric(trials)
        let spec = specToExtend(data, trials, fallback: "a sweep spec under \(specDirectory(scope.preset))")
        let unfinished = data.unfinished(in: scope)
        var missing: [String] = []
        var records: [EvaluationRecord] = []
        var convergence = ConvergenceNotes()
        func grid(_ metric: String, _ paperValue: (PaperReference.Row) -> Double?, trackMissing: Bool, decimals: Int = 2) -> String {
            var rows: [[String]] = []
            for s in tableSteps {
                var row = ["\(s)"]
                for (m, pm) in tableMethods {
                    let c = studentCell(trials, methods: [m], steps: s, metric: metric)
                    records += c.records
                    if c.isEmpty && trackMissing { missing.append(missingStudent(trials, method: m, steps: s, spec: spec, unfinished: unfinished)) }
                    let flag = trackMissing ? convergence.mark(c, steps: s, in: trials, what: "\(pm) \(s) step\(s == 1 ? "" : "s")") : ""
                    row.append(c.text(decimals, paper: PaperReference.row(paper, method: pm, steps: s).flatMap(paperValue)) + flag)
                }
                rows.append(row)
            }
            return markdownTable(["Steps"] + tableMethods.map { "\($0.paper) (`\($0.ours)`)" }, rows, align: ["r", "r", "r", "r", "r"])
        }
        out += "**FID ↓** (`\(fid)`\(fidHeadingNote(fid)); each cell: ours, mean ± 95% CI [n seeds] (paper))\n\n"
        out += grid(fid, { $0.fid }, trackMissing: true) + "\n"
        for c in companionColumns(trials, primary: fid) {
            out += "**\(c.heading) ↓** (`\(c.metric)`\(c.note.isEmpty ? "" : "; " + c.note); each cell: ours, mean ± 95% CI [n seeds]; the paper has no such column)\n\n"
            out += grid(c.metric, { _ in nil }, trackMissing: false, decimals: c.decimals) + "\n"
        }
        let score = scoreMetric(trials)
        out += "**\(scoreHeading(score)) ↑** (`\(score)`; the paper's column is the Inception Score)\n\n"
        out += grid(score, { $0.inceptionScore }, trackMissing: false) + "\n"
        if score == "score_evaluator" && trials.contains(where: { t in t.record.evaluations.contains { $0.metric == "classifier_score" } }) {
            out += "**Classifier score ↑** (`classifier_score`: the same formula on the distillation classifier's softmax — same network as the distillation losses: biased toward feature-matching methods; the paper has no such column)\n\n"
            out += grid("classifier_score", { _ in nil }, trackMissing: false) + "\n"
        }

        // Training-free baselines and the 8-step PD model: every table trial of the scope evaluates them the same way.
        var extra = baselineRows
        let present = Set(trials.flatMap(\.record.evaluations).map(\.stage))
        for st in present.sorted() {
            guard case .eval(let label, let n)? = StageName(st), let sampler = BaselineSampler(rawValue: label) else { continue }
            let b = Baseline(sampler, steps: n)
            if (sampler != .pd || n == 8) && !extra.contains(b) { extra.append(b) }
        }
        var brows: [[String]] = []
        for b in extra {
            let kind = b.sampler.rawValue, n = b.steps
            let stage = "eval-\(kind)-\(n)"
            let cf = cell(trials, stage: stage, metric: fid), cs = cell(trials, stage: stage, metric: score)
            records += cf.records
            let p = PaperReference.row(paper, method: PaperReference.paperName(kind), steps: n)
            let nfe = Array(Set(cf.records.map(\.nfe))).sorted().map(String.init).joined(separator: ", ")
            brows.append(["\(PaperReference.paperName(kind)) \(n) steps (`\(stage)`)", nfe.isEmpty ? "–" : nfe,
                          cf.text(2, paper: p?.fid), cs.text(2, paper: p?.inceptionScore)])
            if cf.isEmpty {
                let own = b == Baseline(.sampler(.ddim), steps: 1024) ? "run \(ddim1024Spec(scope.preset, conditional: conditional)) (the repository's spec for this row: 1024 U-Net passes per sample), or " : ""
                missing.append("missing: \(stage) (baseline \(b)), any seed — \(own)add \"\(b)\" to evaluation.baselines in \(spec)")
            }
        }
        out += "**Other rows** (samplers on the teacher; the 8-step PD model)\n\n"
        out += markdownTable(["Row", "NFE (ours)", "FID ↓ ours (paper)", "Score ↑ ours (paper IS)"], brows, align: ["l", "r", "r", "r"]) + "\n"
        out += LabelSummary(records: records, trials: trials).lines(metric: fid, scoreMetric: score).joined(separator: "\n") + "\n"
        if let note = convergence.footnote { out += note + "\n" }
        out += "- The PD+LPIPS column is our `pd_perceptual`: L_PD plus a perceptual distance on our classifier's features (no LPIPS network).\n\n"
        if !missing.isEmpty {
            out += "**Missing cells** (\(missing.count)):\n\n" + missing.map { "- \($0)\n" }.joined() + "\n"
        }
        var verdicts: [Verdict] = []
        for s in tableSteps {
            func c(_ m: String) -> Cell { studentCell(trials, methods: [m], steps: s, metric: fid) }
            func pdiff(_ a: String, _ b: String) -> Double? {
                guard let x = PaperReference.row(paper, method: a, steps: s), let y = PaperReference.row(paper, method: b, steps: s) else { return nil }
                return x.fid - y.fid
            }
            let st = "\(s) step\(s == 1 ? "" : "s")"
            verdicts.append(Verdict(claim: "RDD < RCFD at \(st)", a: c("rdd"), b: c("rcfd"), unit: "FID", paper: pdiff("RDD", "RCFD"),
                                    missingA: "RDD", missingB: "RCFD"))
            verdicts.append(Verdict(claim: "RCFD < PD at \(st)", a: c("rcfd"), b: c("pd"), unit: "FID", paper: pdiff("RCFD", "PD"),
                                    missingA: "RCFD", missingB: "PD"))
            verdicts.append(Verdict(claim: "PD+perceptual < PD at \(st)", a: c("pd_perceptual"), b: c("pd"), unit: "FID",
                                    paper: pdiff("PD+LPIPS", "PD"), missingA: "PD+perceptual", missingB: "PD"))
        }
        out += verdictSection(verdicts) + "\n"
    }
    return out
}

/// Table 1: CIFAR-10 unconditional in the paper.
public func table1Report(_ data: ReportData, links: LinkStyle) -> String {
    methodTable(data, conditional: false, paper: PaperReference.table1,
                title: "Table 1 — unconditional generation: methods × steps (paper: CIFAR-10)", paperDataset: "CIFAR-10",
                baselineRows: [Baseline(.pd, steps: 8), Baseline(.sampler(.ddim), steps: 8), Baseline(.sampler(.pndm), steps: 10),
                               Baseline(.sampler(.dpmSolver), steps: 12), Baseline(.sampler(.ddim), steps: 1024)], links: links)
}

/// Table 2: ImageNet 64×64 class-conditional in the paper.
public func table2Report(_ data: ReportData, links: LinkStyle) -> String {
    methodTable(data, conditional: true, paper: PaperReference.table2,
                title: "Table 2 — class-conditional generation: methods × steps (paper: ImageNet 64×64)", paperDataset: "ImageNet 64×64",
                baselineRows: [Baseline(.pd, steps: 8), Baseline(.sampler(.ddim), steps: 8), Baseline(.sampler(.ddim), steps: 128),
                               Baseline(.sampler(.ddim), steps: 1024)], links: links)
}

/// Table 3's rows: the paper's loss configuration and the methods of ours that train it.
let table3Rows: [(label: String, methods: [String], paperTerms: [String])] = [
    ("PD", ["pd"], ["PD"]),
    ("CFD (= RCFD)", ["rcfd"], ["CFD"]),
    ("CFD + II_P2P", ["cfd+ii_p2p"], ["CFD", "II_P2P"]),
    ("CFD + IS_P2P", ["cfd+is_p2p"], ["CFD", "IS_P2P"]),
    ("CFD + M_P2P", ["cfd+m_p2p"], ["CFD", "M_P2P"]),
    ("CFD + IS_P2P + M_P2P (RDD)", ["rdd", "cfd+is_p2p+m_p2p"], ["CFD", "IS_P2P", "M_P2P"]),
]

/// Table 3: the loss ablation at 1 step.
public func table3Report(_ data: ReportData, links: LinkStyle) -> String {
    var out = "## Table 3 — loss ablation: FID of the 1-step student (paper: CIFAR-10)\n\n"
    let scopes = data.scopes(conditional: false)
    if scopes.isEmpty {
        return out + "No completed unconditional trials in this export: every row is missing — "
            + runHint(data, spec: "ablation", waiting: data.notCompleted.filter { !$0.conditional && isTableTrial($0) },
                      orAdd: "add a sweep over `distill.method` ∈ {pd, rcfd, cfd+ii_p2p, cfd+is_p2p, cfd+m_p2p, rdd} with `evaluation.studentSteps: [1]` and several seeds") + "\n"
    }
    for scope in scopes {
        let trials = data.trials(in: scope).filter(isTableTrial)
        if scopes.count > 1 { out += "### \(scope.title)\n\n" }
        let fid = fidMetric(trials)
        let spec = specToExtend(data, trials, fallback: "a sweep spec under \(specDirectory(scope.preset))")
        out += "Our data set **\(scope.dataset)** (preset `\(scope.preset)`) stands in for CIFAR-10; each configuration distills 8 → 4 → 2 → 1 and the 1-step student is evaluated.\n\n"
        out += pendingNote(data, data.unfinished(in: scope).filter(isTableTrial))
        let linked = termsLinkTargets(data)
        var rows: [[String]] = []
        var cells: [Cell] = []
        let unfinished = data.unfinished(in: scope)
        var missing: [String] = []
        var records: [EvaluationRecord] = []
        var convergence = ConvergenceNotes()
        let independent = companionColumns(trials, primary: fid)
        for (i, r) in table3Rows.enumerated() {
            let c = studentCell(trials, methods: r.methods, steps: 1, metric: fid)
            cells.append(c)
            records += c.records
            if c.isEmpty { missing.append(missingStudent(trials, method: r.methods[0], steps: 1, spec: spec, unfinished: unfinished)) }
            let refs = c.values.filter { linked.contains($0.trial) }.map { v in links.link("seed \(v.seed)", report: "terms", anchor: termsAnchor(v.trial)) }
            var row = [r.label, r.methods.map { "`\($0)`" }.joined(separator: ", "),
                       c.text(2, paper: PaperReference.table3[i].fid) + convergence.mark(c, steps: 1, in: trials, what: r.label),
                       c.values.isEmpty ? "–" : c.perSeed(2)]
            for c in independent {
                let e = studentCell(trials, methods: r.methods, steps: 1, metric: c.metric)
                records += e.records
                row.append(e.text(c.decimals))
            }
            rows.append(row + [refs.isEmpty ? "–" : refs.joined(separator: " ")])
        }
        out += "**FID ↓** (`\(fid)`\(fidHeadingNote(fid)); ours, mean ± 95% CI [n seeds] (paper))\n\n"
        out += markdownTable(["Loss", "Method", "FID ours (paper)", "Per seed"] + independent.map { "`\($0.metric)` ↓" } + ["Term diagnostics"], rows,
                             align: ["l", "l", "r", "l"] + independent.map { _ in "r" } + ["l"]) + "\n"
        for c in independent { out += "- `\(c.metric)`: \(c.heading)\(c.note.isEmpty ? "" : " — " + c.note).\n" }
        out += LabelSummary(records: records, trials: trials).lines(metric: fid, scoreMetric: nil).joined(separator: "\n") + "\n"
        if let note = convergence.footnote { out += note + "\n" }
        out += "- Term diagnostics: the time-averaged value, gradient norms and gradient share of each loss term (issue 11) of one trial per configuration (the lowest seed), in the `terms` report; other seeds: `rdd-report terms --trial <sweep/key>`.\n\n"
        if !missing.isEmpty { out += "**Missing rows** (\(missing.count)):\n\n" + missing.map { "- \($0)\n" }.joined() + "\n" }
        func p(_ i: Int, _ j: Int) -> Double { PaperReference.table3[i].fid - PaperReference.table3[j].fid }
        var verdicts: [Verdict] = []
        for i in 2...4 {
            verdicts.append(Verdict(claim: "\(table3Rows[i].label) < CFD", a: cells[i], b: cells[1], unit: "FID", paper: p(i, 1),
                                    missingA: table3Rows[i].label, missingB: "CFD"))
        }
        var best: [Verdict] = []
        for j in 0...4 {
            best.append(Verdict(claim: "RDD < \(table3Rows[j].label)", a: cells[5], b: cells[j], unit: "FID", paper: p(5, j),
                                missingA: "RDD", missingB: table3Rows[j].label))
        }
        verdicts.append(combined("Each relational term improves on CFD alone", Array(verdicts[0..<3])))
        verdicts += best
        verdicts.append(combined("RDD is best of the six", best))
        out += verdictSection(verdicts) + "\n"
    }
    return out
}

/// The anchor of a trial's section in the terms report.
public func termsAnchor(_ trialRef: String) -> String { "terms-" + anchorID(trialRef) }


/// A metric's label from its first record, without the sampler part: "FID (independent evaluator ResNet-6 (…),
/// N=256, vs digits test split (252 images))". Nil when no trial recorded the metric.
func metricHeading(_ trials: [TrialView], _ metric: String) -> String? {
    guard let r = trials.lazy.flatMap(\.record.evaluations).first(where: { $0.metric == metric }) else { return nil }
    guard let cut = r.label.range(of: ", \(r.sampler) ", options: .backwards) else { return r.label }
    return String(r.label[..<cut.lowerBound])
}

/// What a table says beside its FID metric's name: the classifier FID is computed on the network whose features
/// the feature-matching losses match; the evaluator's on a network no loss sees.
func fidHeadingNote(_ metric: String) -> String {
    switch metric {
    case "fid_classifier": return ": classifier features — same network as the distillation losses: biased toward feature-matching methods"
    case "fid_evaluator": return ": independent evaluator — no loss sees this network"
    default: return ""
    }
}

/// The distance metrics a table shows beside its FID metric (`fidMetric`), when the trials recorded them: the
/// independent evaluator's FID and KID (issue 20 §1), and — when the table's FID is the evaluator's — the
/// classifier's FID, kept and labelled biased (issue 24 §4).
func companionColumns(_ trials: [TrialView], primary: String) -> [(metric: String, decimals: Int, heading: String, note: String)] {
    let evaluator = "no loss sees this network"
    var candidates = [("fid_evaluator", 2, evaluator), ("kid_evaluator", 4, evaluator)]
    if primary == "fid_evaluator" {
        candidates.append(("fid_classifier", 2, "same network as the distillation losses: biased toward feature-matching methods"))
    }
    return candidates.compactMap { m, decimals, note in
        guard m != primary, let heading = metricHeading(trials, m) else { return nil }
        // The classifier's own label already carries its caveat: not said twice.
        return (m, decimals, heading, heading.contains(note) ? "" : note)
    }
}
