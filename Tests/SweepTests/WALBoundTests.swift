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
        // With a 512 KiB limit the write that passes it truncates the WAL (waiting up to 1 s for a read in progress);
        // when a read outlasts the wait, the next attempt comes 64 KiB of WAL later. So the WAL is truncated again and
        // again and stays within the writes made during the longest reads above the limit (4.06 MB was the largest
        // seen with the earlier 100 ms wait, at load 10, with 81 truncations in 300 writes); without `boundWAL` there
        // would be no truncation at all.
        let bounded = try HarnessBench.measureMetricIngestion(rows: rows, scratch: scratch, walLimitBytes: 512 << 10, fileWrites: 0)
        XCTAssertGreaterThanOrEqual(bounded.walTruncations, 3)
        XCTAssertLessThan(bounded.walMaxBytes, 8_000_000, "\(bounded.walTruncations) truncations")
        XCTAssertEqual(bounded.rows, rows)
        XCTAssertGreaterThan(bounded.reads, 0)
    }
}
