import Foundation
import Sweep
import RunModel

// The sweeps list and the live view of one sweep: Sweep's `SweepSummary` (the numbers `rdd-sweep status` prints, from
// grouped queries) and its unfinished stages (the first `liveStageLimit`).

extension Dashboard {
    func sweepsPage() throws -> String {
        let all = try reports.allSweepSummaries()
        let revisions = Dictionary(grouping: try reports.sweepRecords(), by: \.name).mapValues(\.count)
        var rows: [[String]] = []
        for st in all {
            let sw = st.sweep, tc = st.progress.trialCounts, base = "/sweeps/\(pathSegment(sw.name))"
            let pending = (tc[.queued] ?? 0)
            rows.append([
                "<a href=\"\(base)/live\"><b>\(h(sw.name))</b></a>",
                "\(sw.revision)\(revisions[sw.name, default: 1] > 1 ? " <span class=\"muted\">of \(revisions[sw.name, default: 1])</span>" : "")",
                h(sw.preset), "<span data-v=\"\(st.progress.trialTotal)\">\(st.progress.trialTotal)</span>",
                "\(tc[.completed] ?? 0)", "\(tc[.running] ?? 0)", "\(tc[.failed] ?? 0)", "\(pending)",
                "<span data-v=\"\(st.progress.computeSeconds.ran)\">\(duration(st.progress.computeSeconds.ran))</span>",
                st.progress.etaSeconds.map { "<span data-v=\"\($0)\">\(duration($0))</span>" } ?? "done",
                st.schedulerRunning && (st.progress.stageCounts[.running] ?? 0) > 0 ? badge("running") : "",
                "<a href=\"\(base)/trials\">trials</a> · <a href=\"\(base)/curves\">curves</a> · <a href=\"\(base)/live\">live</a>",
                "<code>\(h(sw.specFile))</code> <span class=\"note\">\(h(String(sw.specHash.prefix(12))))</span>",
            ])
        }
        var body = "<p class=\"muted\">Results root <code>\(h(root))</code>. Counts are trials (completed, running, failed, pending = queued); "
        body += "compute is the worker time of the stages each sweep ran itself; the ETA is `rdd-sweep status`'s estimate.</p>\n"
        body += rows.isEmpty ? "<p>The run database holds no sweeps yet.</p>" : htmlTable(
            ["Sweep", "Revision", "Preset", "Trials", "Done", "Running", "Failed", "Pending", "Compute", "ETA", "", "Pages", "Spec (hash)"], rows,
            id: "sweeps", numeric: [3, 4, 5, 6, 7, 8, 9], sortable: true)
        return page("Sweeps", body, script: sortFilterScript)
    }

    /// Counts, ETA, the running stages with step, speed, ETA, heartbeat age and latest loss terms, and the stages not
    /// done; `fragment` gives only the block the page's script reloads every 2 s.
    func livePage(_ sw: SweepRow, fragment: Bool) throws -> String {
        let st = try reports.sweepSummary(sw.label)
        let (notDone, running) = try reports.unfinishedStages(sweep: sw.label, limit: Dashboard.liveStageLimit)
        let tc = st.progress.trialCounts, sc = st.progress.stageCounts
        var b = "<div class=\"cards\">"
        func card(_ v: String, _ label: String) { b += "<div class=\"card\"><b>\(v)</b><span>\(h(label))</span></div>" }
        card("\(tc[.completed] ?? 0) / \(st.progress.trialTotal)", "trials completed")
        card("\(tc[.running] ?? 0)", "trials running")
        card("\(tc[.failed] ?? 0)", "trials failed")
        card("\(st.progress.stagesDone) / \(st.progress.stageTotal)", "stages done (\(sc[.cached] ?? 0) cached)")
        card(duration(st.progress.computeSeconds.ran), "compute by this sweep")
        card(st.progress.etaSeconds.map(duration) ?? "done", "ETA")
        b += "</div>\n<p class=\"muted\">" + (st.schedulerRunning ? "Scheduler running (pid \(h(st.schedulerOwner))). " : "No scheduler running on this root. ")
        if st.slurmTasks > 0 { b += "Slurm: \(st.slurmTasks) task\(st.slurmTasks == 1 ? "" : "s") of this sweep in flight (`rdd-sweep status` lists them). " }
        b += "Updated \(h(clock(Date()))).</p>\n"
        b += "<h2>Running stages</h2>\n"
        if running.isEmpty {
            b += "<p class=\"muted\">No stage of this sweep is running.</p>\n"
        } else {
            let shownMetric = SeriesName.isLoss
            b += htmlTable(["Stage", "Identity", "Progress", "Step", "Speed", "ETA", "Heartbeat", "Attempt", "Loss terms (latest step)"], running.map { r in
                let p = r.progress
                let frac = p.step.flatMap { s in p.total.map { min(1, Double(s) / Double(max($0, 1))) } } ?? 0
                return [h(p.name), "<a href=\"/api/stages/\(r.identity)\"><code>\(h(p.shortID))</code></a>",
                        "<span class=\"bar\"><i style=\"width:\(Int(frac * 100))%\"></i></span>\(Int(frac * 100))%",
                        p.step.map { "\($0)" + (p.total.map { " / \($0)" } ?? "") } ?? "–",
                        p.rate.map { String(format: "%.2f steps/s", $0) } ?? "–", r.eta.map(duration) ?? "–",
                        r.heartbeatAge.map { String(format: "%.0f s ago", $0) } ?? "–", "\(p.attempt)",
                        p.metrics.filter { shownMetric($0.0) }.map { "\(h($0.0)) \(num($0.1))" }.joined(separator: ", ")]
            }, id: "running", numeric: [3, 4, 5, 6, 7])
        }
        let notDoneCount = st.progress.stageTotal - st.progress.stagesDone
        b += "<h2>Stages not done (\(notDoneCount))</h2>\n"
        if notDoneCount > notDone.count { b += "<p class=\"muted\">The first \(notDone.count) by trial (running ones first); `rdd-sweep status --stages` lists them all.</p>\n" }
        b += notDone.isEmpty ? "<p class=\"muted\">Every stage of this sweep is done.</p>\n" : htmlTable(
            ["Stage", "Kind", "Identity", "Status", "Progress", "Attempts", "Note"], notDone.map { s in
                [h(s.names), h(s.kind), "<code>\(h(String(s.identity.prefix(10))))</code>", badge(s.shown),
                 s.totalSteps.map { "\(min(s.lastStep ?? 0, $0)) / \($0)" } ?? "–", "\(s.attempts)", h(s.note)]
            }, numeric: [5])
        if fragment { return b }
        let base = "/sweeps/\(pathSegment(sw.name))"
        let links = "<p><a href=\"\(base)/trials\">Trials</a> · <a href=\"\(base)/curves\">Curves</a> · <a href=\"/api/sweeps/\(pathSegment(sw.name))/live\">live JSON</a> — "
            + "preset <code>\(h(sw.preset))</code>, spec <code>\(h(sw.specFile))</code>, revision \(sw.revision). This block reloads every 2 s.</p>\n"
        return page("\(sw.label) — live", crumbs: [(sw.label, base + "/live")], links + "<div id=\"live\">\n" + b + "</div>", script: livePollScript)
    }
}

extension Dashboard {
    /// The most unfinished stages the live view lists (a sweep that has just started has all of them unfinished).
    static let liveStageLimit = 50
}

/// "14:05:09" (UTC).
func clock(_ d: Date) -> String {
    let f = DateFormatter()
    f.dateFormat = "HH:mm:ss 'UTC'"
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: d)
}
