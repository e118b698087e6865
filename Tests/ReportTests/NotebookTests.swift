import XCTest
import Foundation
@testable import Report

final class NotebookTests: XCTestCase {
    func testShellWordsAndCommands() throws {
        XCTAssertEqual(try shellWords("rdd-report fig7 --out 'a b.md' # comment"), ["rdd-report", "fig7", "--out", "a b.md"])
        XCTAssertEqual(try shellWords(#"x "y \"z\"" w\ v"#), ["x", "y \"z\"", "w v"])
        XCTAssertThrowsError(try shellWords("x 'y"))
        let cmds = try reportCommands(inBlock: ["swift build --product rdd-report", "rdd-report table1 \\", "  --export e.json", ".build/release/rdd-report fig5", "echo hi",
                                                      "swift run --scratch-path .b rdd-report fig6 --out f.md"])
        XCTAssertEqual(cmds, [["table1", "--export", "e.json"], ["fig5"], ["fig6", "--out", "f.md"]])
    }

    func testRequestParsing() throws {
        let r = try ReportRequest(arguments: ["terms", "--trial", "a/t1", "--trial=b/t2", "--export", "x.json", "--out", "o/terms.md", "--preset", "tiny"])
        XCTAssertEqual(r.kind, .terms)
        XCTAssertEqual(r.trials, ["a/t1", "b/t2"])
        XCTAssertEqual(r.export, "x.json")
        XCTAssertEqual(r.out, "o/terms.md")
        XCTAssertEqual(r.preset, "tiny")
        XCTAssertEqual(try ReportRequest(arguments: ["fig5", "--seed", "1", "--steps", "2", "--count", "4", "--results-root", "R"]).seed, 1)
        XCTAssertThrowsError(try ReportRequest(arguments: ["table9"]))
        XCTAssertThrowsError(try ReportRequest(arguments: ["table1", "--bogus", "1"]))
        XCTAssertThrowsError(try ReportRequest(arguments: ["fig5", "--seed", "x"]))
        XCTAssertEqual(stem(ofOut: "results/reports/fig7.md", kind: .fig7), "fig7")
        XCTAssertEqual(relativePath(from: "notebooks-md", to: "notebooks-md/generated"), "generated")
        XCTAssertEqual(relativePath(from: "notebooks-md", to: "results/reports"), "../results/reports")
    }

    /// The notebooks parse their lines with the command line's own definition (`ReportCommandLine`): every
    /// subcommand and option the shell accepts, and the same refusals.
    func testNotebookLinesUseTheCommandLineDefinition() throws {
        // `all` takes --sweep like the single reports (the notebooks' former hand-written parser drifted here).
        let all = try ReportRequest(arguments: ["all", "--sweep", "table1-inception", "--out-dir", "d", "--export", "e.json"])
        XCTAssertEqual(all.kind, .all)
        XCTAssertEqual(all.sweep, "table1-inception")
        XCTAssertEqual(all.outDir, "d")
        guard case .sweep(let o, let r) = try ReportCommandLine.invocation(
            ["sweep", "tau-is@1", "--metric", "fid_classifier", "--steps", "1", "--export", "e.json", "--out", "x/s.md"]) else {
            return XCTFail("sweep parsed to another invocation")
        }
        XCTAssertEqual(o.name, "tau-is@1")
        XCTAssertEqual(o.metrics, ["fid_classifier"])
        XCTAssertEqual(o.steps, 1)
        XCTAssertEqual(r.export, "e.json")
        XCTAssertEqual(r.out, "x/s.md")
        XCTAssertEqual(try ReportCommandLine.invocation(["compare", "a/0", "a/1", "--export", "e.json"]),
                       .compare("a/0", "a/1", source: { var q = ReportRequest(kind: .table1); q.export = "e.json"; return q }()))
        // An option of another subcommand is refused, naming it, as in the shell.
        XCTAssertThrowsError(try ReportRequest(arguments: ["table1", "--seed", "1"])) { XCTAssertTrue("\($0)".contains("--seed"), "\($0)") }
        XCTAssertThrowsError(try ReportCommandLine.invocation([])) { XCTAssertTrue("\($0)".contains("missing subcommand"), "\($0)") }
        // A notebook cannot run `rdd-report notebook`.
        let dir = NSTemporaryDirectory() + "rdd-report-notebook-self-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("```sh\nrdd-report notebook x.md\n```\n".utf8).write(to: URL(fileURLWithPath: dir + "/nb.md"))
        XCTAssertThrowsError(try runNotebook(path: dir + "/nb.md")) { XCTAssertTrue("\($0)".contains("cannot run"), "\($0)") }
    }

    /// Outputs are inserted after each block with rdd-report lines, replaced on refresh, and a second
    /// refresh changes nothing; blocks without rdd-report lines and the prose stay as they are.
    func testRefreshInsertsReplacesAndIsIdempotent() throws {
        let nb = "# T\n\nprose\n\n```sh\nrdd-report table1 --out x.md\nrdd-report fig7\n```\n\nmore\n\n```sh\nls\n```\n"
        var calls = 0
        let run: ([String]) throws -> String = { w in calls += 1; return "## out of \(w[0])\n\nbody\n" }
        let once = try refreshNotebook(nb, execute: run)
        XCTAssertEqual(once, "# T\n\nprose\n\n```sh\nrdd-report table1 --out x.md\nrdd-report fig7\n```\n\n<!-- output:begin -->\n## out of table1\n\nbody\n\n## out of fig7\n\nbody\n<!-- output:end -->\n\nmore\n\n```sh\nls\n```\n")
        XCTAssertEqual(calls, 2)
        XCTAssertEqual(try refreshNotebook(once, execute: run), once)
        let stale = once.replacingOccurrences(of: "body", with: "old")
        XCTAssertEqual(try refreshNotebook(stale, execute: run), once)
        XCTAssertThrowsError(try refreshNotebook("```sh\nrdd-report table1\n```\n<!-- output:begin -->\nx\n", execute: run))
    }

    /// A notebook on the fixture export, refreshed twice in a temporary directory: the second run
    /// changes neither the notebook nor the files it writes.
    func testRunNotebookOnTheFixtureIsIdempotent() throws {
        let dir = NSTemporaryDirectory() + "rdd-report-notebook-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fx = try fixturesDirectory()
        let nb = dir + "/fig7.md"
        let text = "# Fig. 7\n\n```sh\nrdd-report fig7 --export \(fx)/export.json --out \(dir)/generated/fig7.md\n```\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: nb))
        XCTAssertTrue(try runNotebook(path: nb))
        let first = try String(contentsOfFile: nb, encoding: .utf8)
        XCTAssertTrue(first.contains("![Fig. 7: temperatures τ of IS_P2P and M_P2P](generated/fig7.svg)"), "links relative to the notebook")
        let svg = try XCTUnwrap(FileManager.default.contents(atPath: dir + "/generated/fig7.svg"))
        let md = try String(contentsOfFile: dir + "/generated/fig7.md", encoding: .utf8)
        XCTAssertTrue(md.contains("](fig7.svg)"), "the written report links its sibling")
        XCTAssertFalse(try runNotebook(path: nb))
        XCTAssertEqual(try String(contentsOfFile: nb, encoding: .utf8), first)
        XCTAssertEqual(FileManager.default.contents(atPath: dir + "/generated/fig7.svg"), svg)
    }

    /// The committed notebooks are up to date: refreshing them in memory reproduces them exactly.
    func testCommittedNotebooksAreCurrent() throws {
        let root = repositoryRoot()
        let dir = root + "/notebooks-md"
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".md") }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 11)
        for n in names {
            let text = try String(contentsOfFile: dir + "/" + n, encoding: .utf8)
            let refreshed = try refreshNotebook(text) { words in
                var r = try ReportRequest(arguments: words)
                // Links as `rdd-report notebook` makes them (paths relative to the repository root) …
                let prefix = r.kind == .all ? relativePath(from: "notebooks-md", to: r.outDir)
                    : relativePath(from: "notebooks-md", to: r.out.map { ($0 as NSString).deletingLastPathComponent } ?? "notebooks-md")
                // … and inputs read from the repository root whatever the test's directory.
                if !r.export.hasPrefix("/") { r.export = root + "/" + r.export }
                if !r.resultsRoot.hasPrefix("/") { r.resultsRoot = root + "/" + r.resultsRoot }
                if !r.benchmarks.hasPrefix("/") { r.benchmarks = root + "/" + r.benchmarks }
                return try produceReport(r, links: LinkStyle(stem: r.kind == .all ? "index" : stem(ofOut: r.out, kind: r.kind),
                                                              prefix: prefix.isEmpty ? "" : prefix + "/")).markdown
            }
            XCTAssertEqual(refreshed, text, "\(n) is stale: run `rdd-report notebook notebooks-md/\(n)`")
        }
    }
}

