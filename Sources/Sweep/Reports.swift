import Foundation
import GRDB
import Pipeline

/// Left-aligned text columns.
func table(_ header: [String], _ rows: [[String]], indent: String = "  ") -> String {
    let all = [header] + rows
    let n = header.count
    var w = [Int](repeating: 0, count: n)
    for r in all { for (i, c) in r.prefix(n).enumerated() { w[i] = max(w[i], c.count) } }
    return all.map { r in indent + r.prefix(n).enumerated().map { i, c in i == n - 1 ? c : c.padding(toLength: w[i], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
        .joined(separator: "\n")
}

func fmtDate(_ t: Double?) -> String {
    guard let t else { return "-" }
    let f = DateFormatter()
    f.dateFormat = "yyyy-MM-dd HH:mm:ss"
    return f.string(from: Date(timeIntervalSince1970: t))
}

func fmtMB(_ kib: Int?) -> String { kib.map { String(format: "%.0f MB", Double($0) / 1024) } ?? "-" }

/// Read-only reports over a results root: plan, status, show, list, export; and gc.
public struct Reports {
    public let root: String
    let dbPath: String
    public init(root: String) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        dbPath = RunDatabase.path(root: self.root)
    }

    /// Reports over the database file at `databasePath` (any name); its directory is the results root that
    /// artifact paths are made relative to, as `rdd-sweep export --root DIR` does for DIR/runs.sqlite.
    public init(databasePath: String) {
        let p = URL(fileURLWithPath: databasePath).standardizedFileURL
        root = p.deletingLastPathComponent().path
        dbPath = p.path
    }
    var schedulerRunning: Bool { FileLock.isHeld(root + "/.scheduler.lock") }
    func stageDir(_ id: String) -> String { root + "/stages/" + id }

    func openReader() throws -> RunDatabase { try RunDatabase(readerAt: dbPath) }

    /// The sweep a command is about: `ref` (NAME or NAME@REV), else the only sweep in the database.
    func resolveSweep(_ db: Database, _ ref: String?) throws -> SweepRecord {
        if let ref {
            guard let s = try SweepRecord.find(db, ref) else {
                let names = Set(try SweepRecord.all(db).map(\.name)).sorted()
                throw PipelineError("no sweep '\(ref)' in \(dbPath)\(didYouMean(ref, names, listIfNone: false)); sweeps: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
            }
            return s
        }
        let all = try SweepRecord.all(db)
        let names = Set(all.map(\.name))
        guard names.count == 1, let s = all.last else {
            throw PipelineError(names.isEmpty ? "no sweeps in \(dbPath) yet" : "several sweeps in \(dbPath) (\(names.sorted().joined(separator: ", "))): name one with --sweep NAME or a SPEC")
        }
        return s
    }

    // MARK: plan

    /// The dry run: expanded trials, the stages they share, and what is already done.
    public func plan(_ p: SweepPlan, showStages: Bool = true) throws -> String {
        var dbStatus: [String: String] = [:]
        var note = ""
        if FileManager.default.fileExists(atPath: dbPath), let db = try? openReader() {
            try db.read { db in
                for r in try Row.fetchAll(db, sql: "SELECT identity, status FROM stages") { dbStatus[r["identity"]] = r["status"] }
                if let e = try SweepRecord.find(db, p.spec.name) {
                    note = e.specHash == p.specHash
                        ? "sweep '\(e.label)' is in the database with this spec: `run` continues it"
                        : "sweep '\(e.name)' exists (revision \(e.revision)) with a DIFFERENT spec: `run` refuses unless --new (→ revision \(e.revision + 1))"
                }
            }
        }
        func state(_ id: String) -> String {
            let onDisk = FileManager.default.fileExists(atPath: stageDir(id) + "/" + StageFiles.done)
            // Cheap check only (no artifact is read): size and time against done.json's stamp; `run` verifies checksums.
            if onDisk, let kind = p.stage(id)?.kind, ArtifactCheck.stampProblem(stageDir(id), kind: kind) != nil {
                return "to verify (artifact changed since it completed)"
            }
            switch dbStatus[id] {
            case "completed"?, "cached"?: return onDisk ? "done" : "to run (artifacts missing)"
            case "failed"?: return "failed earlier"
            case "running"?: return schedulerRunning ? "running" : "to resume"
            case "stale"?: return "to resume"
            default:
                if onDisk { return "done (on disk)" }
                return FileManager.default.fileExists(atPath: stageDir(id) + "/checkpoint.h5") ? "to resume" : "to run"
            }
        }
        let states = Dictionary(uniqueKeysWithValues: p.stages.map { ($0.identity, state($0.identity)) })
        var out = "sweep '\(p.spec.name)' — preset \(p.spec.preset), \(p.spec.file), spec hash \(p.specHash.prefix(12)), code \(CodeVersion.string)\n"
        if let d = p.spec.description { out += d + "\n" }
        out += "root \(root)\(note.isEmpty ? "" : " — " + note)\n\n"
        let axes = p.spec.axisPaths
        out += "\(p.trials.count) trial\(p.trials.count == 1 ? "" : "s")\(axes.isEmpty ? "" : " over " + axes.joined(separator: ", ")):\n"
        var trows: [[String]] = []
        for t in p.trials {
            let links = p.links[t.index] ?? []
            let done = links.filter { states[$0.identity]?.hasPrefix("done") ?? false }.count
            let shared = links.filter { (p.stage($0.identity)?.trials.count ?? 0) > 1 }.count
            trows.append(["\(t.index)"] + axes.map { a in t.axes.first { $0.0 == a }.map { $0.1.stringValue ?? $0.1.serialized() } ?? "-" }
                         + ["\(links.count)", "\(shared)", done == links.count ? "done" : "\(done)/\(links.count) done"])
        }
        out += table(["trial"] + axes + ["stages", "shared", "status"], trows) + "\n\n"
        let sharedCount = p.stages.filter { $0.trials.count > 1 }.count
        let counts = Dictionary(grouping: states.values, by: { $0.hasPrefix("done") ? "done" : $0 }).mapValues(\.count)
        let steps = p.stages.filter { !(states[$0.identity]?.hasPrefix("done") ?? false) }.compactMap(\.totalSteps).reduce(0, +)
        out += "\(p.stages.count) unique stages (\(sharedCount) shared by ≥ 2 trials; \(p.links.values.map(\.count).reduce(0, +)) trial–stage links): "
        out += counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        out += "; \(steps) training steps to run\n"
        if showStages {
            var rows: [[String]] = []
            for s in p.stages {
                rows.append([s.kind.rawValue, s.displayName, s.shortID, "\(s.trials.count)", s.totalSteps.map(String.init) ?? "-", states[s.identity] ?? "?"])
            }
            out += table(["kind", "name", "identity", "trials", "steps", "status"], rows) + "\n"
        }
        return out
    }

    // MARK: status

    /// What `status` and `show` call a trial or stage recorded as running when nothing runs it.
    static let notRunning = "interrupted (no scheduler running)"

    public func status(sweep ref: String?, all: Bool = false) throws -> String {
        let db = try openReader()
        let live = schedulerRunning
        return try db.read { db in
            let sw = try resolveSweep(db, ref)
            var out = "sweep \(sw.label) — \(sw.specFile), preset \(sw.preset), created \(fmtDate(sw.created)); "
            out += live ? "scheduler running (pid \((try? String(contentsOfFile: root + "/.scheduler.lock", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"))\n"
                        : "no scheduler running\n"
            let trials = try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM trials WHERE sweep_id = ? GROUP BY status", arguments: [sw.id])
            var tc: [String: Int] = [:]
            for r in trials { tc[r["status"]] = r["n"] }
            // Recorded as running, but nothing runs them: no scheduler holds the root and no Slurm job is in flight.
            let orphaned = try !live && Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL") == 0
            out += "trials: \(tc.values.reduce(0, +)) — completed \(tc["completed"] ?? 0), \(orphaned ? Reports.notRunning : "running") \(tc["running"] ?? 0), failed \(tc["failed"] ?? 0), queued \(tc["queued"] ?? 0)\n"
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.*, MIN(t.trial_index) AS first_trial, COUNT(DISTINCT t.id) AS n_trials, GROUP_CONCAT(DISTINCT ts.name) AS names
                FROM stages s JOIN trial_stages ts ON ts.stage = s.identity JOIN trials t ON t.id = ts.trial_id
                WHERE t.sweep_id = ? GROUP BY s.identity ORDER BY first_trial, s.rowid
                """, arguments: [sw.id])
            // Stages in Slurm jobs (the Slurm executor): they run without a local scheduler.
            var slurm: [String: Row] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT * FROM slurm_tasks WHERE finished IS NULL") { slurm[r["stage"]] = r }
            if !slurm.isEmpty {
                let mine = try Row.fetchAll(db, sql: "SELECT state, job_id FROM slurm_tasks WHERE finished IS NULL AND sweep_id = ?", arguments: [sw.id])
                let running = mine.filter { ["RUNNING", "COMPLETING"].contains($0["state"] as String) }.count
                let jobs = Array(Set(mine.map { $0["job_id"] as String })).sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
                let seen = try Double.fetchOne(db, sql: "SELECT MAX(seen) FROM slurm_tasks")
                out += "Slurm: \(mine.count) task\(mine.count == 1 ? "" : "s") of this sweep in flight (\(running) running, \(mine.count - running) pending or starting)"
                out += jobs.isEmpty ? "" : " in job array\(jobs.count == 1 ? "" : "s") \(jobs.prefix(12).joined(separator: ", "))\(jobs.count > 12 ? ", …" : "")"
                out += "; Slurm last asked \(seen.map { fmtDate($0) } ?? "never")\n"
            }
            var counts: [String: Int] = [:]
            var lines: [[String]] = []
            var remaining: [String: Double] = [:]   // kind → remaining steps
            var unknown = 0
            var evalLeft: [String: Double] = [:]     // EvalCost.key → samples left
            for r in rows {
                let st: String = r["status"]
                let ranBy: Int64? = r["ran_by_sweep"]
                var shown = st
                if st == "completed" && ranBy != sw.id { shown = "cached" }
                let job = slurm[r["identity"] as String]
                if st == "running" && !live && job == nil { shown = "stale" }
                counts[shown, default: 0] += 1
                let total: Int? = r["total_steps"], last: Int? = r["last_step"]
                let kind: String = r["kind"]
                if !["completed", "cached"].contains(shown) {
                    if kind == "eval", let e = EvalCost(configJSON: r["config_json"]) {
                        evalLeft[e.key, default: 0] += Double(e.samples - min(e.samples, last ?? 0))
                    } else if let total { remaining[kind, default: 0] += Double(total - min(total, last ?? 0)) } else { unknown += 1 }
                }
                if all || !["completed", "cached"].contains(shown) {
                    let progress = total.map { t in "\(min(last ?? 0, t))/\(t)" } ?? (shown == "completed" || shown == "cached" ? "done" : "-")
                    let hb: Double? = r["heartbeat"]
                    var note: String = r["error"] ?? ""
                    if shown == "running", let hb { note = String(format: "heartbeat %.0f s ago", Date().timeIntervalSince1970 - hb) }
                    if shown == "stale" {
                        note = (st == "running" ? Reports.notRunning + ": " : "") + "was stopped while running (its scheduler stopped, or its Slurm job was cancelled); `rdd-sweep run` resumes it from its checkpoint"
                    }
                    if let job {
                        let state: String = job["state"], reason: String? = job["reason"], node: String? = job["node"]
                        note = "Slurm \(job["job_id"] as String)_\(job["task"] as Int) \(state)" + (state == "RUNNING" ? node.map { " on \($0)" } ?? "" : reason.map { " (\($0))" } ?? "")
                            + (shown == "running" ? (r["heartbeat"] as Double?).map { String(format: ", heartbeat %.0f s ago", Date().timeIntervalSince1970 - $0) } ?? "" : "")
                        if shown == "queued" { shown = "submitted" }
                    }
                    let failures: Int = r["failures"]
                    if shown == "queued", failures > 0 { shown = "retrying" }
                    let secs: Double? = r["seconds"]
                    lines.append([r["names"] ?? r["name"], String((r["identity"] as String).prefix(10)), shown, progress, "\(r["attempts"] as Int)",
                                  secs.map { String(format: "%.1fs", $0) } ?? "-", fmtMB(r["peak_rss_kib"]), "\(r["n_trials"] as Int)", String(note.prefix(100))])
                }
            }
            let done = (counts["completed"] ?? 0) + (counts["cached"] ?? 0)
            out += "stages: \(rows.count) — done \(done) (ran \(counts["completed"] ?? 0), cached \(counts["cached"] ?? 0)), running \(counts["running"] ?? 0), failed \(counts["failed"] ?? 0), stale \(counts["stale"] ?? 0), queued \(counts["queued"] ?? 0)\n"
            out += computeTimeLine(rows, sweepID: sw.id)
            // ETA: remaining steps × mean seconds_per_step observed for the stage kind (any sweep in this root).
            var eta = 0.0
            var noRate: [String] = []
            for (kind, steps) in remaining where steps > 0 {
                if let sps = try Double.fetchOne(db, sql: """
                    SELECT AVG(m.value) FROM metrics m JOIN stages s ON s.identity = m.stage WHERE s.kind = ? AND m.name = 'seconds_per_step'
                    """, arguments: [kind]) { eta += steps * sps } else { noRate.append(kind) }
            }
            // Evaluations log no seconds_per_step: seconds per sample of finished evaluations with the same
            // sampler, step count and metrics, this sweep's first (same protocol), else any in the root.
            if !evalLeft.isEmpty {
                let done = try Row.fetchAll(db, sql: "SELECT identity, config_json, seconds FROM stages WHERE kind = 'eval' AND status = 'completed' AND seconds IS NOT NULL")
                    .compactMap { r in EvalCost(configJSON: r["config_json"]).map { (identity: r["identity"] as String, cost: $0, seconds: r["seconds"] as Double) } }
                let mine = Set(rows.map { $0["identity"] as String })
                for (key, samples) in evalLeft.sorted(by: { $0.key < $1.key }) where samples > 0 {
                    let same = done.filter { $0.cost.key == key && $0.cost.samples > 0 }
                    let pool = same.contains { mine.contains($0.identity) } ? same.filter { mine.contains($0.identity) } : same
                    if pool.isEmpty { noRate.append("eval " + key); continue }
                    eta += samples * pool.map(\.seconds).reduce(0, +) / Double(pool.map(\.cost.samples).reduce(0, +))
                }
            }
            let runningNow = max(1, counts["running"] ?? 0)
            if rows.count > done {
                out += "ETA ≈ \(formatDuration(eta / Double(runningNow))) (remaining training steps × mean seconds_per_step of the stage kind, samples left × seconds per sample of finished evaluations of the same sampler, steps and metrics; ÷ \(runningNow) running"
                out += unknown > 0 ? "; \(unknown) classifier stage\(unknown == 1 ? "" : "s") not estimated" : ""
                out += noRate.isEmpty ? ")\n" : "; no rate yet for \(noRate.sorted().joined(separator: ", ")))\n"
            }
            if !lines.isEmpty {
                out += (all ? "" : "stages not done (`--all` lists every stage):\n")
                out += table(["stage", "identity", "status", "progress", "attempts", "time", "peak", "trials", "note"], lines) + "\n"
            }
            return out
        }
    }

    // MARK: show

    /// One trial: `NAME/INDEX`, `NAME@REV/INDEX`, or `INDEX` with `sweep`.
    public func show(trial ref: String, sweep: String?, config: Bool = false) throws -> String {
        let db = try openReader()
        return try db.read { db in
            var sweepRef = sweep, idxText = ref
            if let slash = ref.lastIndex(of: "/") { sweepRef = String(ref[..<slash]); idxText = String(ref[ref.index(after: slash)...]) }
            let sw = try resolveSweep(db, sweepRef)
            guard let idx = Int(idxText), let t = try Row.fetchOne(db, sql: "SELECT * FROM trials WHERE sweep_id = ? AND trial_index = ?", arguments: [sw.id, idx]) else {
                let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trials WHERE sweep_id = ?", arguments: [sw.id]) ?? 0
                throw PipelineError("no trial '\(idxText)' in sweep \(sw.label) (trials are numbered 0…\(max(0, n - 1)))")
            }
            let tid: Int64 = t["id"]
            var trialStatus: String = t["status"]
            if trialStatus == "running" && !schedulerRunning,
               try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE finished IS NULL") == 0 { trialStatus = Reports.notRunning }
            var out = "trial \(sw.label)/\(idx) — \(trialStatus)\n"
            out += "axes: \(t["axes_json"] as String)\n"
            let cfgJSON: String = t["config_json"]
            if let cfg = try? JSONParser.parse(cfgJSON).value, let def = try? JSON.encode(ExperimentConfig.defaults(preset: sw.preset)) {
                let diffs = diffPaths(def, cfg, prefix: "")
                out += "configuration vs preset \(sw.preset): " + (diffs.isEmpty ? "no changes" : diffs.joined(separator: ", ")) + "\n"
            }
            let stages = try Row.fetchAll(db, sql: """
                SELECT ts.name, ts.role, s.* FROM trial_stages ts JOIN stages s ON s.identity = ts.stage WHERE ts.trial_id = ? ORDER BY s.rowid
                """, arguments: [tid])
            var rows: [[String]] = []
            for s in stages {
                var st: String = s["status"]
                let ranBy: Int64? = s["ran_by_sweep"]
                if st == "completed" && ranBy != sw.id { st = "cached" }
                if st == "running" && !schedulerRunning,
                   try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM slurm_tasks WHERE stage = ? AND finished IS NULL", arguments: [s["identity"] as String]) == 0 { st = Reports.notRunning }
                let total: Int? = s["total_steps"], last: Int? = s["last_step"]
                let secs: Double? = s["seconds"]
                rows.append([s["name"], s["kind"], String((s["identity"] as String).prefix(10)), st, total.map { "\(min(last ?? 0, $0))/\($0)" } ?? "-",
                             "\(s["attempts"] as Int)", secs.map { String(format: "%.1fs", $0) } ?? "-", fmtMB(s["peak_rss_kib"]), s["error"] ?? ""])
            }
            out += "stages (artifacts in \(root)/stages/<identity>/):\n" + table(["stage", "kind", "identity", "status", "progress", "attempts", "time", "peak", "error"], rows) + "\n"
            let evals = try Row.fetchAll(db, sql: """
                SELECT ts.role, e.* FROM trial_stages ts JOIN evaluations e ON e.stage = ts.stage WHERE ts.trial_id = ? ORDER BY ts.role, e.metric
                """, arguments: [tid])
            if !evals.isEmpty {
                out += "evaluations:\n" + table(["model", "metric", "value", "N", "label"], evals.map { e in
                    [e["role"], e["metric"], String(format: "%.6g", e["value"] as Double), "\(e["samples"] as Int)", e["label"]]
                }) + "\n"
            }
            let fails = try Row.fetchAll(db, sql: """
                SELECT a.*, ts.name FROM attempts a JOIN trial_stages ts ON ts.stage = a.stage
                WHERE ts.trial_id = ? AND a.outcome IN ('failed', 'stale', 'interrupted') ORDER BY a.started
                """, arguments: [tid])
            if !fails.isEmpty {
                out += "unsuccessful attempts:\n" + table(["stage", "attempt", "outcome", "exit", "signal", "last step", "why (from the last 50 lines of stderr)"], fails.map { a in
                    let tail: String = a["stderr_tail"] ?? ""
                    let ex: Int? = a["exit_status"], sg: Int? = a["signal"], ls: Int? = a["last_step"]
                    return [a["name"], "\(a["attempt"] as Int)", a["outcome"], ex.map(String.init) ?? "-", sg.map(String.init) ?? "-", ls.map(String.init) ?? "-",
                            String((Proc.failureLine(tail) ?? "").prefix(100))]
                }) + "\n"
            }
            if config { out += "resolved configuration:\n" + cfgJSON + "\n" }
            return out
        }
    }

    // MARK: list

    public func list() throws -> String {
        let db = try openReader()
        return try db.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.*, COUNT(t.id) AS n, SUM(t.status = 'completed') AS c, SUM(t.status = 'failed') AS f, SUM(t.status = 'running') AS r
                FROM sweeps s LEFT JOIN trials t ON t.sweep_id = s.id GROUP BY s.id ORDER BY s.name, s.revision
                """)
            if rows.isEmpty { return "no sweeps in \(dbPath)\n" }
            return table(["sweep", "created", "trials", "completed", "failed", "running", "preset", "spec"], rows.map { r in
                ["\(r["name"] as String)@\(r["revision"] as Int)", fmtDate(r["created"]), "\(r["n"] as Int)", "\((r["c"] as Int?) ?? 0)",
                 "\((r["f"] as Int?) ?? 0)", "\((r["r"] as Int?) ?? 0)", r["preset"], r["spec_file"]]
            }, indent: "") + "\n"
        }
    }

    // MARK: export

    public enum ExportFormat: String, CaseIterable, Sendable { case csv, json, report }

    /// Trials × metrics: one row per trial (by index) with its axis values and every evaluation metric
    /// as `<model>/<metric>` (model: "student@1", "ddim@8", …). JSON rows also carry each metric's
    /// label, N, reference, sampler, steps and NFE.
    public func export(sweep ref: String?, format: ExportFormat, preset: String? = nil) throws -> String {
        if format == .report {   // the RunExport that rdd-report reads (all sweeps unless one is named)
            return String(decoding: try runExport(sweep: ref, preset: preset).encoded(), as: UTF8.self) + "\n"
        }
        if let preset { throw PipelineError("--preset \(preset) selects sweeps for --format report; csv and json export one sweep (--sweep NAME)") }
        let db = try openReader()
        return try db.read { db in
            let sw = try resolveSweep(db, ref)
            let trials = try Row.fetchAll(db, sql: "SELECT * FROM trials WHERE sweep_id = ? ORDER BY trial_index", arguments: [sw.id])
            let evals = try Row.fetchAll(db, sql: """
                SELECT t.trial_index, ts.role, e.* FROM trials t JOIN trial_stages ts ON ts.trial_id = t.id JOIN evaluations e ON e.stage = ts.stage
                WHERE t.sweep_id = ? ORDER BY t.trial_index, ts.role, e.metric
                """, arguments: [sw.id])
            var byTrial: [Int: [(String, Row)]] = [:]
            var columns = Set<String>()
            for e in evals {
                let col = "\(e["role"] as String)/\(e["metric"] as String)"
                columns.insert(col)
                byTrial[e["trial_index"], default: []].append((col, e))
            }
            let metricCols = columns.sorted()
            func axes(_ t: Row) -> [(String, JSON)] {
                ((try? JSONParser.parse(t["axes_json"] as String).value)?.objectPairs) ?? []
            }
            switch format {
            case .csv:
                var lines = [(["sweep", "trial", "status"] + sw.axes + metricCols).map(csvField).joined(separator: ",")]
                for t in trials {
                    let a = axes(t)
                    let idx: Int = t["trial_index"]
                    let m = Dictionary((byTrial[idx] ?? []).map { ($0.0, $0.1["value"] as Double) }, uniquingKeysWith: { a, _ in a })
                    var fields = [sw.label, "\(idx)", t["status"] as String]
                    fields += sw.axes.map { p in a.first { $0.0 == p }.map { $0.1.stringValue ?? $0.1.serialized() } ?? "" }
                    fields += metricCols.map { c in m[c].map { "\($0)" } ?? "" }
                    lines.append(fields.map(csvField).joined(separator: ","))
                }
                return lines.joined(separator: "\n") + "\n"
            case .report:
                return ""
            case .json:
                var out: [JSON] = []
                for t in trials {
                    let idx: Int = t["trial_index"]
                    var metrics: [(String, JSON)] = []
                    for (col, e) in byTrial[idx] ?? [] {
                        metrics.append((col, .object([
                            ("value", .double(e["value"])), ("label", .string(e["label"])), ("samples", .int(Int64(e["samples"] as Int))),
                            ("featureNetwork", .string(e["feature_network"])), ("reference", .string(e["reference"])),
                            ("sampler", .string(e["sampler"])), ("steps", .int(Int64(e["steps"] as Int))), ("nfe", .int(Int64(e["nfe"] as Int))),
                            ("stage", .string(e["stage"])),
                        ])))
                    }
                    out.append(.object([("sweep", .string(sw.label)), ("trial", .int(Int64(idx))), ("key", .string(t["trial_key"])),
                                        ("status", .string(t["status"])), ("axes", .object(axes(t))), ("metrics", .object(metrics))]))
                }
                return prettyJSON(.array(out)) + "\n"
            }
        }
    }

    // MARK: gc

    /// Removes stage directories (and their rows) that no trial in the database needs. With
    /// `dropOldRevisions`, superseded revisions of each sweep are forgotten first.
    public func gc(dryRun: Bool, dropOldRevisions: Bool) throws -> String {
        guard let lock = FileLock.tryLock(root + "/.scheduler.lock") else {
            throw RootLockedError("a scheduler is running on '\(root)'; gc waits until it has finished")
        }
        defer { withExtendedLifetime(lock) {} }
        let db = try RunDatabase(writerAt: dbPath)
        var out = ""
        let dirs = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/stages")) ?? []).sorted()
        var removed: [(String, Int)] = []
        try db.write { db in
            if dropOldRevisions {
                let old = try Row.fetchAll(db, sql: "SELECT id, name, revision FROM sweeps s WHERE revision < (SELECT MAX(revision) FROM sweeps WHERE name = s.name)")
                for r in old {
                    out += "\(dryRun ? "would forget" : "forgetting") sweep \(r["name"] as String)@\(r["revision"] as Int)\n"
                    if !dryRun { try db.execute(sql: "DELETE FROM sweeps WHERE id = ?", arguments: [r["id"] as Int64]) }
                }
            }
            let needed = Set(try String.fetchAll(db, sql: "SELECT DISTINCT stage FROM trial_stages"))
            for d in dirs where !needed.contains(d) {
                removed.append((d, directorySize(root + "/stages/" + d)))
            }
            let orphanRows = try String.fetchAll(db, sql: "SELECT identity FROM stages WHERE identity NOT IN (SELECT DISTINCT stage FROM trial_stages)")
            if !dryRun {
                for id in orphanRows { try db.execute(sql: "DELETE FROM stages WHERE identity = ?", arguments: [id]) }
            }
        }
        if !dryRun { for (d, _) in removed { try FileManager.default.removeItem(atPath: root + "/stages/" + d) } }
        let bytes = removed.map(\.1).reduce(0, +)
        for (d, b) in removed { out += "\(dryRun ? "would remove" : "removed") stages/\(d) (\(String(format: "%.1f MB", Double(b) / 1e6)))\n" }
        out += "\(removed.count) of \(dirs.count) stage directories \(dryRun ? "would be " : "")removed, \(String(format: "%.1f MB", Double(bytes) / 1e6)) freed\n"
        return out
    }
}

