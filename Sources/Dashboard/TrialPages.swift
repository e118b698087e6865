import Foundation
import Report
import Sweep

// The trials table of a sweep (Sweep's `TrialsTable`, what `rdd-sweep export` writes) and one trial's page
// (Sweep's `TrialDetail`, what `rdd-sweep show` prints, with Report's loss-term diagnostics).

extension Dashboard {
    /// One page of the trials table (`?page=&per=&sort=&dir=&filter=`, docs/dashboard.md): SQLite sorts, filters and
    /// pages (Sweep's `trialsPage`), so a sweep of 10,000 trials costs what its 100 shown rows cost. `fragment` gives only
    /// the block the filter box's script replaces while typing.
    func trialsPage(_ sw: SweepRow, query: [(String, String)], fragment: Bool) throws -> String {
        let q = try trialsQuery(query)
        let tp = try reports.trialsPage(sweep: sw.label, q)
        let t = tp.table
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
        // A header sorts by its column (ascending; the sorted column's header flips the direction), from the first page.
        func link(_ q: TrialsQuery) -> String { h(base + "/trials" + trialsQueryString(q)) }
        func th(_ label: String, _ sort: TrialsQuery.Sort, numeric: Bool) -> String {
            var n = q
            n.sort = sort; n.page = 1; n.descending = q.sort == sort ? !q.descending : false
            let cls = (numeric ? ["num"] : []) + (q.sort == sort ? [q.descending ? "desc" : "asc"] : [])
            return "<th\(cls.isEmpty ? "" : " class=\"\(cls.joined(separator: " "))\"")><a href=\"\(link(n))\">\(h(label))</a></th>"
        }
        var head = "<tr>" + th("Trial", .trial, numeric: true) + th("Status", .status, numeric: false)
        for a in sw.axes { head += th(a, .axis(a), numeric: false) }
        for c in t.columns { head += th(c, .metric(c), numeric: true) }
        head += "</tr>"
        let first = (q.page - 1) * q.per
        var pager = "<p class=\"pager\">"
        pager += t.trials.isEmpty ? "No trial matches." : "Trials \(first + 1)–\(first + t.trials.count) of \(tp.matching)"
        pager += tp.matching < tp.total ? " matching (of \(tp.total))" : ""
        pager += ", sorted by \(h(q.sort.column))\(q.descending ? " (descending)" : ""). Page \(q.page) of \(tp.pages):"
        for (label, p) in [("first", 1), ("‹ previous", q.page - 1), ("next ›", q.page + 1), ("last", tp.pages)] {
            var n = q
            n.page = p
            pager += (1...tp.pages).contains(p) && p != q.page ? " <a href=\"\(link(n))\">\(label)</a>" : " <span class=\"muted\">\(label)</span>"
        }
        pager += "</p>\n"
        let block = pager + "<table id=\"trials\" class=\"paged\"><thead>\(head)</thead><tbody>\n\(html)</tbody></table>\n" + (tp.pages > 1 ? pager : "")
        if fragment { return block }
        var body = "<form id=\"trials-query\" method=\"get\" action=\"\(base)/trials\"><p>"
        body += "<input type=\"search\" id=\"filter\" name=\"filter\" value=\"\(h(q.filter.joined(separator: " ")))\" placeholder=\"Filter: every word in the trial's index, status or axis values\">"
        body += "<input type=\"hidden\" name=\"sort\" value=\"\(h(q.sort.column))\"><input type=\"hidden\" name=\"dir\" value=\"\(q.descending ? "desc" : "asc")\">"
        body += "<input type=\"hidden\" name=\"per\" value=\"\(q.per)\"> <span class=\"muted\">\(tp.total) trials, \(q.per) a page; click a column to sort.</span></p></form>\n"
        body += "<p class=\"note\">Metric columns are <code>what was measured / metric</code> (student@1 = the 1-step student). "
        body += "<span class=\"paper\">(grey)</span>: the paper's number for the same method and steps (Tables 1–3, Inception FID or IS on CIFAR-10 / ImageNet-64: "
        body += "compare orderings, not absolute values, with our classifier-feature FID). Hover a value for its full label. "
        body += "All trials: <a href=\"/api/sweeps/\(pathSegment(sw.name))/trials\">JSON</a> or <code>rdd-sweep export --format csv</code>.</p>\n"
        body += "<div id=\"trials-block\">\n" + block + "</div>\n"
        return page("\(sw.label) — trials", crumbs: [(sw.label, base + "/live"), ("trials", base + "/trials")], body, script: trialsFilterScript)
    }

    /// `?page=&per=&sort=&dir=&filter=` → the query; a value that is not one of those is a 400 naming it.
    func trialsQuery(_ query: [(String, String)]) throws -> TrialsQuery {
        func bad(_ k: String, _ v: String, _ why: String) -> DashboardError { DashboardError(status: 400, title: "Bad request", message: "\(k)=\(v): \(why)") }
        var q = TrialsQuery()
        for (k, v) in query {
            switch k {
            case "page", "per":
                guard let n = Int(v), n >= 1, k == "page" || n <= TrialsQuery.maxPer else {
                    throw bad(k, v, k == "page" ? "a page number ≥ 1" : "rows per page, 1…\(TrialsQuery.maxPer)")
                }
                if k == "page" { q.page = n } else { q.per = n }
            case "sort": q.sort = TrialsQuery.Sort(column: v)
            case "dir":
                guard v == "asc" || v == "desc" else { throw bad(k, v, "asc or desc") }
                q.descending = v == "desc"
            case "filter": q.filter = TrialsQuery(filter: v).filter
            default: continue
            }
        }
        return q
    }

    /// The query string of `q` ("?sort=…&dir=…"), leaving out what is the default; percent-encoded so that a "+" of a
    /// method name ("cfd+ii_p2p") stays a "+" under form decoding (`formQuery`).
    func trialsQueryString(_ q: TrialsQuery) -> String {
        var items: [(String, String)] = []
        if q.sort != .trial { items.append(("sort", q.sort.column)) }
        if q.descending { items.append(("dir", "desc")) }
        if !q.filter.isEmpty { items.append(("filter", q.filter.joined(separator: " "))) }
        if q.per != TrialsQuery.defaultPer { items.append(("per", "\(q.per)")) }
        if q.page != 1 { items.append(("page", "\(q.page)")) }
        let plain = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@/"))
        return items.isEmpty ? "" : "?" + items.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: plain) ?? $0.1)" }.joined(separator: "&")
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
            // Loaded after the page: Report's terms report reads the report export of the root (cached until the
            // database changes), which takes seconds to build for a root of thousands of trials.
            let terms = "\(base)/trials/\(d.index)/terms"
            b += "<h2>Loss-term diagnostics</h2>\n<div class=\"report\" id=\"terms\" data-src=\"\(h(terms))\"><p class=\"muted\">Loading… "
            b += "(<a href=\"\(h(terms))\">open</a>)</p></div>\n"
        }
        return page("\(sw.label) — trial \(d.index)", crumbs: [(sw.label, base + "/live"), ("trials", base + "/trials"), ("\(d.index)", "\(base)/trials/\(d.index)")], b,
                    script: d.stages.contains(where: { $0.kind == "distill" }) ? loadTermsScript : "")
    }

    /// Links to the files a stage directory holds (logs, journal, results), served by /files/.
    func artifactLinks(_ identity: String) -> String {
        let dir = StageFiles.directory(root: root, identity: identity)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { [StageFiles.log, "journal.jsonl", "result.json", StageFiles.done, StageFiles.progress, StageFiles.request].contains($0) }.sorted()
        return names.map { "<a href=\"/files/stages/\(identity)/\($0)\">\(h($0))</a>" }.joined(separator: " ")
    }
}
