import XCTest
import Foundation
@testable import Report

/// Every report on the fixture export (real tiny runs: scripts/report-fixture) against its golden file.
/// The fixture has several seeds per cell, cells with n = 1, missing cells (cfd+ii_p2p, cfd+m_p2p are
/// not in it; pd_perceptual has one seed) and sweeps of every figure key.
final class GoldenReportTests: XCTestCase {
    func request(_ kind: ReportKind) throws -> ReportRequest {
        var r = ReportRequest(kind: kind)
        r.export = try fixturesDirectory() + "/export.json"
        r.resultsRoot = try fixturesDirectory() + "/results"
        // No controlled benchmark record: the speed-up report says so (SamplingBenchmarkTests covers one).
        r.benchmarks = try fixturesDirectory() + "/no-benchmarks"
        return r
    }

    func produce(_ kind: ReportKind) throws -> ReportOutput {
        try produceReport(request(kind), links: LinkStyle(stem: kind.rawValue))
    }

    func golden(_ kind: ReportKind, file: StaticString = #filePath, line: UInt = #line) throws -> ReportOutput {
        let o = try produce(kind)
        try assertGolden(Data(o.markdown.utf8), kind.rawValue + ".md", file: file, line: line)
        for f in o.files where f.name.hasSuffix(".svg") {
            assertValidXML(f.data, f.name, file: file, line: line)
            try assertGolden(f.data, f.name, file: file, line: line)
        }
        return o
    }

    func testTable1() throws {
        let o = try golden(.table1)
        XCTAssertTrue(o.markdown.contains("[n=2]"), "cells over two seeds")
        XCTAssertTrue(o.markdown.contains("[n=1]"), "pd_perceptual has one seed")
        XCTAssertTrue(o.markdown.contains("not comparable in absolute value"), "the FID caveat")
        XCTAssertTrue(o.markdown.contains("RDD < RCFD at 1 step: "))
    }

    /// `--sweep NAME[@REV]` keeps one sweep's trials: every other sweep's rows go missing.
    func testSweepFilter() throws {
        let all = ReportData(try RunExport.load(path: try fixturesDirectory() + "/export.json"))
        let name = try XCTUnwrap(all.completed.first?.record.sweep)
        let base = String(name.split(separator: "@")[0])
        let only = ReportData(all.export, sweep: base)
        XCTAssertFalse(only.completed.isEmpty)
        XCTAssertLessThan(only.completed.count, all.completed.count, "the fixture has several sweeps")
        XCTAssertTrue(only.completed.allSatisfy { $0.record.sweep.split(separator: "@").first.map(String.init) == base })
        XCTAssertEqual(ReportData(all.export, sweep: name).completed.count, only.completed.count)
        XCTAssertTrue(ReportData(all.export, sweep: base + "@999").completed.isEmpty)
        // A comma-separated list keeps the trials of each sweep named (one report over several sweeps).
        let names = Array(Set(all.completed.map { String($0.record.sweep.split(separator: "@")[0]) })).sorted()
        XCTAssertGreaterThanOrEqual(names.count, 3)
        let second = try XCTUnwrap(all.completed.first { $0.record.sweep.split(separator: "@")[0] == names[1] }).record.sweep   // as labelled
        let two = ReportData(all.export, sweep: "\(names[0]), \(second),no-such-sweep")
        XCTAssertEqual(two.completed.map(\.index), all.completed.filter { t in
            String(t.record.sweep.split(separator: "@")[0]) == names[0] || t.record.sweep == second
        }.map(\.index))
        XCTAssertEqual(Set(two.completed.map { String($0.record.sweep.split(separator: "@")[0]) }), [names[0], names[1]])
        var r = try request(.table3)
        r.sweep = "no-such-sweep"
        let md = try produceReport(r, links: LinkStyle(stem: "table3")).markdown
        XCTAssertFalse(md.contains("[n="), "no cell has a value:\n\(md)")
    }

