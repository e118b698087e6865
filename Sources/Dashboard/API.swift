import Foundation
import Sweep

// The JSON API behind the pages (docs/dashboard.md lists every endpoint). Compact JSON, one object per answer.

extension Dashboard {
    func apiRoute(_ p: [String], query: [(String, String)]) throws -> DashboardResponse {
        switch p.first {
        case "sweeps":
            guard p.count > 1 else { return .json(.array(try reports.allSweepSummaries().map(statusJSON))) }
            let sw = try resolve(p[1])
            switch Array(p.dropFirst(2)) {
            case []: return .json(statusJSON(try reports.sweepSummary(sw.label)))
            case ["trials"]:
                // With any paging parameter: that page (as the trials page shows it); without: every trial.
                guard query.contains(where: { ["page", "per", "sort", "dir", "filter"].contains($0.0) }) else {
                    return .json(trialsJSON(try reports.trialsTable(sweep: sw.label)))
                }
                let tp = try reports.trialsPage(sweep: sw.label, try trialsQuery(query))
                return .json(trialsJSON(tp.table, page: tp))
            case ["live"]: return .json(try liveJSON(sw))
            case let q where q.count == 2 && q[0] == "trials":
                guard let i = Int(q[1]), let d = try reports.trialDetail(sweep: sw.label, index: i) else {
                    throw DashboardError.notFound("sweep \(sw.label) has no trial '\(q[1])'")
                }
                return .json(trialJSON(d))
            default: throw DashboardError.notFound("no API endpoint /api/\(p.joined(separator: "/"))")
            }
        case "stages":
            guard p.count == 2, let j = try reports.stageJSON(identityPrefix: p[1]) else {
                throw DashboardError.notFound("no stage '\(p.count > 1 ? p[1] : "")': give its identity or a unique prefix of at least 6 hex digits")
            }
            return .json(j)
        default: throw DashboardError.notFound("no API endpoint /api/\(p.joined(separator: "/")); see /api/sweeps")
        }
    }

    func statusJSON(_ st: SweepSummary) -> JSON {
        func counts<S: RawRepresentable<String>>(_ c: [S: Int]) -> JSON { .object(c.map { ($0.key.rawValue, $0.value) }.sorted { $0.0 < $1.0 }.map { ($0.0, .int(Int64($0.1))) }) }
        return .object([
            ("name", .string(st.sweep.name)), ("revision", .int(Int64(st.sweep.revision))), ("label", .string(st.sweep.label)),
            ("preset", .string(st.sweep.preset)), ("specFile", .string(st.sweep.specFile)), ("specHash", .string(st.sweep.specHash)),
            ("axes", .array(st.sweep.axes.map { .string($0) })), ("created", .double(st.sweep.created)),
            ("trials", counts(st.progress.trialCounts)), ("stages", counts(st.progress.stageCounts)),
            ("computeSeconds", .double(st.progress.computeSeconds.ran)), ("reusedSeconds", .double(st.progress.computeSeconds.reused)),
            ("etaSeconds", st.progress.etaSeconds.map { .double($0) } ?? .null), ("schedulerRunning", .bool(st.schedulerRunning)),
        ])
    }

    func trialsJSON(_ t: TrialsTable, page: TrialsPage? = nil) -> JSON {
        let paging: [(String, JSON)] = page.map { p in
            [("total", .int(Int64(p.total))), ("matching", .int(Int64(p.matching))), ("page", .int(Int64(p.query.page))),
             ("per", .int(Int64(p.query.per))), ("pages", .int(Int64(p.pages))), ("sort", .string(p.query.sort.column)),
             ("dir", .string(p.query.descending ? "desc" : "asc"))]
        } ?? []
        return .object(paging + [
            ("sweep", .string(t.sweep.label)), ("axes", .array(t.sweep.axes.map { .string($0) })), ("columns", .array(t.columns.map { .string($0) })),
            ("trials", .array(t.trials.map { tr in
                .object([("trial", .int(Int64(tr.index))), ("key", .string(tr.key)), ("status", .string(tr.status)), ("axes", .object(tr.axes)),
                         ("metrics", .object(tr.metrics.map { c, m -> (String, JSON) in
                            (c, .object([("value", .double(m.value)), ("label", .string(m.label)), ("samples", .int(Int64(m.samples))),
                                         ("model", .string(m.model)), ("steps", .int(Int64(m.steps))), ("stage", .string(m.stage))]))
                         }))])
            })),
        ])
    }

    func trialJSON(_ d: TrialDetail) -> JSON {
        func opt(_ i: Int?) -> JSON { i.map { .int(Int64($0)) } ?? .null }
        return .object([
            ("sweep", .string(d.sweep.label)), ("trial", .int(Int64(d.index))), ("key", .string(d.key)), ("status", .string(d.status)),
            ("axes", (try? JSONParser.parse(d.axesJSON).value) ?? .null), ("configChanges", d.configChanges.map { .array($0.map { .string($0) }) } ?? .null),
            ("config", (try? JSONParser.parse(d.configJSON).value) ?? .null),
            ("stages", .array(d.stages.map { s in
                .object([("name", .string(s.name)), ("kind", .string(s.kind)), ("identity", .string(s.identity)), ("status", .string(s.status)),
                         ("totalSteps", opt(s.totalSteps)), ("lastStep", opt(s.lastStep)), ("attempts", .int(Int64(s.attempts))),
                         ("seconds", s.seconds.map { .double($0) } ?? .null), ("peakKiB", opt(s.peakKiB)), ("error", s.error.map { .string($0) } ?? .null)])
            })),
            ("evaluations", .array(d.evaluations.map { e in
                .object([("role", .string(e.role)), ("metric", .string(e.metric)), ("value", .double(e.value)), ("samples", .int(Int64(e.samples))),
                         ("label", .string(e.label)), ("model", .string(e.model)), ("steps", .int(Int64(e.steps)))])
            })),
            ("unsuccessfulAttempts", .array(d.unsuccessfulAttempts.map { a in
                .object([("stage", .string(a.stage)), ("attempt", .int(Int64(a.attempt))), ("outcome", .string(a.outcome.displayName)), ("exitStatus", opt(a.exitStatus)),
                         ("signal", opt(a.signal)), ("lastStep", opt(a.lastStep)), ("why", .string(a.why)), ("stderrTail", .string(a.stderrTail))])
            })),
        ])
    }

    func liveJSON(_ sw: SweepRow) throws -> JSON {
        let st = try reports.sweepSummary(sw.label)
        let running = try reports.unfinishedStages(sweep: sw.label, limit: Dashboard.liveStageLimit).running
        func opt(_ x: Double?) -> JSON { x.flatMap { $0.isFinite ? .double($0) : nil } ?? .null }
        return .object([
            ("status", statusJSON(st)),
            ("running", .array(running.map { r in
                .object([("identity", .string(r.identity)), ("name", .string(r.progress.name)), ("kind", .string(r.kind)),
                         ("step", r.progress.step.map { .int(Int64($0)) } ?? .null), ("totalSteps", r.progress.total.map { .int(Int64($0)) } ?? .null),
                         ("stepsPerSecond", opt(r.progress.rate)), ("etaSeconds", opt(r.eta)), ("heartbeatAgeSeconds", opt(r.heartbeatAge)),
                         ("attempt", .int(Int64(r.progress.attempt))), ("metrics", .object(r.progress.metrics.map { k, v -> (String, JSON) in (k, v.isFinite ? .double(v) : .null) }))])
            })),
        ])
    }
}
