import XCTest
import Foundation
import GRDB
import Pipeline
@testable import Sweep

/// Migration v6-clustered-metrics (RunDatabase.clusteredMetrics, docs/run-database.md "metrics"): a database written
/// before it keeps every metric row, its upserts and its cascade, and a stage's series becomes one range of the table's
/// primary key, read without a second look-up or a sort.
final class MetricsMigrationTests: XCTestCase {
    /// A run database as rdd-sweep wrote it before v6: the schema of migrations v1–v5, and GRDB's record of them.
    private func makeV5Database(at path: String) throws {
        let q = try DatabaseQueue(path: path)
        try q.write { db in
            for sql in RunDatabase.schemaV1 + RunDatabase.schemaV2Slurm + RunDatabase.schemaV3Provenance
                + RunDatabase.queryIndexes + RunDatabase.dashboardIndexes { try db.execute(sql: sql) }
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            for id in ["v1-initial", "v2-slurm", "v3-provenance", "v4-query-indexes", "v5-dashboard-indexes"] {
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [id])
            }
            for stage in ["a", "b"] {
                try db.execute(sql: "INSERT INTO stages (identity, kind, name, config_json, inputs_json, code_version, created, artifact_dir) VALUES (?, 'distill', 'distill-rdd-4', '{}', '{}', 'x', 0, 'd')",
                               arguments: [String(repeating: stage, count: 64)])
            }
            // Rows inserted out of key order, a NULL (a NaN in the journal), and the same names in both stages.
            for (stage, step, name, value) in [("b", 2, "total", 0.5), ("a", 1, "total", 1.5), ("a", 0, "cfd", 3.0),
                                               ("a", 0, "total", 2.0), ("a", 1, "cfd", .nan), ("b", 0, "total", 9.0)] {
                try db.execute(sql: "INSERT INTO metrics (stage, step, name, value) VALUES (?, ?, ?, ?)",
                               arguments: [String(repeating: stage, count: 64), step, name, value.isNaN ? nil : value])
            }
        }
    }

    private func rows(_ db: Database) throws -> [String] {
        try Row.fetchAll(db, sql: "SELECT stage, step, name, value FROM metrics ORDER BY stage, step, name").map { r in
            "\((r["stage"] as String).prefix(1)) \(r["step"] as Int) \(r["name"] as String) \((r["value"] as Double?).map { "\($0)" } ?? "NULL")"
        }
    }

    func testAnOlderDatabaseKeepsItsMetricsAndReadsThemFromThePrimaryKey() throws {
        let dir = NSTemporaryDirectory() + "rdd-metrics-migration-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/runs.sqlite"
        try makeV5Database(at: path)
        let a = String(repeating: "a", count: 64), b = String(repeating: "b", count: 64)
        let (before, seriesBefore) = try DatabaseQueue(path: path).read { db in (try rows(db), try RunLedger.series(db, stage: a)) }
        XCTAssertEqual(before.count, 6)
        XCTAssertThrowsError(try RunDatabase(readerAt: path), "a reader refuses the older schema until a run migrates it")

        let w = try RunDatabase(writerAt: path)   // migrates
        try w.read { db in
            XCTAssertEqual(try rows(db), before)
            let series = try RunLedger.series(db, stage: a)
            XCTAssertEqual(series.keys.sorted(), seriesBefore.keys.sorted())
            for (k, v) in series { XCTAssertEqual(v.map(\.step), seriesBefore[k]?.map(\.step)); XCTAssertEqual(v.map(\.value), seriesBefore[k]?.map(\.value)) }
            XCTAssertEqual(series["total"]?.map(\.step), [0, 1])
            XCTAssertEqual(series["cfd"]?.map(\.step), [0], "the NULL (NaN) row is left out")
            let sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'metrics'") ?? ""
            XCTAssertTrue(sql.contains("WITHOUT ROWID") && sql.contains("PRIMARY KEY (stage, step, name)"), sql)
            XCTAssertEqual(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'metrics' AND sql IS NOT NULL"), ["metrics_name"])
            XCTAssertNil(try String.fetchOne(db, sql: "SELECT name FROM sqlite_master WHERE name = 'metrics_clustered'"))
            // The series query: one range of the primary key, no index-then-table look-up, no sort.
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT step, name, value FROM metrics WHERE stage = ? ORDER BY step, name", arguments: [a])
                .map { $0["detail"] as String }
            XCTAssertEqual(plan, ["SEARCH metrics USING PRIMARY KEY (stage=?)"])
        }
        // Upserts keep one row per (stage, step, name); deleting a stage deletes its rows (the foreign key's cascade).
        try w.write { db in
            try RunLedger.upsertMetrics(db, stage: a, [Journal.Entry(step: 1, name: "total", value: 7.25)])
            try db.execute(sql: "DELETE FROM stages WHERE identity = ?", arguments: [b])
        }
        try w.read { db in
            XCTAssertEqual(try rows(db), ["a 0 cfd 3.0", "a 0 total 2.0", "a 1 cfd NULL", "a 1 total 7.25"])
        }
        XCTAssertNoThrow(try RunDatabase(readerAt: path))
    }
}