    /// A cell whose trials exist but have not completed says so and how to resume, not "add it to the spec".
    func testMissingCellOfUnfinishedTrials() throws {
        var ex = try RunExport.load(path: try fixturesDirectory() + "/export.json")
        let rdd = ex.trials.indices.filter { ex.trials[$0].configJSON.contains("\"method\":\"rdd\"") && ex.trials[$0].configJSON.contains("\"conditional\":false") }
        XCTAssertFalse(rdd.isEmpty)
        for (n, i) in rdd.enumerated() { ex.trials[i].status = n == 0 ? .running : .queued }
        let md = try produceReport(.table3, ReportData(ex), request: request(.table3), links: LinkStyle(stem: "table3")).markdown
        XCTAssertTrue(md.contains("missing: method=rdd at 1 step — its trials have not completed yet ("), md)
        XCTAssertTrue(md.contains("1 running") && md.contains("resumes them"), md)
        XCTAssertFalse(md.contains("missing: method=rdd at 1 step, any seed — add it"), md)
        // (Only the table trials among them count: the fixture's rdd trials include figure sweeps.)
        XCTAssertTrue(md.contains("**Incomplete:** 2 trials behind this report have not completed (2 queued)") && md.contains("fixture-tables.json` resumes them."), md)
        // An export that records the sweep's root names it (the default root `results` goes without saying).
        for (root, command) in [("runs/v2", "fixture-tables.json --root runs/v2`"), ("results", "fixture-tables.json`")] {
            var rooted = ex
            for k in rooted.sweeps.indices { rooted.sweeps[k].root = root }
            let m = try produceReport(.table3, ReportData(rooted), request: request(.table3), links: LinkStyle(stem: "table3")).markdown
            XCTAssertTrue(m.contains("missing: method=rdd at 1 step — its trials have not completed yet (") && m.contains(command + " resumes them."), m)
        }
        // A figure with one trial of its sweep still running says so above its table.
        var fig = try RunExport.load(path: try fixturesDirectory() + "/export.json")
        let i = try XCTUnwrap(fig.trials.firstIndex { $0.axes["distill.tauIS"] != nil })
        fig.trials[i].status = .running
        let f7 = try produceReport(.fig7, ReportData(fig), request: request(.fig7), links: LinkStyle(stem: "fig7")).markdown
        XCTAssertTrue(f7.contains("**Incomplete:** 1 trial behind this report has not completed (1 running)"), f7)
        // Complete exports say nothing of the kind (the golden files pin that too).
        XCTAssertFalse(try produce(.fig7).markdown.contains("Incomplete"))
    }

