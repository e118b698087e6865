import XCTest
import Foundation
@testable import Report

/// Issue 9's "Show": every committed report is what the committed code makes from the committed export
/// (`rdd-report all --export <root>/export.json --preset P`), byte for byte. Fig. 5 is the exception when
/// its sample artifacts are not on disk (they are run outputs, not committed): it is then compared only
/// when `<root>/stages` holds them, i.e. on the machine that ran the sweeps.
final class CommittedResultsTests: XCTestCase {
    func testSmallReportsReproduceFromTheCommittedExport() throws {
        try assertReproduces(root: "results", preset: "small")
    }

    func testTinyReportsReproduceFromTheCommittedExport() throws {
        try assertReproduces(root: "results/tiny", preset: "tiny")
    }

    /// docs/reports.md's "your own sweep" walkthrough shows `rdd-report sweep example-tau-is` of a real run of
    /// experiments/examples/tau-is.json; its committed output is what the code makes of the committed export.
    func testWalkthroughSweepReportReproduces() throws {
        let dir = repositoryRoot() + "/results/examples"
        let data = ReportData(try RunExport.load(path: dir + "/export.json"))
        let (markdown, files) = try sweepReport(data, options: SweepReportOptions(name: "example-tau-is"), links: LinkStyle(stem: "example-tau-is"))
        XCTAssertTrue(FileManager.default.contents(atPath: dir + "/example-tau-is.md") == Data(markdown.utf8),
                      "results/examples/example-tau-is.md differs from `rdd-report sweep example-tau-is --export results/examples/export.json --out results/examples/example-tau-is.md`: regenerate and commit")
        XCTAssertEqual(files.map(\.name), ["example-tau-is.svg"])
        for f in files {
            XCTAssertTrue(FileManager.default.contents(atPath: dir + "/" + f.name) == f.data, "results/examples/\(f.name) differs: regenerate and commit")
        }
    }

    /// The issue 20 demonstration (experiments/tiny/verdicts.json): its reports, and its learning curves
    /// (`rdd-report curves`, not part of `all`) under results/tiny-verdicts/curves.
    func testTinyVerdictsReportsAndCurvesReproduceFromTheCommittedExport() throws {
        try assertReproduces(root: "results/tiny-verdicts", preset: "tiny")
        try assertCurvesReproduce(root: "results/tiny-verdicts")
    }

    /// Issue 20's tiny Table 3 (experiments/tiny/table3-verdicts.json: all six losses, replicate = chain, every
    /// step logged): its reports and its learning curves under results/tiny-table3-verdicts.
    func testTinyTable3VerdictsReportsAndCurvesReproduceFromTheCommittedExport() throws {
        try assertReproduces(root: "results/tiny-table3-verdicts", preset: "tiny")
        try assertCurvesReproduce(root: "results/tiny-table3-verdicts")
    }

    /// Issue 24's v2 pilot (experiments/v2/pilot.json, validation reference): its learning curves and the plateau
    /// rule's table (`rdd-report plateau --sweep v2-pilot`), from which the main runs' steps per stage were chosen.
    func testV2PilotCurvesAndPlateauReproduceFromTheCommittedExport() throws {
        try assertCurvesReproduce(root: "results/v2/pilot")
        let dir = repositoryRoot() + "/results/v2/pilot"
        let markdown = try plateauReport(ReportData(try RunExport.load(path: dir + "/export.json")), options: PlateauOptions(sweep: "v2-pilot", threshold: 0.05))
        XCTAssertTrue(FileManager.default.contents(atPath: dir + "/plateau.md") == Data(markdown.utf8),
                      "results/v2/pilot/plateau.md differs from `rdd-report plateau --sweep v2-pilot --export results/v2/pilot/export.json`: regenerate and commit")
        // Its validation-set metrics per method (`rdd-report sweep v2-pilot`): descriptive, n = 1, chose nothing.
        let (sweep, files) = try sweepReport(ReportData(try RunExport.load(path: dir + "/export.json")), options: SweepReportOptions(name: "v2-pilot"), links: LinkStyle(stem: "sweep"))
        XCTAssertTrue(FileManager.default.contents(atPath: dir + "/sweep.md") == Data(sweep.utf8),
                      "results/v2/pilot/sweep.md differs from `rdd-report sweep v2-pilot --export results/v2/pilot/export.json --out results/v2/pilot/sweep.md`: regenerate and commit")
        XCTAssertEqual(files.map(\.name), [], "a method axis has no plot")
        // The pilot chose nothing by a test-split number: every snapshot and evaluation is against the validation set.
        XCTAssertTrue(try String(contentsOfFile: dir + "/curves/index.md", encoding: .utf8).contains("vs fashion-mnist validation set (from the training split)"))
    }

