import Foundation
import GRDB
import Pipeline
import RunModel

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
            for s in st.stages where s.state == .running {
                let metrics = try RunLedger.latestMetrics(db, stage: s.identity)
                let sps = try RunLedger.latestSecondsPerStep(db, stage: s.identity)
                let started = try RunLedger.started(db, stage: s.identity) ?? now
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
                let all = try RunLedger.series(db, stage: id)
                let kept = names.map { n in all.filter { n.contains($0.key) } } ?? all
                if !kept.isEmpty { out[id] = kept }
            }
            return out
        }
    }

    /// The names logged by the stages `identities` (what the curves page offers).
    public func seriesNames(stages identities: [String]) throws -> [String] {
        guard !identities.isEmpty else { return [] }
        return try openReader().read { try RunLedger.seriesNames($0, stages: identities) }
    }

    /// The stage whose identity is `prefix` or starts with it (at least 6 characters, one match): its database
    /// row, its worker attempts and the trials that use it, as JSON (`/api/stages/ID`). Nil: no such stage.
    public func stageJSON(identityPrefix prefix: String) throws -> JSON? {
        guard prefix.count >= 6, prefix.allSatisfy({ $0.isHexDigit }) else { return nil }
        return try openReader().read { try RunLedger.stageJSON($0, identityPrefix: prefix) }
    }
}
