import Foundation
import GRDB

/// The ledger's maintenance: what `rdd-sweep gc` forgets. The caller holds `<root>/.scheduler.lock` and
/// chooses the transaction, so the rows go together with the listing of what to remove.
extension RunLedger {
    /// Sweep revisions superseded by a later revision of the same name.
    static func supersededSweeps(_ db: Database) throws -> [(id: Int64, label: String)] {
        try Row.fetchAll(db, sql: "SELECT id, name, revision FROM sweeps s WHERE revision < (SELECT MAX(revision) FROM sweeps WHERE name = s.name)")
            .map { ($0["id"], "\($0["name"] as String)@\($0["revision"] as Int)") }
    }

    /// Forgets sweep `id`: its trials and links go with it (`ON DELETE CASCADE`); the stages and attempts
    /// it ran keep their rows with `ran_by_sweep` / `sweep_id` set to NULL.
    static func forgetSweep(_ db: Database, id: Int64) throws {
        try db.execute(sql: "DELETE FROM sweeps WHERE id = ?", arguments: [id])
    }

    /// The stages some trial in the database links to.
    static func neededStages(_ db: Database) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT DISTINCT stage FROM trial_stages"))
    }

    /// Stage rows no trial links to.
    static func unlinkedStages(_ db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT identity FROM stages WHERE identity NOT IN (SELECT DISTINCT stage FROM trial_stages)")
    }

    /// Forgets stage `id` (its attempts, metrics, evaluations and Slurm tasks go with it, `ON DELETE CASCADE`).
    static func forgetStage(_ db: Database, _ id: String) throws {
        try db.execute(sql: "DELETE FROM stages WHERE identity = ?", arguments: [id])
    }
}
