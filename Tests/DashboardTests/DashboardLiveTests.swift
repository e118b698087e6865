import Foundation
import XCTest
import GRDB
@testable import Dashboard
import Sweep

/// Roots without a usable database, and the live view while `rdd-sweep run` writes the database from another process.
final class DashboardLiveTests: XCTestCase {
    func respond(_ d: Dashboard, _ path: String, query: [(String, String)] = []) -> (status: Int, text: String) {
        let r = d.respond(method: "GET", path: path, query: query)
        return (r.status, String(decoding: r.body, as: UTF8.self))
    }

    func testRootWithoutDatabaseSaysHowToStart() throws {
        let root = DashboardFixture.tempDir("empty")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let d = Dashboard(root: root)
        let home = respond(d, "/")
        XCTAssertEqual(home.status, 200)
        XCTAssertTrue(home.text.contains("rdd-sweep run experiments/tiny/ablation.json --root"), home.text)
        XCTAssertEqual(respond(d, "/sweeps/a/trials").status, 404)
        XCTAssertEqual(respond(d, "/api/sweeps").status, 404)
        XCTAssertFalse(FileManager.default.fileExists(atPath: RunDatabase.path(root: root)), "the dashboard creates no database")
    }

    /// A database with a migration this build does not know (written by a newer rdd-sweep) is refused with RunDatabase's reason.
    func testDatabaseOfAnotherSchemaIsRefused() throws {
        let root = DashboardFixture.tempDir("schema")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let w = try RunDatabase(writerAt: RunDatabase.path(root: root))
        try w.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-future')") }
        let d = Dashboard(root: root)
        for path in ["/", "/sweeps/a/trials", "/api/sweeps"] {
            let r = respond(d, path)
            XCTAssertEqual(r.status, 500, path)
            XCTAssertTrue(r.text.contains("was written by a newer rdd-sweep") && r.text.contains("v99-future"), r.text)
        }
    }

    /// `rdd-sweep run` in another process trains a teacher of 400 steps; the live view (and its JSON) shows the running
    /// stage with its step advancing, a speed, a heartbeat and its losses, read from the database the scheduler writes.
    func testLiveViewWhileTheSchedulerRunsInAnotherProcess() throws {
        let exe = try XCTUnwrap(DashboardFixture.executable, "rdd-sweep executable next to the test bundle")
        let root = DashboardFixture.tempDir("live")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = root + "/live.json"
        try DashboardFixture.spec(name: "live", teacherSteps: 400).write(toFile: spec, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["run", spec, "--root", root, "--display", "quiet", "--threads", "1"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.interrupt(); p.waitUntilExit() } }
        let d = Dashboard(root: root)
        var steps: [Int] = []
        var last: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline && steps.count < 2 && p.isRunning {
            Thread.sleep(forTimeInterval: 0.5)
            let r = respond(d, "/api/sweeps/live/live")
            guard r.status == 200, let j = try JSONSerialization.jsonObject(with: Data(r.text.utf8)) as? [String: Any],
                  let running = j["running"] as? [[String: Any]], let teacher = running.first(where: { $0["kind"] as? String == "teacher" }),
                  let step = teacher["step"] as? Int, step > 0, teacher["stepsPerSecond"] is Double else { continue }
            if steps.last != step { steps.append(step); last = teacher }
        }
        XCTAssertEqual(steps.count, 2, "the teacher's step was seen advancing (\(steps)) while the scheduler ran")
        XCTAssertEqual(last["totalSteps"] as? Int, 400)
        XCTAssertNotNil(last["heartbeatAgeSeconds"] as? Double, "heartbeat age")
        XCTAssertNotNil((last["metrics"] as? [String: Any])?["loss"], "the latest loss")
        let page = respond(d, "/sweeps/live/live", query: [("fragment", "1")])
        XCTAssertTrue(page.text.contains("Running stages") && page.text.contains("teacher") && page.text.contains("steps/s"), page.text)
        XCTAssertTrue(p.isRunning, "the sweep was still running while it was watched")
    }
}
