import Foundation
import Report
import Sweep

// The trials table of a sweep (Sweep's `TrialsTable`, what `rdd-sweep export` writes) and one trial's page
// (Sweep's `TrialDetail`, what `rdd-sweep show` prints, with Report's loss-term diagnostics).

extension Dashboard {
    func trialsPage(_ sw: SweepRow) throws -> String {
        let t = try reports.trialsTable(sweep: sw.label)
        let base = "/sweeps/\(pathSegment(sw.name))"
        // The paper's value per (model, steps, metric, conditional): looked up once, not once per cell.
        var paperCache: [String: Double?] = [:]
        func paper(_ m: TrialsTable.Metric, metric: String, conditional: Bool) -> Double? {
            let key = "\(m.model)|\(m.steps)|\(metric)|\(conditional)"
            if let v = paperCache[key] { return v }
            let v = PaperReference.value(model: m.model, steps: m.steps, metric: metric, conditional: conditional)
            paperCache[key] = v
            return v
        }
        let metricNames = t.columns.map { String($0.split(separator: "/").last ?? "") }
        var html = ""
        html.reserveCapacity(t.trials.count * (200 + 60 * t.columns.count))
        for tr in t.trials {
            html += "<tr><td data-v=\"\(tr.index)\"><a href=\"\(base)/trials/\(tr.index)\">\(tr.index)</a></td><td>\(badge(tr.status))</td>"
            for a in sw.axes { html += "<td>\(h(tr.axis(a) ?? "–"))</td>" }
            var byColumn: [String: TrialsTable.Metric] = [:]
            for (c, m) in tr.metrics where byColumn[c] == nil { byColumn[c] = m }
            for (i, c) in t.columns.enumerated() {
                guard let m = byColumn[c] else { html += "<td class=\"num\" data-v=\"\">–</td>"; continue }
                html += "<td class=\"num\" data-v=\"\(m.value)\" title=\"\(h(m.label))\">\(num(m.value))"
                if let p = paper(m, metric: metricNames[i], conditional: tr.conditional) { html += "<span class=\"paper\">(\(num(p)))</span>" }
                html += "</td>"
            }
            html += "</tr>\n"
        }
        var head = "<tr><th class=\"num\">Trial</th><th>Status</th>"
        for a in sw.axes { head += "<th>\(h(a))</th>" }
        for c in t.columns { head += "<th class=\"num\">\(h(c))</th>" }
        head += "</tr>"
        var body = "<p><input type=\"search\" id=\"filter\" placeholder=\"Filter: every word must appear in the row\"> "
        body += "<span class=\"muted\"><span id=\"shown\">\(t.trials.count)</span> of \(t.trials.count) trials shown; click a column to sort.</span></p>\n"
        body += "<p class=\"note\">Metric columns are <code>what was measured / metric</code> (student@1 = the 1-step student). "
        body += "<span class=\"paper\">(grey)</span>: the paper's number for the same method and steps (Tables 1–3, Inception FID or IS on CIFAR-10 / ImageNet-64: "
        body += "compare orderings, not absolute values, with our classifier-feature FID). Hover a value for its full label.</p>\n"
        body += "<table id=\"trials\" class=\"sortable\"><thead>\(head)</thead><tbody>\n\(html)</tbody></table>\n"
        return page("\(sw.label) — trials", crumbs: [(sw.label, base + "/live"), ("trials", base + "/trials")], body, script: sortFilterScript)
    }

    func trialPage(_ d: TrialDetail) throws -> String {
        let sw = d.sweep, base = "/sweeps/\(pathSegment(sw.name))"
        var b = "<p>\(badge(d.status)) axes <code>\(h(d.axesJSON))</code> — <a href=\"\(base)/curves?trial=\(d.index)\">loss curves</a> · "
        b += "<a href=\"/api/sweeps/\(pathSegment(sw.label))/trials/\(d.index)\">JSON</a></p>\n"
        b += "<h2>Configuration</h2>\n"
        if let changes = d.configChanges {
            b += changes.isEmpty ? "<p>No changes from the defaults of preset <code>\(h(sw.preset))</code>.</p>\n"
                : "<p>Differences from the defaults of preset <code>\(h(sw.preset))</code>:</p><ul>" + changes.map { "<li><code>\(h($0))</code></li>" }.joined() + "</ul>\n"
        }
        b += "<details><summary>Resolved configuration</summary><pre>\(h(d.configJSON))</pre></details>\n"
        b += "<h2>Stages</h2>\n" + htmlTable(["Stage", "Kind", "Identity", "Status", "Progress", "Attempts", "Time", "Peak memory", "Files", "Error"], d.stages.map { s in
            [h(s.name), h(s.kind), "<a href=\"/api/stages/\(s.identity)\"><code>\(h(String(s.identity.prefix(10))))</code></a>", badge(s.status),
             s.totalSteps.map { "\(min(s.lastStep ?? 0, $0)) / \($0)" } ?? "–", "\(s.attempts)", s.seconds.map { String(format: "%.1f s", $0) } ?? "–",
             s.peakKiB.map { String(format: "%.0f MB", Double($0) / 1024) } ?? "–", artifactLinks(s.identity), h(s.error ?? "")]
        }, numeric: [5, 6, 7])
        b += "<h2>Evaluations</h2>\n"
        b += d.evaluations.isEmpty ? "<p class=\"muted\">No evaluation has finished yet.</p>\n" : htmlTable(["Model", "Metric", "Value", "Paper", "N", "Label"], d.evaluations.map { e in
            [h(e.role), h(e.metric), num(e.value), PaperReference.value(model: e.model, steps: e.steps, metric: e.metric, conditional: d.conditional).map(num) ?? "–",
                    "\(e.samples)", "<span class=\"note\">\(h(e.label))</span>"]
        }, numeric: [2, 3, 4])
        b += "<h2>Unsuccessful attempts</h2>\n"
        b += d.unsuccessfulAttempts.isEmpty ? "<p class=\"muted\">None: every attempt so far succeeded or is running.</p>\n"
            : htmlTable(["Stage", "Attempt", "Outcome", "Exit", "Signal", "Last step", "Why", "Worker log (last lines)"], d.unsuccessfulAttempts.map { a in
                [h(a.stage), "\(a.attempt)", badge(a.outcome.displayName), a.exitStatus.map(String.init) ?? "–", a.signal.map(String.init) ?? "–", a.lastStep.map(String.init) ?? "–", h(a.why),
                 "<pre>\(h(a.stderrTail.split(separator: "\n").suffix(6).joined(separator: "\n")))</pre>"]
            }, numeric: [1, 3, 4, 5])
        if d.stages.contains(where: { $0.kind == "distill" }) {
            b += "<h2>Loss-term diagnostics</h2>\n<div class=\"report\">" + (try termsHTML(sweep: sw.label, key: d.key)) + "</div>\n"
        }
        return page("\(sw.label) — trial \(d.index)", crumbs: [(sw.label, base + "/live"), ("trials", base + "/trials"), ("\(d.index)", "\(base)/trials/\(d.index)")], b)
    }

    /// Links to the files a stage directory holds (logs, journal, results), served by /files/.
    func artifactLinks(_ identity: String) -> String {
        let dir = StageFiles.directory(root: root, identity: identity)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { [StageFiles.log, "journal.jsonl", "result.json", StageFiles.done, StageFiles.progress, StageFiles.request].contains($0) }.sorted()
        return names.map { "<a href=\"/files/stages/\(identity)/\($0)\">\(h($0))</a>" }.joined(separator: " ")
    }
}
