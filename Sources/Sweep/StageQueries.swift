import Foundation
import GRDB
import Pipeline

/// A running stage as the dashboard's live view shows it: the `ProgressRow` that `rdd-sweep run` draws (step,
/// total, steps/s, latest metrics) plus its identity and the age of the last heartbeat the scheduler saw.
public struct LiveStage {
    public var identity: String
    public var kind: String
    public var progress: ProgressRow
    /// Seconds since the last heartbeat the scheduler recorded (nil: none yet).
    public var heartbeatAge: Double?
    /// Seconds left at the current rate (nil: no rate or no step count).
    public var eta: Double? {
        guard let s = progress.step, let t = progress.total, let r = progress.rate, r > 0 else { return nil }
        return Double(max(0, t - s)) / r
    }
}

extension Reports {
    /// The running stages of sweep `ref`, from the database the scheduler keeps current (it ingests each
    /// worker's journal and heartbeat every tick): the step is the stage's `last_step`, the rate 1 / the
    /// latest logged `seconds_per_step`, the metrics those of the latest logged step.
    public func liveStages(sweep ref: String) throws -> (status: SweepStatus, running: [LiveStage]) {
        let db = try openReader()
        return try db.read { db in
            let st = try sweepStatus(db, try resolveSweep(db, ref))
            let now = Date().timeIntervalSince1970
            var out: [LiveStage] = []
            for s in st.stages where s.state == "running" {
                let latest = try Row.fetchAll(db, sql: """
                    SELECT name, value FROM metrics WHERE stage = ? AND step = (SELECT MAX(step) FROM metrics WHERE stage = ?) ORDER BY name
                    """, arguments: [s.identity, s.identity])
                let metrics: [(String, Double)] = latest.compactMap { r in (r["value"] as Double?).map { (r["name"] as String, $0) } }
                let sps = try Double.fetchOne(db, sql: "SELECT value FROM metrics WHERE stage = ? AND name = 'seconds_per_step' ORDER BY step DESC LIMIT 1",
                                              arguments: [s.identity])
                let started = try Double.fetchOne(db, sql: "SELECT started FROM stages WHERE identity = ?", arguments: [s.identity]) ?? now
                let row = ProgressRow(name: s.names, shortID: String(s.identity.prefix(10)), step: s.lastStep, total: s.totalSteps,
                                      rate: sps.flatMap { $0 > 0 ? 1 / $0 : nil }, elapsed: now - started, metrics: metrics, attempt: s.attempts)
                out.append(LiveStage(identity: s.identity, kind: s.kind, progress: row, heartbeatAge: s.heartbeat.map { now - $0 }))
            }
            return (st, out)
        }
    }

    /// The logged series (`metrics` rows: the stages' journals) of the stages `identities`: stage → name → (step, value),
    /// only the names in `names` when given. NaN was stored as NULL and is left out.
    public func series(stages identities: [String], names: Set<String>? = nil) throws -> [String: [String: [(step: Int, value: Double)]]] {
        let db = try openReader()
        return try db.read { db in
            var out: [String: [String: [(step: Int, value: Double)]]] = [:]
            for id in identities {
                for r in try Row.fetchAll(db, sql: "SELECT step, name, value FROM metrics WHERE stage = ? ORDER BY name, step", arguments: [id]) {
                    let name: String = r["name"]
                    if let names, !names.contains(name) { continue }
                    if let v = r["value"] as Double? { out[id, default: [:]][name, default: []].append((r["step"], v)) }
                }
            }
            return out
        }
    }

    /// The names logged by the stages `identities` (what the curves page offers).
    public func seriesNames(stages identities: [String]) throws -> [String] {
        guard !identities.isEmpty else { return [] }
        let db = try openReader()
        return try db.read { db in
            let marks = Array(repeating: "?", count: identities.count).joined(separator: ",")
            return try String.fetchAll(db, sql: "SELECT DISTINCT name FROM metrics WHERE stage IN (\(marks)) ORDER BY name", arguments: StatementArguments(identities))
        }
    }

    /// The stage whose identity is `prefix` or starts with it (at least 6 characters, one match): its database
    /// row, its worker attempts and the trials that use it, as JSON (`/api/stages/ID`). Nil: no such stage.
    public func stageJSON(identityPrefix prefix: String) throws -> JSON? {
        guard prefix.count >= 6, prefix.allSatisfy({ $0.isHexDigit }) else { return nil }
        let db = try openReader()
        return try db.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM stages WHERE identity >= ? AND identity < ? LIMIT 2", arguments: [prefix, prefix + "g"])
            guard rows.count == 1, let s = rows.first else { return nil }
            let id: String = s["identity"]
            let attempts = try Row.fetchAll(db, sql: "SELECT * FROM attempts WHERE stage = ? ORDER BY attempt", arguments: [id]).map(rowJSON)
            let trials = try Row.fetchAll(db, sql: """
                SELECT sw.name, sw.revision, t.trial_index, ts.name AS node FROM trial_stages ts JOIN trials t ON t.id = ts.trial_id
                JOIN sweeps sw ON sw.id = t.sweep_id WHERE ts.stage = ? ORDER BY sw.name, sw.revision, t.trial_index
                """, arguments: [id]).map { r -> JSON in
                .object([("sweep", .string("\(r["name"] as String)@\(r["revision"] as Int)")), ("trial", .int(r["trial_index"])), ("node", .string(r["node"]))])
            }
            guard case .object(var kv) = rowJSON(s) else { return nil }
            kv.append(("attempt_records", .array(attempts)))
            kv.append(("trials", .array(trials)))
            return .object(kv)
        }
    }
}

/// A database row as a JSON object, column by column (NULL → null, BLOB → its byte count).
func rowJSON(_ r: Row) -> JSON {
    .object(r.columnNames.map { name in
        let v: DatabaseValue = r[name]
        switch v.storage {
        case .null: return (name, .null)
        case .int64(let i): return (name, .int(i))
        case .double(let d): return (name, d.isFinite ? .double(d) : .null)
        case .string(let s): return (name, .string(s))
        case .blob(let b): return (name, .int(Int64(b.count)))
        }
    })
}