    /// Issue 24's "Show": every v2 export's stages ran after their spec was committed, and no v2 spec was edited
    /// after its first commit (the repository's history: `git log` of experiments/v2/<name>.json). Stages are
    /// content-addressed, so a sweep reuses the stages an earlier v2 spec computed (v2-tables reuses the pilot's seed-0
    /// chain and distillations): a stage passes when it started after the commit of a v2 spec whose committed export
    /// holds it — its own, or the earlier one that ran it.
    func testV2ExportsRanAfterTheirSpecsWereCommitted() throws {
        let repo = repositoryRoot()
        func git(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git", "-C", repo] + args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw XCTSkip("`git \(args.joined(separator: " "))` failed (no git history here), so the commit times cannot be read") }
            return String(decoding: data, as: UTF8.self)
        }
        if try git(["rev-parse", "--is-shallow-repository"]).hasPrefix("true") { throw XCTSkip("a shallow clone: the specs' first commits are not in its history") }
        let dirs = try FileManager.default.contentsOfDirectory(atPath: repo + "/results/v2").sorted()
            .filter { FileManager.default.fileExists(atPath: repo + "/results/v2/\($0)/export.json") }
        XCTAssertTrue(dirs.contains("pilot"))
        let iso = ISO8601DateFormatter()
        var committed: [String: Date] = [:]
        var stages: [String: [(identity: String, name: String, started: String?)]] = [:]
        for d in dirs {
            let spec = "experiments/v2/\(d).json"
            let commits = try git(["log", "--format=%cI", "--", spec]).split(separator: "\n")
            XCTAssertEqual(commits.count, 1, "\(spec) is committed once and never edited")
            committed[d] = try XCTUnwrap(commits.last.flatMap { iso.date(from: String($0)) }, "\(spec): no commit time")
            let export = try RunExport.load(path: repo + "/results/v2/\(d)/export.json")
            stages[d] = export.trials.filter { $0.sweep.hasPrefix("v2-\(d)@") }
                .flatMap { $0.stages.filter { $0.status == .completed }.map { ($0.identity, $0.name, $0.startedAt) } }
            XCTAssertFalse(stages[d]!.isEmpty, "\(d): no stage of sweep v2-\(d) in its export")
        }
        // The earliest commit of a v2 spec whose export holds each stage.
        var earliest: [String: Date] = [:]
        for (d, list) in stages { for s in list { earliest[s.identity] = min(earliest[s.identity] ?? .distantFuture, committed[d]!) } }
        for d in dirs {
            for s in stages[d]! {
                let started = try XCTUnwrap(s.started.flatMap { iso.date(from: $0) }, "\(d): \(s.name) has no start time")
                XCTAssertGreaterThan(started, earliest[s.identity]!, "\(d): \(s.name) [\(s.identity.prefix(10))] started \(s.started!) before any v2 spec that plans it was committed")
            }
        }
    }

