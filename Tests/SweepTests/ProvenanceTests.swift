import XCTest
import Foundation
import GRDB
@testable import Sweep
import BuildInfo
import Pipeline
import Report
import Tensor

/// Issue 27: every completed stage records which build and machine computed it (done.json → database →
/// export → report footers), and `rdd-sweep verify` compares a rerun with a committed export cell by cell.
final class ProvenanceTests: XCTestCase {
    /// `git ARGS` in the package directory: its output, or nil when git fails (not a checkout, no git).
    static func git(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", SchedulerTests.repo] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    /// What a worker records must be this build's commit (as git says now, in the package directory —
    /// the test binary was built from it moments ago), this CPU and the kernels dispatch chose.
    func assertDescribesThisBuild(_ p: Provenance, threads: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let top = Self.git(["rev-parse", "--show-toplevel"]),
              URL(fileURLWithPath: top).resolvingSymlinksInPath().path == URL(fileURLWithPath: SchedulerTests.repo).resolvingSymlinksInPath().path,
              let head = Self.git(["rev-parse", "HEAD"]) else {
            throw XCTSkip("the package directory is not a git checkout: the commit is recorded as unknown")
        }
        XCTAssertEqual(BuildCommit.hash, head, "the commit embedded in the test binary at build time", file: file, line: line)
        XCTAssertEqual(p.commit, head, "the commit embedded in the worker at build time", file: file, line: line)
        let changes = Self.git(["status", "--porcelain", "--untracked-files=normal", "--", "Package.swift", "Sources", "Plugins"]) ?? ""
        XCTAssertEqual(p.commitModified, !changes.isEmpty, "uncommitted changes to the build's inputs:\n\(changes)", file: file, line: line)
        XCTAssertEqual(p.codeVersion, CodeVersion.string, file: file, line: line)
        XCTAssertEqual(p.ownGemmISA, GemmDispatch.isa.provenanceName, "the kernel path sgemm dispatches to (the ISA this CPU selects: avx2+fma, or avx512f on AVX-512 machines)", file: file, line: line)
        XCTAssertEqual(p.blasCore, KernelInfo.blasCore, file: file, line: line)
        XCTAssertFalse(p.blasCore.isEmpty, file: file, line: line)
        XCTAssertTrue(p.blasConfig.hasPrefix("OpenBLAS "), p.blasConfig, file: file, line: line)
        XCTAssertEqual(p.threads, threads, file: file, line: line)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":", maxSplits: 1).last?
            .trimmingCharacters(in: .whitespaces)
        XCTAssertEqual(p.cpu, model ?? "unknown", file: file, line: line)
        // cpuid (the kernel's ISA check) and /proc/cpuinfo (the recorded features) agree.
        if KernelISA.avx2.isSupported { XCTAssertTrue(Set(["avx2", "fma"]).isSubset(of: p.cpuFeatures), "\(p.cpuFeatures)", file: file, line: line) }
    }

