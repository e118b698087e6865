import XCTest
import Foundation
@testable import Sweep

/// The scheduler's writes keep the WAL bounded while a reader polls (`RunDatabase.boundWAL`, docs/run-database.md,
/// "The WAL"): the ingestion benchmark of `rdd-bench harness`, small, with a reader running `status`' ETA query back
/// to back.
final class WALBoundTests: XCTestCase {
    func testWALStaysBoundedWhileAReaderPolls() throws {
        let scratch = NSTemporaryDirectory() + "rdd-wal-bound-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let rows = 96 * 300
        // Without a limit the WAL file reaches SQLite's automatic checkpoint size (1000 pages of 4 KiB) before any
        // checkpoint runs, and a WAL file never shrinks by itself: this is what the limit must prevent.
        let unbounded = try HarnessBench.measureMetricIngestion(rows: rows, scratch: scratch, walLimitBytes: .max, fileWrites: 0)
        XCTAssertGreaterThanOrEqual(unbounded.walMaxBytes, 4_000_000)
        XCTAssertEqual(unbounded.walTruncations, 0)
        // With a 512 KiB limit the write that passes it truncates the WAL (or, when a read outlasts the checkpoint's
        // 200 ms wait, a later one does): the WAL stays within the writes made during the longest read above the limit,
        // far below what it reaches unbounded (2.96 MB was the largest seen with a 256 KiB limit at load 16).
        let bounded = try HarnessBench.measureMetricIngestion(rows: rows, scratch: scratch, walLimitBytes: 512 << 10, fileWrites: 0)
        XCTAssertGreaterThanOrEqual(bounded.walTruncations, 3)
        XCTAssertLessThan(bounded.walMaxBytes, 4_000_000, "\(bounded.walTruncations) truncations")
        XCTAssertEqual(bounded.rows, rows)
        XCTAssertGreaterThan(bounded.reads, 0)
    }
}