final class PaperReferenceTests: XCTestCase {
    /// PaperReference.swift carries the same numbers as results/paper-reference/paper-tables.json.
    func testSwiftValuesMatchTheJSON() throws {
        let path = repositoryRoot() + "/results/paper-reference/paper-tables.json"
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: XCTUnwrap(FileManager.default.contents(atPath: path))) as? [String: Any])
        func rows(_ key: String) throws -> [PaperReference.Row] {
            let t = try XCTUnwrap(obj[key] as? [String: Any])
            return try XCTUnwrap(t["rows"] as? [[Any]]).map { r in
                PaperReference.Row(steps: (r[0] as! NSNumber).intValue, method: r[1] as! String,
                                   inceptionScore: (r[2] as? NSNumber)?.doubleValue, fid: (r[3] as! NSNumber).doubleValue)
            }
        }
        XCTAssertEqual(try rows("table1_cifar10_unconditional"), PaperReference.table1)
        XCTAssertEqual(try rows("table2_imagenet64_conditional"), PaperReference.table2)
        let t3 = try XCTUnwrap((obj["table3_ablation_cifar10_1step_fid"] as? [String: Any])?["rows"] as? [[Any]])
        XCTAssertEqual(t3.count, PaperReference.table3.count)
        for (a, b) in zip(t3, PaperReference.table3) {
            XCTAssertEqual(a[0] as? [String], b.terms)
            XCTAssertEqual((a[1] as! NSNumber).doubleValue, b.fid)
        }
        XCTAssertEqual(PaperReference.row(PaperReference.table1, method: "RCFD", steps: 4)?.fid, PaperReference.rcfd4StepFID)
    }
}
