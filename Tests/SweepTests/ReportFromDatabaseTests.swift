import XCTest
import Foundation
@testable import Sweep
import Report
import Pipeline

/// `rdd-report --db PATH` (issue 8): the RunExport built in memory from a run database of real tiny runs equals
/// the exported file byte for byte, and every report made from the database equals the one made from the file,
/// in-process and through the `rdd-report` executable.
final class ReportFromDatabaseTests: XCTestCase {
    static func executable(_ name: String) -> String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<3 {
            let p = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
            dir = dir.deletingLastPathComponent()
        }
        for b in Bundle.allBundles {
            let p = URL(fileURLWithPath: b.bundlePath).deletingLastPathComponent().appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func run(_ exe: String, _ args: [String]) throws -> (code: Int32, out: String) { try Self.run(exe, args) }

    /// Runs an executable to its end: exit status and stdout + stderr.
    static func run(_ exe: String, _ args: [String]) throws -> (code: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let pipe = Pipe(), err = Pipe()
        p.standardOutput = pipe
        p.standardError = err
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self) + String(decoding: e, as: UTF8.self))
    }

    /// Three methods × two seeds, distilled 8 → 4 → 2 → 1 in a few steps each, evaluated at 1, 2, 4 steps and DDIM 8.
    static let spec = """
        {"name": "db-report", "preset": "tiny",
         "base": {"teacher": {"steps": 6, "batchSize": 8, "warmup": 1},
                  "pd": {"stepsPerHalving": 2, "batchSize": 8},
                  "classifier": {"epochs": 1, "batchSize": 256},
                  "distill": {"steps": [3], "batchSize": 8, "diagnosticsEvery": 2,
                              "queue": {"size": 64, "contrastSize": 32, "updateCount": 8}},
                  "evaluation": {"samples": 32, "batchSize": 32, "studentSteps": [1, 2, 4], "baselines": ["ddim:8"]}},
         "grid": {"distill.method": ["pd", "rcfd", "rdd"]},
         "seeds": [0, 1],
         "execution": {"checkpointEvery": 50, "logEvery": 1}}
        """

    func testReportsFromDatabaseEqualReportsFromExport() throws {
        guard let worker = Self.executable("rdd-sweep"), let report = Self.executable("rdd-report") else {
            XCTFail("rdd-sweep / rdd-report executables not found next to the test bundle; build them with the same scratch path")
            return
        }
        let root = NSTemporaryDirectory() + "rdd-db-report-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        var o = RunOptions(root: root, workerExecutable: worker)
        o.display = .quiet
        o.jobs = 2
        o.cores = 2
        let summary = try Scheduler(plan: try SweepPlan.make(try SweepSpec.parse(Self.spec, file: "db-report.json")), options: o).run()
        XCTAssertEqual(summary.trialsCompleted, 6)

        // The builder gives the export file's bytes.
        let db = root + "/runs.sqlite", exportPath = root + "/export.json"
        let exported = try Reports(root: root).export(sweep: nil, format: .report)
        try Data(exported.utf8).write(to: URL(fileURLWithPath: exportPath))
        let built = try Reports.runExport(databasePath: db)
        XCTAssertEqual(String(decoding: try built.encoded(), as: UTF8.self) + "\n", exported)
        XCTAssertEqual(built.trials.count, 6)
        // Every stage names the code version that ran it, and the tables say it.
        XCTAssertEqual(Set(built.trials.flatMap { $0.stages.map(\.codeVersion) }), [CodeVersion.string])
        XCTAssertEqual(Set(built.trials.flatMap { $0.stages.map(\.threads) }), [1], "2 jobs on 2 cores: RDD_THREADS = 1")
        // Every stage says when it ran (issue 20 §7), start before finish; every trial what a seed replicates (§2).
        for s in built.trials.flatMap(\.stages) {
            let started = try XCTUnwrap(s.startedAt, s.name), finished = try XCTUnwrap(s.finishedAt, s.name)
            XCTAssertTrue(started.hasSuffix("Z") && started.count == 20, started)
            XCTAssertLessThanOrEqual(started, finished, s.name)
        }
        XCTAssertEqual(Set(built.trials.map(\.replicate)), [.shared])
        // The root each sweep ran under, so reports name `--root` in the command that resumes it: here the temporary
        // root is not below the working directory, so it is recorded whole; below it, relative (`exportRecords`).
        XCTAssertEqual(built.sweeps.map(\.root), [URL(fileURLWithPath: root).standardizedFileURL.path])
        XCTAssertEqual(Reports.displayedRoot("/work/rdd/runs/v2", workingDirectory: "/work/rdd/"), "runs/v2")
        XCTAssertEqual(Reports.displayedRoot("/work/rdd-other/runs", workingDirectory: "/work/rdd"), "/work/rdd-other/runs")
        XCTAssertEqual(built.sweeps[0].resumeCommand, "rdd-sweep run db-report.json --root \(built.sweeps[0].root!)")

        // Every report, in-process: from the database through the loader = from the file.
        let loader = ExportLoader(database: { try Reports.runExport(databasePath: $0) })
        for kind in ReportKind.allCases {
            var a = ReportRequest(kind: kind)
            a.export = exportPath
            a.resultsRoot = root
            var b = a
            b.database = db
            b.export = root + "/no-such-export.json"
            let fa = try produceReport(a, links: LinkStyle(stem: kind.rawValue))
            let fb = try produceReport(b, links: LinkStyle(stem: kind.rawValue), loader: loader)
            XCTAssertEqual(fa, fb, "\(kind.rawValue) from --db differs from --export")
            if kind == .table1 {
                XCTAssertTrue(fa.markdown.contains("[n=2]"), "real cells over two seeds:\n\(fa.markdown)")
                XCTAssertTrue(fa.markdown.contains("- Computed on (all ") && fa.markdown.contains(": \(CodeVersion.string) at commit "), "provenance under the table: \(fa.markdown)")
                XCTAssertTrue(fa.markdown.contains("; 1 thread (identical numbers need"), "2 jobs on 2 cores: \(fa.markdown)")
            }
            if kind == .fig5 { XCTAssertFalse(fa.files.isEmpty, "the Fig. 5 PNG is made from the runs' samples") }
        }

        // The executable: --db and --export print the same bytes; `all` writes the same files.
        let t1 = try run(report, ["table1", "--db", db]), t2 = try run(report, ["table1", "--export", exportPath])
        XCTAssertEqual(t1.code, 0, t1.out)
        XCTAssertEqual(t1.out, t2.out)
        let dirA = root + "/reports-db", dirB = root + "/reports-export"
        XCTAssertEqual(try run(report, ["all", "--db", db, "--out-dir", dirA, "--results-root", root]).code, 0)
        XCTAssertEqual(try run(report, ["all", "--export", exportPath, "--out-dir", dirB, "--results-root", root]).code, 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dirA).sorted()
        XCTAssertEqual(names, try FileManager.default.contentsOfDirectory(atPath: dirB).sorted())
        XCTAssertGreaterThan(names.count, 10)
        for n in names {
            XCTAssertEqual(FileManager.default.contents(atPath: dirA + "/" + n), FileManager.default.contents(atPath: dirB + "/" + n), n)
        }
        // A missing database is named.
        let missing = try run(report, ["table3", "--db", root + "/nothing.sqlite"])
        XCTAssertNotEqual(missing.code, 0)
        XCTAssertTrue(missing.out.contains("no run database at '\(root)/nothing.sqlite'"), missing.out)

        // A moved root (or a copy on another machine) exports the same relative artifact directories,
        // though its database recorded the old absolute ones: Fig. 5 still finds the samples. Only the recorded
        // root (where the sweep resumes) is the new one.
        let moved = root + "-moved"
        try FileManager.default.moveItem(atPath: root, toPath: moved)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: moved) }
        func std(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path.replacingOccurrences(of: "/", with: "\\/") }   // as JSON writes it
        XCTAssertEqual(try Reports(root: moved).export(sweep: nil, format: .report),
                       exported.replacingOccurrences(of: "\"root\" : \"\(std(root))\"", with: "\"root\" : \"\(std(moved))\""))
    }

    func testDatabaseOptionParsingAndFileOnlyLoader() throws {
        let r = try ReportRequest(arguments: ["table3", "--db", "results/runs.sqlite"])
        XCTAssertEqual(r.database, "results/runs.sqlite")
        XCTAssertEqual(try ReportRequest(arguments: ["fig7", "--db=x.sqlite"]).database, "x.sqlite")
        XCTAssertThrowsError(try ExportLoader.fileOnly.load(r)) { e in
            XCTAssertTrue("\(e)".contains("cannot read run databases"), "\(e)")
        }
    }
}