func directorySize(_ path: String) -> Int {
    guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
    var n = 0
    for case let f as String in e { n += Proc.fileSize(path + "/" + f) ?? 0 }
    return n
}

func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

func prettyJSON(_ j: JSON, indent: String = "") -> String {
    let inner = indent + "  "
    switch j {
    case .array(let a) where !a.isEmpty:
        return "[\n" + a.map { inner + prettyJSON($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
    case .object(let kv) where !kv.isEmpty:
        return "{\n" + kv.map { k, v in
            var q = ""; JSON.quote(k, into: &q)
            return inner + q + ": " + prettyJSON(v, indent: inner)
        }.joined(separator: ",\n") + "\n" + indent + "}"
    default: return j.serialized()
    }
}

/// "distill.method = rdd" for every leaf that differs.
func diffPaths(_ a: JSON, _ b: JSON, prefix: String) -> [String] {
    if case .object(let bk) = b, case .object = a {
        return bk.flatMap { k, v in a[k].map { diffPaths($0, v, prefix: prefix + k + ".") } ?? ["\(prefix)\(k) = \(v.serialized())"] }
    }
    return a == b ? [] : ["\(prefix.dropLast()) = \(b.serialized())"]
}

extension Reports {
    /// The spec text and file name stored for a sweep (for `retry --failed` without a SPEC).
    public func storedSpec(sweep ref: String?) throws -> (text: String, file: String) {
        let db = try openReader()
        return try db.read { db in
            let s = try resolveSweep(db, ref)
            return (s.specJSON, s.specFile)
        }
    }
}

/// "compute: …" — the worker time of a sweep's completed stages (the `seconds` each stage took), split
/// into the stages this sweep ran (by kind) and those it reused from other sweeps: how long the
/// experiment took on this machine, without the waiting and pauses that wall-clock time includes.
func computeTimeLine(_ rows: [Row], sweepID: Int64) -> String {
    var ran: [String: Double] = [:], reused = 0.0
    for r in rows where (r["status"] as String) == "completed" {
        let secs: Double = r["seconds"] ?? 0
        if (r["ran_by_sweep"] as Int64?) == sweepID { ran[r["kind"] as String, default: 0] += secs } else { reused += secs }
    }
    let total = ran.values.reduce(0, +)
    guard total + reused > 0 else { return "" }
    let kinds = ran.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key) \(formatDuration($0.value))" }.joined(separator: ", ")
    return "compute: \(formatDuration(total)) run by this sweep" + (kinds.isEmpty ? "" : " (\(kinds))")
        + "; \(formatDuration(reused)) reused from other sweeps' stages (h:mm:ss of worker time, completed stages only)\n"
}

/// What an evaluation costs per sample: its sampler, step count and metrics (Inception features cost
/// more than classifier features), and how many samples it draws.
struct EvalCost {
    var key: String
    var samples: Int
    init?(configJSON: String?) {
        guard let json = configJSON, let c = try? JSONDecoder().decode(EvalStageConfig.self, from: Data(json.utf8)) else { return nil }
        key = "\(c.sampler) \(c.steps) steps, \(c.metrics.sorted().joined(separator: "+"))"
        samples = c.samples
    }
}
