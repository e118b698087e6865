import XCTest
import Foundation
import GRDB
@testable import Sweep

/// The run database has one owner: every SQL statement of the harness is a method of `RunLedger`
/// (Sources/Sweep/RunLedger*.swift; the schema and migrations are in RunDatabase.swift), so what a row
/// means is decided in one place and docs/run-database.md's query plans cover every query.
final class LedgerSQLTests: XCTestCase {
    /// Files outside the ledger allowed to hold SQL, and why: benchmark fixtures that write a synthetic
    /// database directly (rows no plan produces without running its stages), never the harness's own rows, and the
    /// schema migration that moves rows between tables.
    static let fixtures: [String: String] = [
        "Sources/Sweep/RunDatabase.swift": "migration v6-clustered-metrics copies the metrics rows into the clustered table (INSERT … SELECT)",
        "Sources/Sweep/HarnessBench.swift": "measureMetricIngestion: placeholder stage rows in a scratch database and the concurrent reader it measures against",
        "Sources/Sweep/SyntheticRunDatabase.swift": "a synthetic database of up to 10,000 completed trials for `rdd-bench dashboard` and DashboardScaleTests",
    ]

    func testNoSQLStatementOutsideTheLedger() throws {
        let sources = SchedulerTests.repo + "/Sources"
        // A statement's verb where SQL begins it (not "ON DELETE CASCADE" in a foreign key, nor prose).
        let statement = try NSRegularExpression(pattern: #"\b(SELECT\s+(\*|DISTINCT|COUNT|MAX|AVG|[a-z_]+[\s,.])|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)"#)
        var offenders: [String] = []
        let e = try XCTUnwrap(FileManager.default.enumerator(atPath: sources))
        var scanned = 0
        for case let f as String in e where f.hasSuffix(".swift") {
            let rel = "Sources/" + f
            let name = (f as NSString).lastPathComponent
            if rel.hasPrefix("Sources/Sweep/RunLedger") || Self.fixtures[rel] != nil { continue }
            scanned += 1
            let text = try String(contentsOfFile: sources + "/" + f, encoding: .utf8)
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let l = String(line)
                if statement.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) != nil { offenders.append("\(rel):\(i + 1) (\(name)): \(l.trimmingCharacters(in: .whitespaces).prefix(90))") }
            }
        }
        XCTAssertGreaterThan(scanned, 100, "found only \(scanned) source files under \(sources)")
        XCTAssertEqual(offenders, [], "SQL outside RunLedger*.swift: make it a ledger method (docs/architecture.md, \"The ledger\")")
    }

    /// The pattern finds the statements the ledger does issue (so the test above can fail).
    func testThePatternFindsTheLedgersStatements() throws {
        let text = try String(contentsOfFile: SchedulerTests.repo + "/Sources/Sweep/RunLedger+Maintenance.swift", encoding: .utf8)
        let statement = try NSRegularExpression(pattern: #"\b(SELECT\s+(\*|DISTINCT|COUNT|MAX|AVG|[a-z_]+[\s,.])|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)"#)
        XCTAssertGreaterThanOrEqual(statement.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text)), 5)
    }

    /// A status the enum does not know (a database written by another build) is a clear error, not a trap.
    func testUnknownStoredStatusIsAnError() throws {
        let row: Row = ["identity": "abc", "kind": "eval", "name": "e", "status": "paused", "config_json": "{}", "artifact_dir": "d",
                        "code_version": "x", "attempts": 0, "failures": 0]
        XCTAssertThrowsError(try RunLedger.StoredStage(row)) { e in
            let text = String(describing: e)
            XCTAssertTrue(text.contains("paused") && text.contains("status"), text)
        }
    }
}