    /// A report with no completed trials for it names what to run: the sweep that resumes its unfinished
    /// trials, else the repository's spec of the preset in view.
    func testNothingCompletedNamesWhatToRun() throws {
        let full = try RunExport.load(path: try fixturesDirectory() + "/export.json")
        let isConditional = { (t: TrialRecord) in t.configJSON.contains("\"conditional\":true") }
        XCTAssertTrue(full.trials.contains(where: isConditional))
        // No conditional trial at all: Table 2 points at the tiny preset's table2.json.
        var none = full
        none.trials.removeAll(where: isConditional)
        let md = try produceReport(.table2, ReportData(none), request: request(.table2), links: LinkStyle(stem: "table2")).markdown
        XCTAssertTrue(md.contains("every cell is missing — `rdd-sweep run experiments/tiny/table2.json` runs the repository's sweep for it"), md)
        // Conditional trials that have not completed: the command that resumes them instead.
        var waiting = full
        for i in waiting.trials.indices where isConditional(waiting.trials[i]) { waiting.trials[i].status = .queued }
        let md2 = try produceReport(.table2, ReportData(waiting), request: request(.table2), links: LinkStyle(stem: "table2")).markdown
        XCTAssertTrue(md2.contains("queued): `rdd-sweep run experiments/tiny/fixture-conditional.json` resumes them"), md2)
        // A figure with none of its sweeps: Fig. 8's spec.
        var noQueue = full
        noQueue.trials.removeAll { $0.axes["distill.queue.size"] != nil || $0.axes["distill.queue.contrastSize"] != nil }
        let f8 = try produceReport(.fig8, ReportData(noQueue), request: request(.fig8), links: LinkStyle(stem: "fig8")).markdown
        XCTAssertTrue(f8.contains("`rdd-sweep run experiments/tiny/fig8.json` runs the repository's sweep"), f8)
        // No DDIM-1024 on the conditional teacher: Table 2 and the speed-up name Table 2's own DDIM-1024 spec.
        var noDDIM = full
        for i in noDDIM.trials.indices where isConditional(noDDIM.trials[i]) {
            noDDIM.trials[i].evaluations.removeAll { $0.stage == "eval-ddim-1024" }
        }
        let t2 = try produceReport(.table2, ReportData(noDDIM), request: request(.table2), links: LinkStyle(stem: "table2")).markdown
        XCTAssertTrue(t2.contains("missing: eval-ddim-1024 (baseline ddim:1024), any seed — run experiments/tiny/table2-ddim1024.json (the repository's spec"), t2)
        let sp = try produceReport(.speedup, ReportData(noDDIM), request: request(.speedup), links: LinkStyle(stem: "speedup")).markdown
        XCTAssertTrue(sp.contains("- missing: eval-ddim-1024 — run experiments/tiny/table2-ddim1024.json, or add"), sp)
    }

    func testTable2() throws {
        let o = try golden(.table2)
        XCTAssertTrue(o.markdown.contains("class-conditional"))
        XCTAssertTrue(o.markdown.contains("missing: method=pd at 1 step, any seed — add it to experiments/tiny/fixture-conditional.json"))
    }

    func testTable3() throws {
        let o = try golden(.table3)
        XCTAssertTrue(o.markdown.contains("missing: method=cfd+m_p2p at 1 step, any seed — add it to experiments/tiny/fixture-tables.json"))
        XCTAssertTrue(o.markdown.contains("RDD is best of the six: "))
        XCTAssertTrue(o.markdown.contains("](terms.md#terms-fixture-tables-"), "links to the term diagnostics")
    }

    func testFig5() throws {
        let o = try golden(.fig5)
        let png = try XCTUnwrap(o.files.first { $0.name == "fig5.png" })
        let img = try decodePNG(png.data)
        // 3 rows of 8×8 samples upscaled ×4 (32 px) with 2 px gaps; a label column for "RCFD".
        XCTAssertEqual(img.height, 3 * (32 + 2) + 2)
        XCTAssertEqual(img.channels, 1)
        // Compared by pixels, not bytes: another zlib version may compress the same image differently.
        let goldenPath = sourceFixturesDirectory() + "/golden/fig5.png"
        if ProcessInfo.processInfo.environment["RDD_UPDATE_GOLDEN"] == "1" { try png.data.write(to: URL(fileURLWithPath: goldenPath)); return }
        let golden = try decodePNG(XCTUnwrap(FileManager.default.contents(atPath: fixturesDirectory() + "/golden/fig5.png")))
        XCTAssertEqual(img, golden, "fig5.png pixels differ from the golden image")
    }

    func testFig6() throws {
        let o = try golden(.fig6)
        XCTAssertTrue(o.markdown.contains("memory grows with batch: "))
        XCTAssertEqual(o.files.map(\.name), ["fig6.svg"])
    }

    func testFig7() throws {
        let o = try golden(.fig7)
        XCTAssertTrue(o.markdown.contains("Every τ_IS value beats RCFD's 4-step FID: "))
        XCTAssertTrue(o.markdown.contains("Every τ_M value beats RCFD's 4-step FID: "))
        XCTAssertTrue(o.markdown.contains("](terms.md#terms-fixture-fig7-tau-is-"))
    }