    /// Every published v2 spec (`scripts/experiments/publish_v2.sh NAME` → results/v2/NAME/, and the pilot): its reports
    /// (`rdd-report all`, where published) and its learning curves regenerate from its committed export byte for byte.
    /// (testV2ExportsRanAfterTheirSpecsWereCommitted checks the same exports' stage times.)
    func testV2PublicationsReproduceFromTheirExports() throws {
        let base = repositoryRoot() + "/results/v2"
        let fm = FileManager.default
        var checked: [String] = []
        for d in try fm.contentsOfDirectory(atPath: base).sorted() where fm.fileExists(atPath: base + "/\(d)/export.json") {
            if fm.fileExists(atPath: base + "/\(d)/reports") { try assertReproduces(root: "results/v2/\(d)", preset: "small"); checked.append(d + "/reports") }
            if fm.fileExists(atPath: base + "/\(d)/curves") { try assertCurvesReproduce(root: "results/v2/\(d)"); checked.append(d + "/curves") }
        }
        XCTAssertTrue(checked.contains("pilot/curves"), "\(checked)")
    }

    private func assertCurvesReproduce(root: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = repositoryRoot() + "/" + root
        var r = ReportRequest(kind: .curves)
        r.export = dir + "/export.json"
        let o = try produceReport(r, links: LinkStyle(stem: "curves"))
        let produced = Dictionary(uniqueKeysWithValues: (o.files.map { ($0.name, $0.data) }) + [("index.md", Data(o.markdown.utf8))])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/curves").sorted(), produced.keys.sorted(), file: file, line: line)
        for (name, data) in produced {
            XCTAssertTrue(FileManager.default.contents(atPath: dir + "/curves/" + name) == data, "\(root)/curves/\(name) differs: rerun rdd-report curves", file: file, line: line)
        }
    }

    private func assertReproduces(root: String, preset: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let repo = repositoryRoot()
        let dir = repo + "/" + root
        var r = ReportRequest(kind: .all)
        r.export = dir + "/export.json"
        r.preset = preset
        r.resultsRoot = dir
        r.benchmarks = repo + "/results/benchmarks"
        let o = try produceReport(r, links: LinkStyle(stem: "index"))
        let produced = Dictionary(uniqueKeysWithValues: (o.files.map { ($0.name, $0.data) }) + [("index.md", Data(o.markdown.utf8))])
        let committed = try FileManager.default.contentsOfDirectory(atPath: dir + "/reports").sorted()
        XCTAssertFalse(committed.isEmpty, "\(root)/reports is empty", file: file, line: line)
        // Fig. 5 needs the samples of its three evaluations; without them the report says they are missing.
        let fig5Readable = (o.files.first { $0.name == "fig5.png" }) != nil
        // Without them, its table — trials, evaluations, FID values, paths: everything but the "Stored" column —
        // is still checked against the committed file.
        if !fig5Readable, committed.contains("fig5.md"), let made = produced["fig5.md"] {
            func rows(_ d: Data?) -> [String] {
                String(decoding: d ?? Data(), as: UTF8.self).split(separator: "\n").filter { $0.hasPrefix("| ") }
                    .map { $0.split(separator: "|", omittingEmptySubsequences: false).dropLast(2).joined(separator: "|") }
            }
            XCTAssertEqual(rows(FileManager.default.contents(atPath: dir + "/reports/fig5.md")), rows(made),
                           "\(root)/reports/fig5.md: its table differs from what the code makes of \(root)/export.json", file: file, line: line)
        }
        for name in committed {
            if name.hasPrefix("fig5.") && !fig5Readable { continue }
            guard let data = produced[name] else {
                XCTFail("\(root)/reports/\(name) is committed but `rdd-report all` no longer writes it", file: file, line: line)
                continue
            }
            let onDisk = FileManager.default.contents(atPath: dir + "/reports/" + name)
            XCTAssertTrue(onDisk == data,
                          "\(root)/reports/\(name) differs from what the code makes of \(root)/export.json: run scripts/experiments/publish.sh (or rdd-report all) and commit",
                          file: file, line: line)
        }
        // …and nothing the code writes is missing from the commit.
        for name in produced.keys.sorted() where !committed.contains(name) {
            XCTFail("`rdd-report all` writes \(name) but \(root)/reports has none: publish and commit", file: file, line: line)
        }
    }
}
