import XCTest
import Foundation
import Pipeline

final class JournalTests: XCTestCase {
    func testRoundTripTornLineAndByteExactResume() throws {
        let path = NSTemporaryDirectory() + "rdd-journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        do {
            let j = try Journal(path: path)
            j.log(step: 0, [("lr", 0.10000000149011612), ("diag/cos/cfd|is_p2p", -0.5), ("we\"ird\\name", 1e-300)])
            j.log(step: 1, [("loss", .infinity), ("loss2", 3.25)])
            j.log(step: 2, [("loss", 7)])
            j.sync()
        }
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text += "{\"step\":3,\"name\":\"loss\",\"val"          // a torn last line (killed worker)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let entries = Journal.read(path: path)
        XCTAssertEqual(entries.count, 6)
        XCTAssertEqual(entries[0].value.bitPattern, (0.10000000149011612).bitPattern, "exact round trip")
        XCTAssertEqual(entries[1].name, "diag/cos/cfd|is_p2p")
        XCTAssertEqual(entries[2].name, "we\"ird\\name")
        XCTAssertEqual(entries[3].value, .infinity)
        let before = text.split(separator: "\n").prefix(3).map { $0 + "\n" }.joined()
        _ = try Journal(path: path, resumeFrom: 0)                // resume after step 0
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), before, "kept lines are byte-identical")
    }

    /// `read(path:from:)`, the scheduler's incremental reader: only complete lines past the offset, a torn line
    /// left for the next read, and a file truncated below the offset (a resumed stage) read again from the start.
    func testIncrementalReadFromOffset() throws {
        let path = NSTemporaryDirectory() + "rdd-journal-inc-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let line0 = "{\"step\":0,\"name\":\"loss\",\"value\":1.5}\n", line1 = "{\"step\":1,\"name\":\"loss\",\"value\":1.25}\n"
        try (line0 + "{\"step\":1,\"na").write(toFile: path, atomically: true, encoding: .utf8)
        let first = Journal.read(path: path, from: 0)
        XCTAssertEqual(first.entries, [Journal.Entry(step: 0, name: "loss", value: 1.5)])
        XCTAssertEqual(first.offset, line0.utf8.count, "the torn line is not consumed")
        try (line0 + line1).write(toFile: path, atomically: true, encoding: .utf8)
        let second = Journal.read(path: path, from: first.offset)
        XCTAssertEqual(second.entries, [Journal.Entry(step: 1, name: "loss", value: 1.25)])
        XCTAssertEqual(second.offset, (line0 + line1).utf8.count)
        try line0.write(toFile: path, atomically: true, encoding: .utf8)          // truncated back to step 0
        XCTAssertEqual(Journal.read(path: path, from: second.offset).entries.map(\.step), [0])
        XCTAssertEqual(Journal.read(path: path + ".missing", from: 7).offset, 7, "no file: nothing read, offset kept")
    }
}