    func testFig8() throws {
        let o = try golden(.fig8)
        XCTAssertTrue(o.markdown.contains("performance rises then falls with N_q: "))
        XCTAssertTrue(o.markdown.contains("FID saturates with V: "))
    }

    func testFig9() throws {
        let o = try golden(.fig9)
        XCTAssertTrue(o.markdown.contains("Every α value beats RCFD's 4-step FID: "))
    }

    func testSpeedup() throws {
        let o = try golden(.speedup)
        XCTAssertTrue(o.markdown.contains("DDIM 1024 steps (reference)"))
    }

    func testTerms() throws {
        let o = try golden(.terms)
        XCTAssertTrue(o.markdown.contains("- Reading: "))
        XCTAssertTrue(o.markdown.contains("<a id=\"terms-fixture-tables-t004\"></a>"))
    }

    func testTermsOfOneTrial() throws {
        var r = try request(.terms)
        r.trials = ["fixture-tables/t004"]
        let o = try produceReport(r, links: LinkStyle(stem: "terms-t004"))
        XCTAssertEqual(o.markdown.components(separatedBy: "<a id=").count - 1, 1)
        try assertGolden(Data(o.markdown.utf8), "terms-t004.md")
        r.trials = ["no-such-trial"]
        XCTAssertThrowsError(try produceReport(r, links: LinkStyle(stem: "x")))
    }

    func testAllWritesEveryReportAndAnIndex() throws {
        let o = try golden(.all)
        let names = Set(o.files.map(\.name))
        for k in ReportKind.allCases where !k.writesDirectory { XCTAssertTrue(names.contains(k.rawValue + ".md"), k.rawValue) }
        for f in ["fig5.png", "fig6.svg", "fig7.svg", "fig8.svg", "fig9.svg", "terms.svg"] { XCTAssertTrue(names.contains(f), f) }
    }

    /// Trials evaluated in Inception FID (a sweep like experiments/table1-inception.json: the same students evaluated
    /// again at 1 step with `fid_inception` added) get their own Table 1 page; the main Table 1 keeps the
    /// classifier FID and is unchanged by them.
    func testAllAddsAnInceptionTableForTrialsEvaluatedInInceptionFID() throws {
        var ex = try fixtureExport()
        let r = try request(.all)
        let before = try produceReport(r.kind, ReportData(ex), request: r, links: LinkStyle(stem: "index"))
        XCTAssertFalse(before.files.contains { $0.name == "table1-inception.md" }, "no Inception evaluations, no Inception page")
        let tables = ex.trials.filter { $0.sweep.hasPrefix("fixture-tables") || $0.sweep.hasPrefix("fixture-perceptual") }
        XCTAssertFalse(tables.isEmpty)
        ex.sweeps.append(SweepRecord(name: "fixture-table1-inception@1", specPath: "experiments/tiny/table1-inception.json", specHash: "x", preset: "tiny"))
        for t in tables {
            var u = t
            u.sweep = "fixture-table1-inception@1"
            u.evaluations = t.evaluations.filter { $0.steps == 1 && $0.model == (t.axes["distill.method"].map { String($0.dropFirst().dropLast()) } ?? "") }
            guard var fid = u.evaluations.first(where: { $0.metric == "fid_classifier" }) else { continue }
            fid.metric = "fid_inception"
            fid.value = fid.value * 10 + 100   // recognisable: every Inception cell is above 100
            fid.label = "FID (Inception pool3, N=\(fid.samples), vs digits test split (252 images)), ddim 1 steps (NFE 1)"
            fid.featureNetwork = "Inception-v3 pool3"
            u.evaluations.append(fid)
            ex.trials.append(u)
        }
        let after = try produceReport(r.kind, ReportData(ex), request: r, links: LinkStyle(stem: "index"))
        let page = try XCTUnwrap(after.files.first { $0.name == "table1-inception.md" }).data
        let md = String(decoding: page, as: UTF8.self)
        XCTAssertTrue(md.hasPrefix("## Table 1 — unconditional generation: methods × steps (paper: CIFAR-10) — in Inception FID (only the trials evaluated with `fid_inception`)"), md)
        XCTAssertTrue(md.contains("FID here is the Inception FID"), md)
        let row1 = try XCTUnwrap(md.split(separator: "\n").first { $0.hasPrefix("| 1 |") })
        XCTAssertEqual(row1.split(separator: "|").dropFirst(1).filter { Double($0.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "").map { $0 > 100 } ?? false }.count, 4,
                       "the four methods' 1-step cells are the Inception values: \(row1)")
        XCTAssertFalse(after.files.contains { $0.name == "table2-inception.md" }, "no conditional trial has an Inception FID")
        XCTAssertTrue(after.markdown.contains("[table1-inception](table1-inception.md)"), after.markdown)
        let table1 = { (o: ReportOutput) in o.files.first { $0.name == "table1.md" }?.data }
        XCTAssertNotNil(table1(after))
        let mainAfter = String(decoding: table1(after)!, as: UTF8.self)
        XCTAssertTrue(mainAfter.contains("FID here is computed on our classifier's features"), mainAfter)
    }

