import Foundation
import XCTest
import GRDB
@testable import Dashboard
import Sweep
import RunModel

/// The dashboard over HTTP on an ephemeral port, over the fixture's tiny sweep: every page and API endpoint,
/// the 404s, path traversal, and that nothing it answers changes the run database.
final class DashboardHTTPTests: XCTestCase {
    var port = 0
    var root = ""

    override func setUpWithError() throws {
        root = try DashboardFixture.root()
        port = try startDashboard(root).port
    }

    func get(_ path: String, _ method: String = "GET", file: StaticString = #filePath, line: UInt = #line) throws -> RawHTTP {
        try RawHTTP.request(port: port, method, path)
    }

    func json(_ path: String) throws -> Any {
        let r = try get(path)
        XCTAssertEqual(r.status, 200, "\(path): \(r.text.prefix(300))")
        XCTAssertTrue(r.headers["content-type"]?.hasPrefix("application/json") ?? false, path)
        return try JSONSerialization.jsonObject(with: r.body)
    }

    // MARK: pages

    func testPagesShowTheSweep() throws {
        let name = DashboardFixture.sweepName
        let list = try get("/")
        XCTAssertEqual(list.status, 200)
        XCTAssertTrue(list.text.contains("href=\"/sweeps/\(name)/live\""), list.text)

        let trials = try get("/sweeps/\(name)/trials")
        XCTAssertEqual(trials.status, 200)
        for i in 0..<2 { XCTAssertTrue(trials.text.contains("href=\"/sweeps/\(name)/trials/\(i)\""), "row of trial \(i)") }
        XCTAssertTrue(trials.text.contains("<th class=\"num\"><a href=\"/sweeps/\(name)/trials?sort=student@64/fid_classifier\">student@64/fid_classifier</a></th>"),
                      "a column per evaluation metric, its header a link that sorts by it")
        XCTAssertTrue(trials.text.contains("id=\"filter\"") && trials.text.contains("id=\"trials-block\"") && trials.text.contains("fragment=1"), "filter box and its script")
        XCTAssertTrue(trials.text.contains("Trials 1–2 of 2, sorted by trial. Page 1 of 1"), "the pager line")
        XCTAssertFalse(trials.text.contains("http://") || trials.text.contains("https://") || trials.text.contains("src=\""), "nothing fetched from elsewhere")

        let trial = try get("/sweeps/\(name)/trials/1")
        XCTAssertEqual(trial.status, 200)
        for s in ["distill.from = 128", "<h2>Stages</h2>", "<h2>Evaluations</h2>", "<h2>Loss-term diagnostics</h2>", "worker.log",
                  "data-src=\"/sweeps/\(name)/trials/1/terms\""] {
            XCTAssertTrue(trial.text.contains(s), "trial page lacks \(s)")
        }
        let terms = try get("/sweeps/\(name)/trials/1/terms")
        XCTAssertEqual(terms.status, 200)
        XCTAssertTrue(terms.text.contains("<svg") && terms.text.contains("dash@1/"), "the terms report of the trial, its figure inline: \(terms.text.prefix(300))")
        // The fixture's first run killed its first workers (exit 137): the trial page lists those attempts with their reason.
        XCTAssertTrue(trial.text.contains("<h2>Unsuccessful attempts</h2>\n<table>"), "a table of unsuccessful attempts")
        XCTAssertTrue(trial.text.contains("<td class=\"num\">137</td>"), "exit status 137 of a killed worker")

        let live = try get("/sweeps/\(name)/live")
        XCTAssertEqual(live.status, 200)
        XCTAssertTrue(live.text.contains("<div id=\"live\">") && live.text.contains("setInterval(poll"), "live block and its polling script")
        let fragment = try get("/sweeps/\(name)/live?fragment=1")
        XCTAssertTrue(fragment.text.hasPrefix("<div class=\"cards\">") && fragment.text.contains("2 / 2"), fragment.text.prefix(300).description)

        let curves = try get("/sweeps/\(name)/curves?trial=0&trial=1&series=loss")
        XCTAssertEqual(curves.status, 200)
        XCTAssertTrue(curves.text.contains("<svg") && curves.text.contains("<polyline"), "a server-side SVG with lines")
        XCTAssertTrue(curves.text.contains("trial 0 (pd") && curves.text.contains("trial 1 (rdd"), "one line per selected trial")
        XCTAssertEqual(try get("/sweeps/\(name)/curves?trial=x").status, 400)

        XCTAssertEqual(try get("/sweeps/\(name)").status, 302)
    }

    func testReportsComeFromReportCode() throws {
        let index = try get("/reports/")
        XCTAssertEqual(index.status, 200)
        XCTAssertTrue(index.text.contains("href=\"table3.md\""), index.text.prefix(2000).description)
        let t3 = try get("/reports/table3.md")
        XCTAssertEqual(t3.status, 200)
        XCTAssertTrue(t3.text.contains("<table>"), "Markdown tables rendered as HTML")
        let svg = try get("/reports/terms.svg")
        XCTAssertEqual(svg.status, 200)
        XCTAssertEqual(svg.headers["content-type"], "image/svg+xml")
        XCTAssertTrue(svg.text.contains("<svg"))
        XCTAssertEqual(try get("/reports").status, 302)
        XCTAssertEqual(try get("/reports/nope.md").status, 404)
    }

