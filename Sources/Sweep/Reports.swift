import Foundation
import GRDB
import Pipeline
import RunModel

/// Left-aligned text columns: each column as wide as its longest cell in characters, every cell but the last padded
/// as Foundation's `padding(toLength:withPad:startingAt:)` pads it (to that many UTF-16 units).
func table(_ header: [String], _ rows: [[String]], indent: String = "  ") -> String {
    let all = [header] + rows
    let n = header.count
    var w = [Int](repeating: 0, count: n)
    for r in all { for (i, c) in r.prefix(n).enumerated() { w[i] = max(w[i], c.count) } }
    /// Spaces appended directly where `padding` would only append (a `plan` of 10,000 trials pads 60,000 cells).
    func pad(_ c: String, _ width: Int) -> String {
        let units = c.utf16.count
        return units <= width ? c + String(repeating: " ", count: width - units) : c.padding(toLength: width, withPad: " ", startingAt: 0)
    }
    return all.map { r in indent + r.prefix(n).enumerated().map { i, c in i == n - 1 ? c : pad(c, w[i]) }.joined(separator: "  ") }
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

    func openReader() throws -> RunDatabase { try RunDatabase(readerAt: dbPath) }

    /// The sweep a command is about: `ref` (NAME or NAME@REV), else the only sweep in the database.
    func resolveSweep(_ db: Database, _ ref: String?) throws -> SweepRecord {
        if let ref {
            guard let s = try RunLedger.sweep(db, ref) else {
                let names = Set(try RunLedger.sweeps(db).map(\.name)).sorted()
                throw PipelineError("no sweep '\(ref)' in \(dbPath)\(didYouMean(ref, names, listIfNone: false)); sweeps: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
            }
            return s
        }
        let all = try RunLedger.sweeps(db)
        let names = Set(all.map(\.name))
        guard names.count == 1, let s = all.last else {
            throw PipelineError(names.isEmpty ? "no sweeps in \(dbPath) yet" : "several sweeps in \(dbPath) (\(names.sorted().joined(separator: ", "))): name one with --sweep NAME or a SPEC")
        }
        return s
    }

    // MARK: plan

    /// The dry run: expanded trials, the stages they share, and what is already done.
    public func plan(_ p: SweepPlan, showStages: Bool = true) throws -> String {
        var dbStatus: [String: StageStatus] = [:]
        var note = ""
        if FileManager.default.fileExists(atPath: dbPath), let db = try? openReader() {
            try db.read { db in
                dbStatus = try RunLedger.stageStatuses(db)
                if let e = try RunLedger.sweep(db, p.spec.name) {
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
            case .completed?, .cached?: return onDisk ? "done" : "to run (artifacts missing)"
            case .failed?: return "failed earlier"
            case .running?: return schedulerRunning ? "running" : "to resume"
            case .stale?: return "to resume"
            case .queued?, nil:
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
        let st = try sweepStatus(ref)
        let sw = st.sweep
        var out = "sweep \(sw.label) — \(sw.specFile), preset \(sw.preset), created \(fmtDate(sw.created)); "
        out += st.schedulerRunning ? "scheduler running (pid \(st.schedulerOwner))\n" : "no scheduler running\n"
        let tc = st.progress.trialCounts
        out += "trials: \(st.progress.trialTotal) — completed \(tc[.completed] ?? 0), \(st.trialsOrphaned ? Reports.notRunning : TrialStatus.running.displayName) \(tc[.running] ?? 0), failed \(tc[.failed] ?? 0), queued \(tc[.queued] ?? 0)\n"
        if let s = st.slurmLine { out += s + "\n" }
        let counts = st.progress.stageCounts
        out += "stages: \(st.stages.count) — done \(st.progress.stagesDone) (ran \(counts[.completed] ?? 0), cached \(counts[.cached] ?? 0)), running \(counts[.running] ?? 0), failed \(counts[.failed] ?? 0), stale \(counts[.stale] ?? 0), queued \(counts[.queued] ?? 0)\n"
        out += st.progress.computeLine
        if let eta = st.progress.etaSeconds {
            out += "ETA ≈ \(formatDuration(eta)) (remaining training steps × mean seconds_per_step of the stage kind, samples left × seconds per sample of finished evaluations of the same sampler, steps and metrics; ÷ \(st.progress.etaRunning) running"
            let unknown = st.progress.etaUnestimatedClassifiers
            out += unknown > 0 ? "; \(unknown) classifier stage\(unknown == 1 ? "" : "s") not estimated" : ""
            out += st.progress.etaNoRate.isEmpty ? ")\n" : "; no rate yet for \(st.progress.etaNoRate.joined(separator: ", ")))\n"
        }
        let lines = st.stages.filter { all || !$0.isDone }.map { s -> [String] in
            let progress = s.totalSteps.map { t in "\(min(s.lastStep ?? 0, t))/\(t)" } ?? (s.isDone ? "done" : "-")
            return [s.names, String(s.identity.prefix(10)), s.shown, progress, "\(s.attempts)", s.seconds.map { String(format: "%.1fs", $0) } ?? "-",
                    fmtMB(s.peakKiB), "\(s.trials)", String(s.note.prefix(100))]
        }
        if !lines.isEmpty {
            out += (all ? "" : "stages not done (`--all` lists every stage):\n")
            out += table(["stage", "identity", "status", "progress", "attempts", "time", "peak", "trials", "note"], lines) + "\n"
        }
        return out
    }

    // MARK: show

    /// One trial: `NAME/INDEX`, `NAME@REV/INDEX`, or `INDEX` with `sweep`.
    public func show(trial ref: String, sweep: String?, config: Bool = false) throws -> String {
        let db = try openReader()
        return try db.read { db in
            var sweepRef = sweep, idxText = ref
            if let slash = ref.lastIndex(of: "/") { sweepRef = String(ref[..<slash]); idxText = String(ref[ref.index(after: slash)...]) }
            let sw = try resolveSweep(db, sweepRef)
            guard let idx = Int(idxText), let d = try trialDetail(db, sw, index: idx) else {
                let n = try RunLedger.trialCount(db, sweep: sw.id)
                throw PipelineError("no trial '\(idxText)' in sweep \(sw.label) (trials are numbered 0…\(max(0, n - 1)))")
            }
            var out = "trial \(sw.label)/\(idx) — \(d.status)\n"
            out += "axes: \(d.axesJSON)\n"
            if let diffs = d.configChanges {
                out += "configuration vs preset \(sw.preset): " + (diffs.isEmpty ? "no changes" : diffs.joined(separator: ", ")) + "\n"
            }
            let rows = d.stages.map { s in
                [s.name, s.kind, String(s.identity.prefix(10)), s.status, s.totalSteps.map { "\(min(s.lastStep ?? 0, $0))/\($0)" } ?? "-",
                 "\(s.attempts)", s.seconds.map { String(format: "%.1fs", $0) } ?? "-", fmtMB(s.peakKiB), s.error ?? ""]
            }
            out += "stages (artifacts in \(root)/stages/<identity>/):\n" + table(["stage", "kind", "identity", "status", "progress", "attempts", "time", "peak", "error"], rows) + "\n"
            if !d.evaluations.isEmpty {
                out += "evaluations:\n" + table(["model", "metric", "value", "N", "label"], d.evaluations.map { e in
                    [e.role, e.metric, String(format: "%.6g", e.value), "\(e.samples)", e.label]
                }) + "\n"
            }
            if !d.unsuccessfulAttempts.isEmpty {
                out += "unsuccessful attempts:\n" + table(["stage", "attempt", "outcome", "exit", "signal", "last step", "why (from the last 50 lines of stderr)"], d.unsuccessfulAttempts.map { a in
                    [a.stage, "\(a.attempt)", a.outcome.displayName, a.exitStatus.map(String.init) ?? "-", a.signal.map(String.init) ?? "-", a.lastStep.map(String.init) ?? "-",
                     String(a.why.prefix(100))]
                }) + "\n"
            }
            if config { out += "resolved configuration:\n" + d.configJSON + "\n" }
            return out
        }
    }

    // MARK: list

    public func list() throws -> String {
        let db = try openReader()
        return try db.read { db in
            let rows = try RunLedger.sweepSummaries(db)
            if rows.isEmpty { return "no sweeps in \(dbPath)\n" }
            let shown: [TrialStatus] = [.completed, .failed, .running]
            return table(["sweep", "created", "trials"] + shown.map(\.displayName) + ["preset", "spec"], rows.map { r in
                [r.sweep.label, fmtDate(r.sweep.created), "\(r.trials)"] + shown.map { "\(r.byStatus[$0] ?? 0)" } + [r.sweep.preset, r.sweep.specFile]
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
        return exportText(try trialsTable(sweep: ref), format: format)
    }

    /// `export(sweep:format:preset:)`'s text handed to `sink` in pieces: the report export (≈ 180 MB at 10,000 trials)
    /// is written trial by trial instead of being held whole as bytes and then as a String (`rdd-sweep export`).
    public func writeExport(sweep ref: String?, format: ExportFormat, preset: String? = nil, to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard format == .report else {
            var text = try export(sweep: ref, format: format, preset: preset)
            return try text.withUTF8 { try sink(UnsafeRawBufferPointer($0)) }
        }
        try streamRunExport(sweep: ref, preset: preset, trailer: "\n", into: sink)
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
                for old in try RunLedger.supersededSweeps(db) {
                    out += "\(dryRun ? "would forget" : "forgetting") sweep \(old.label)\n"
                    if !dryRun { try RunLedger.forgetSweep(db, id: old.id) }
                }
            }
            let needed = try RunLedger.neededStages(db)
            for d in dirs where !needed.contains(d) {
                removed.append((d, directorySize(stageDir(d))))
            }
            let orphanRows = try RunLedger.unlinkedStages(db)
            if !dryRun {
                for id in orphanRows { try RunLedger.forgetStage(db, id) }
            }
        }
        if !dryRun { for (d, _) in removed { try FileManager.default.removeItem(atPath: stageDir(d)) } }
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

/// What an evaluation costs per sample: its sampler, step count and metrics (Inception features cost
/// more than classifier features), and how many samples it draws.
struct EvalCost {
    var key: String
    var samples: Int
    init?(configJSON: String?) {
        guard let json = configJSON, case .eval(let c)? = try? StageSettings.decode(kind: .eval, json: json) else { return nil }
        key = "\(c.sampler) \(c.steps) steps, \(c.metrics.map(\.rawValue).sorted().joined(separator: "+"))"
        samples = c.samples
    }
}

extension Reports: ResultsRootUser {}