    func testCPUInfoParsing() throws {
        let path = NSTemporaryDirectory() + "cpuinfo-\(getpid())"
        try Data("processor\t: 0\nmodel name\t: Example CPU @ 2.0GHz\nflags\t\t: fpu sse4_2 avx avx2 fma\n\nprocessor\t: 1\nmodel name\t: Other\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = Provenance.current(cpuinfo: path)
        XCTAssertEqual(p.cpu, "Example CPU @ 2.0GHz")
        XCTAssertEqual(p.cpuFeatures, ["sse4_2", "avx", "avx2", "fma"], "recorded in a fixed order, avx512f absent")
        XCTAssertEqual(Provenance.current(cpuinfo: path + "-missing").cpu, "unknown")
        XCTAssertEqual(KernelInfo.blasISA(core: "SkylakeX"), "avx512")
        XCTAssertEqual(KernelInfo.blasISA(core: "Haswell"), "avx2+fma")
        XCTAssertNil(KernelInfo.blasISA(core: "NoSuchCore"))
    }

    /// A tiny sweep through the CLI: every stage's done.json, database row and export carry this build's
    /// provenance; a rerun under a fresh root verifies "identical" against the first run's export; one
    /// altered metric in a copy of the export is reported with its difference and exit status 1.
    func testTinySweepRecordsProvenanceAndVerifies() throws {
        let exe = try XCTUnwrap(SchedulerTests.executable, "rdd-sweep next to the test bundle")
        let dir = NSTemporaryDirectory() + "rdd-provenance-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let spec = dir + "/spec.json"
        try Data(SchedulerTests.fastSpec(name: "provenance", methods: ["pd"], seeds: [0]).utf8).write(to: URL(fileURLWithPath: spec))
        let first = dir + "/first", second = dir + "/second", export = dir + "/export.json"
        let common = ["--jobs", "1", "--threads", "2", "--display", "quiet"]

        let run = try ReportFromDatabaseTests.run(exe, ["run", spec, "--root", first] + common)
        XCTAssertEqual(run.code, 0, run.out)
        let db = try RunDatabase(readerAt: RunDatabase.path(root: first))
        let rows = try db.read { try Row.fetchAll($0, sql: "SELECT identity, provenance_json FROM stages") }
        XCTAssertGreaterThan(rows.count, 4)
        for r in rows {
            let identity: String = r["identity"]
            let done = try XCTUnwrap(WorkerDone.read(directory: first + "/stages/" + identity)?.provenance, "done.json of \(identity)")
            try assertDescribesThisBuild(done, threads: 2)
            let stored = try JSONDecoder().decode(Provenance.self, from: Data(try XCTUnwrap(r["provenance_json"] as String?).utf8))
            XCTAssertEqual(stored, done, "database row = done.json")
        }
        let ex = try ReportFromDatabaseTests.run(exe, ["export", "--root", first, "--format", "report", "--output", export])
        XCTAssertEqual(ex.code, 0, ex.out)
        let exported = try RunExport.load(path: export)
        let stages = exported.trials.flatMap(\.stages)
        XCTAssertEqual(stages.count, rows.count)
        for s in stages { try assertDescribesThisBuild(try XCTUnwrap(s.provenance, s.name), threads: 2) }
        XCTAssertTrue(computedOnLine(exported.trials.enumerated().map { TrialView($0.element, index: $0.offset) })
            .hasPrefix("- Computed on (all \(rows.count) stages): \(CodeVersion.string) at commit "))

        // A rerun from scratch on this machine: every cell identical.
        let same = try ReportFromDatabaseTests.run(exe, ["verify", spec, "--against", export, "--root", second] + common)
        XCTAssertEqual(same.code, 0, same.out)
        let evals = exported.trials.flatMap(\.evaluations).count
        XCTAssertTrue(same.out.contains("\(evals) cells: \(evals) identical, 0 differ, 0 missing in the rerun, 0 not in the committed export"), same.out)
        XCTAssertTrue(same.out.contains("  committed: Computed on (all"), same.out)
        XCTAssertTrue(same.out.contains("  rerun:     Computed on (all"), same.out)

        // One metric altered in a copy of the export: that cell differs by the alteration, the others stay identical.
        var altered = exported
        let i = try XCTUnwrap(altered.trials[0].evaluations.firstIndex { $0.metric == "fid_classifier" })
        let original = altered.trials[0].evaluations[i].value
        altered.trials[0].evaluations[i].value = original + 0.5
        let alteredPath = dir + "/altered.json"
        try altered.encoded().write(to: URL(fileURLWithPath: alteredPath))
        let diff = try ReportFromDatabaseTests.run(exe, ["verify", spec, "--against", alteredPath, "--root", second] + common)
        XCTAssertEqual(diff.code, 1, diff.out)
        let cell = "\(altered.trials[0].key) \(altered.trials[0].evaluations[i].stage) fid_classifier: differs by -0.5"
        XCTAssertTrue(diff.out.contains(cell), diff.out)
        XCTAssertTrue(diff.out.contains("committed \(original + 0.5), rerun \(original)"), diff.out)
        XCTAssertTrue(diff.out.contains("\(evals) cells: \(evals - 1) identical, 1 differ"), diff.out)
        // The same comparison from a given export instead of a root.
        let given = try ReportFromDatabaseTests.run(exe, ["verify", spec, "--against", alteredPath, "--rerun-export", export])
        XCTAssertEqual(given.code, 1, given.out)
        XCTAssertTrue(given.out.contains(cell), given.out)

        // An export without the spec's sweep is refused before anything runs.
        var other = exported
        other.sweeps = other.sweeps.map { var s = $0; s.name = "other@1"; return s }
        let otherPath = dir + "/other.json"
        try other.encoded().write(to: URL(fileURLWithPath: otherPath))
        let bad = try ReportFromDatabaseTests.run(exe, ["verify", spec, "--against", otherPath, "--root", dir + "/never"] + common)
        XCTAssertEqual(bad.code, 2, bad.out)
        XCTAssertTrue(bad.out.contains("holds no sweep 'provenance' (the spec's name); it holds: other"), bad.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/never"), "nothing ran")
    }
}