    /// `?sort=&dir=&filter=&page=&per=`: SQLite orders, filters and pages the rows (Sweep's `trialsPage`).
    func testTrialsPageSortsFiltersAndPages() throws {
        let name = DashboardFixture.sweepName
        func rows(_ query: String) throws -> [Int] {
            let r = try get("/sweeps/\(name)/trials?\(query)&fragment=1")
            XCTAssertEqual(r.status, 200, query + ": " + r.text.prefix(300))
            XCTAssertFalse(r.text.contains("<html"), "a fragment is the block only")
            return r.text.components(separatedBy: "<td data-v=\"").dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
        }
        XCTAssertEqual(try rows("per=1"), [0])
        XCTAssertEqual(try rows("per=1&page=2"), [1])
        XCTAssertEqual(try rows("dir=desc"), [1, 0])
        XCTAssertEqual(try rows("filter=rdd"), [1], "trial 1 is distill.method = rdd")
        XCTAssertEqual(try rows("filter=PD"), [0], "case-insensitive")
        XCTAssertEqual(try rows("filter=rdd+pd"), [], "every word must match (a form sends the space as +)")
        XCTAssertEqual(try rows("sort=distill.method&dir=desc"), [1, 0], "rdd after pd")
        // By a metric: the order of the values the API reports.
        let api = try XCTUnwrap(try json("/api/sweeps/\(name)/trials") as? [String: Any])
        let fid = try XCTUnwrap(api["trials"] as? [[String: Any]]).map { t -> (Int, Double) in
            (t["trial"] as! Int, ((t["metrics"] as! [String: Any])["student@64/fid_classifier"] as! [String: Any])["value"] as! Double)
        }
        XCTAssertEqual(try rows("sort=student@64/fid_classifier"), fid.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0))
        XCTAssertEqual(try rows("sort=student@64/fid_classifier&dir=desc"), fid.sorted { ($0.1, $1.0) > ($1.1, $0.0) }.map(\.0))
        let page = try XCTUnwrap(try json("/api/sweeps/\(name)/trials?per=1&page=2") as? [String: Any])
        XCTAssertEqual(page["total"] as? Int, 2)
        XCTAssertEqual(page["pages"] as? Int, 2)
        XCTAssertEqual((page["trials"] as? [[String: Any]])?.map { $0["trial"] as? Int }, [1])
        for bad in ["sort=nope", "sort=student@64/nope", "per=0", "per=501", "page=0", "dir=up", "page=x"] {
            let r = try get("/sweeps/\(name)/trials?\(bad)")
            XCTAssertEqual(r.status, 400, bad)
            XCTAssertTrue(r.text.contains(bad.split(separator: "=")[1].description), "\(bad): the message names the value: \(r.text.prefix(400))")
            XCTAssertEqual(try get("/api/sweeps/\(name)/trials?\(bad)").status, 400, bad)
        }
    }

    // MARK: API

    func testJSONAPI() throws {
        let name = DashboardFixture.sweepName
        let sweeps = try XCTUnwrap(try json("/api/sweeps") as? [[String: Any]])
        XCTAssertEqual(sweeps.count, 1)
        XCTAssertEqual(sweeps[0]["label"] as? String, "\(name)@1")
        XCTAssertEqual((sweeps[0]["trials"] as? [String: Int])?["completed"], 2)
        XCTAssertNotNil(try json("/api/sweeps/\(name)") as? [String: Any])
        let trials = try XCTUnwrap(try json("/api/sweeps/\(name)/trials") as? [String: Any])
        XCTAssertEqual((trials["trials"] as? [Any])?.count, 2)
        // The tiny preset's evaluation metrics (EvaluatorSettings.defaults: classifier-feature FID and KID, classifier score ± std).
        XCTAssertEqual(trials["columns"] as? [String], ["student@64/classifier_score", "student@64/classifier_score_std", "student@64/fid_classifier", "student@64/kid_classifier"])
        let trial = try XCTUnwrap(try json("/api/sweeps/\(name)/trials/1") as? [String: Any])
        let stages = try XCTUnwrap(trial["stages"] as? [[String: Any]])
        XCTAssertEqual(stages.count, 7, "classifier, teacher, 3 PD, distill, eval")
        let live = try XCTUnwrap(try json("/api/sweeps/\(name)/live") as? [String: Any])
        XCTAssertEqual((live["running"] as? [Any])?.count, 0, "nothing runs after the fixture sweep")
        let id = try XCTUnwrap(stages.first { $0["kind"] as? String == "teacher" }?["identity"] as? String)
        let stage = try XCTUnwrap(try json("/api/stages/\(id)") as? [String: Any])
        XCTAssertEqual(stage["identity"] as? String, id)
        XCTAssertEqual((stage["trials"] as? [Any])?.count, 2, "the teacher is shared by both trials")
        let byPrefix = try XCTUnwrap(try json("/api/stages/\(id.prefix(12))") as? [String: Any])
        XCTAssertEqual(byPrefix["identity"] as? String, id)
        let file = try get("/files/stages/\(id)/worker.log")
        XCTAssertEqual(file.status, 200)
        XCTAssertEqual(file.body, FileManager.default.contents(atPath: root + "/stages/\(id)/worker.log"))
    }

    // MARK: bad input

    func testUnknownNamesGiveClearNotFound() throws {
        let sweep = try get("/sweeps/nope/trials")
        XCTAssertEqual(sweep.status, 404)
        XCTAssertTrue(sweep.text.contains("no sweep &#39;nope&#39;") && sweep.text.contains("sweeps: \(DashboardFixture.sweepName)"), sweep.text)
        let trial = try get("/sweeps/\(DashboardFixture.sweepName)/trials/99")
        XCTAssertEqual(trial.status, 404)
        XCTAssertTrue(trial.text.contains("has no trial &#39;99&#39;"), trial.text)
        let api = try get("/api/sweeps/nope/trials")
        XCTAssertEqual(api.status, 404)
        XCTAssertTrue(api.text.contains("\"error\":\"no sweep 'nope'"), api.text)
        XCTAssertEqual(try get("/api/stages/abc").status, 404, "a prefix shorter than 6 hex digits names no stage")
        XCTAssertEqual(try get("/no/such/page").status, 404)
    }

    /// A taken port fails at once, naming the port; `rdd-sweep serve` exits 4 ("could not run": the arguments are valid).
    func testTakenPortFailsFast() throws {
        let second = try DashboardServer(root: root, host: "127.0.0.1", port: UInt16(port))
        final class Box: @unchecked Sendable { var error: Error? }
        let box = Box(), done = DispatchSemaphore(value: 0)
        let t0 = Date()
        Task { do { _ = try await second.start() } catch { box.error = error }; done.signal() }
        done.wait()
        let seconds = Date().timeIntervalSince(t0)
        let message = "\(try XCTUnwrap(box.error, "a second server on port \(port)"))"
        XCTAssertTrue(message.contains("port \(port): the port is in use"), message)
        XCTAssertLessThan(seconds, 3, "no wait for a timeout (it used to take 10 s)")
        guard let exe = DashboardFixture.executable else { throw XCTSkip("rdd-sweep executable not built next to the tests") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["serve", "--root", root, "--port", "\(port)"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        DispatchQueue.global().asyncAfter(deadline: .now() + 20) { if p.isRunning { p.terminate() } }   // never hang the suite
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, SweepExitCode.failed.rawValue, stderr)
        XCTAssertTrue(stderr.contains("port \(port): the port is in use"), stderr)
    }

    func testPathTraversalIsNotFound() throws {
        let teacher = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: root + "/stages").first)
        // A file outside the stages directory (inside the root), and one outside the root.
        for path in ["/files/..%2f..%2f..%2fetc%2fpasswd", "/files/stages/..%2f..%2f..%2f..%2fetc%2fpasswd", "/files/stages/%2e%2e/runs.sqlite",
                     "/files/stages/../runs.sqlite", "/files/stages/\(teacher)/../../runs.sqlite", "/files/stages/\(teacher)/..%2f..%2fruns.sqlite",
                     "/files/runs.sqlite", "/files/stages/\(teacher)", "/files/stages/\(teacher)/%00worker.log", "/files//etc/passwd",
                     "/files/stages/\(teacher)/no-such-file"] {
            let r = try get(path)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertFalse(r.text.contains("root:x:0:0") || r.text.contains("SQLite format"), path)
        }
        // A symbolic link inside the stages directory that points out of the root.
        let link = DashboardFixture.tempDir("link")
        defer { try? FileManager.default.removeItem(atPath: link) }
        try FileManager.default.createDirectory(atPath: link + "/stages", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: link + "/stages/evil", withDestinationPath: "/etc")
        XCTAssertThrowsError(try Artifacts(root: link).serve(["stages", "evil", "passwd"])) { XCTAssertEqual(($0 as? DashboardError)?.status, 404) }
    }

    func testReadOnly() throws {
        let db = RunDatabase.path(root: root)
        // The database and its WAL; not the -shm index, where every reader (read-only ones too) records its read mark.
        func fingerprint() -> [String] {
            ["", "-wal"].map { s in
                let a = try? FileManager.default.attributesOfItem(atPath: db + s)
                let bytes = FileManager.default.contents(atPath: db + s) ?? Data()
                return "\(s): \(bytes.count) bytes, hash \(bytes.hashValue), mtime \((a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
            }
        }
        let before = fingerprint()
        for p in ["/", "/sweeps/dash/live", "/sweeps/dash/trials", "/sweeps/dash/trials/0", "/sweeps/dash/curves", "/reports/", "/api/sweeps", "/api/sweeps/dash/trials"] {
            XCTAssertEqual(try get(p).status, 200, p)
        }
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            let r = try get("/api/sweeps", m)
            XCTAssertEqual(r.status, 405, m)
        }
        XCTAssertEqual(fingerprint(), before, "runs.sqlite and its WAL unchanged by every request")
    }
}