    /// Same export → byte-identical reports, also after the trials are decoded again (no dictionary order).
    func testDeterministic() throws {
        for k in ReportKind.allCases {
            let a = try produce(k), b = try produce(k)
            XCTAssertEqual(a, b, k.rawValue)
        }
        // Re-encoding the export (sorted keys) changes nothing either.
        let ex = try fixtureExport()
        let again = try JSONDecoder().decode(RunExport.self, from: ex.encoded())
        let r = try request(.table3)
        XCTAssertEqual(try produceReport(.table3, ReportData(ex), request: r, links: LinkStyle(stem: "t")),
                       try produceReport(.table3, ReportData(again), request: r, links: LinkStyle(stem: "t")))
    }

    /// Reports of an export without trials say what is missing instead of failing.
    func testEmptyExport() throws {
        let empty = ReportData(RunExport(sweeps: [], trials: []))
        for k in ReportKind.allCases {
            let o = try produceReport(k, empty, request: ReportRequest(kind: k), links: LinkStyle(stem: k.rawValue))
            XCTAssertTrue(o.markdown.contains("missing") || k == .all, "\(k.rawValue) should say what is missing")
        }
    }

    /// The fixture is real runs: labelled records, completed trials, diagnostics and timings present.
    func testFixtureIsRealRuns() throws {
        let ex = try fixtureExport()
        XCTAssertGreaterThanOrEqual(ex.trials.count, 20)
        XCTAssertTrue(ex.trials.allSatisfy { $0.status == .completed })
        let evals = ex.trials.flatMap(\.evaluations)
        XCTAssertTrue(evals.contains { $0.metric == "fid_classifier" && $0.label.contains("N=64") && $0.featureNetwork.hasPrefix("DenseNet-BC") })
        XCTAssertTrue(evals.allSatisfy { $0.secondsPerImage > 0 && $0.nfe > 0 })
        XCTAssertTrue(ex.trials.flatMap(\.stages).contains { $0.series.keys.contains("diag/is_p2p/share") })
        XCTAssertTrue(ex.trials.flatMap(\.stages).allSatisfy { $0.seconds > 0 && $0.peakMemoryBytes > 0 })
        let size = try FileManager.default.subpathsOfDirectory(atPath: sourceFixturesDirectory()).reduce(0) { s, p in
            s + ((try? FileManager.default.attributesOfItem(atPath: sourceFixturesDirectory() + "/" + p)[.size] as? Int) ?? 0)
        }
        XCTAssertLessThan(size, 1_000_000, "fixtures must stay under 1 MB")
    }
}
