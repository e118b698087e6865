import Foundation
import XCTest
@testable import Report
import RunModel

/// `RunExport.encoded()` (RunExportJSONWriter, issue 29) writes exactly the bytes of Foundation's pretty-printed,
/// sorted-keys `JSONEncoder` (`foundationEncoded()`), which every committed export and report was made with.
final class RunExportJSONTests: XCTestCase {
    func assertSameBytes(_ e: RunExport, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let ours = try e.encoded(), theirs = try e.foundationEncoded()
        guard ours != theirs else { return }
        let a = Array(ours), b = Array(theirs)
        let at = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        func around(_ x: [UInt8]) -> String { String(decoding: x[max(0, at - 120)..<min(x.count, at + 120)], as: UTF8.self) }
        XCTFail("\(what): the writer's bytes differ from Foundation's at byte \(at) of \(b.count):\n--- writer\n\(around(a))\n--- Foundation\n\(around(b))",
                file: file, line: line)
    }

    /// The committed exports (real sweeps: every field the runs record, provenance, learning curves) re-encode to
    /// Foundation's bytes, and, streamed with a newline, to the committed files themselves where those were written
    /// by this encoder (`rdd-sweep export --format report`).
    func testCommittedExportsEncodeAsFoundation() throws {
        let root = repositoryRoot()
        let paths = ["results/export.json", "results/tiny/export.json", "results/examples/export.json",
                     "results/tiny-verdicts/export.json", "results/tiny-table3-verdicts/export.json"]
        var checked = 0
        for p in paths {
            guard let data = FileManager.default.contents(atPath: root + "/" + p) else { continue }
            let e = try RunExport.load(path: root + "/" + p)
            try assertSameBytes(e, p)
            var streamed = Data()
            try e.encode(trailer: "\n", chunk: 4096) { streamed.append(contentsOf: $0) }
            XCTAssertEqual(streamed, try e.foundationEncoded() + Data("\n".utf8), "\(p): streamed in 4 KB pieces")
            if streamed == data { checked += 1 }
            XCTAssertGreaterThan(e.trials.count, 0, p)
        }
        // At least the committed exports written by the current format reproduce byte for byte (an export written
        // before a field existed decodes without it and re-encodes without it, so it reproduces too).
        XCTAssertEqual(checked, paths.count, "every committed export is reproduced byte for byte by encode(trailer: \"\\n\")")
    }

    /// Every optional field set, texts with every character JSON escapes and non-ASCII ones, numbers of every form
    /// Foundation writes differently (integral, exponents, negative zero, the extremes), empty arrays and objects, and
    /// dictionary keys whose byte order differs from other orders (upper case, '_', digits, non-ASCII).
    func testEveryFieldAndEdgeCaseEncodesAsFoundation() throws {
        var g = SystemRandomNumberGenerator()
        let tricky = (0..<0x80).map { String(UnicodeScalar(UInt8($0))) }.joined() + "é\u{2028}😀\u{7f}"
        let numbers: [Double] = [0, -0.0, 1, 3, 100, 0.1, 1e-5, 1e-7, 1e16, 1e20, 1.2345678901234568e+17, .leastNonzeroMagnitude,
                                 .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude, 2.5e-10, -7.25]
        let keys = ["loss", "B", "Z", "_x", "a", "a.b", "a/b", "a10", "a9", "diag/q", "ä", "ｚ", "😀", "e\u{301}x", "f", ""]
        for round in 0..<60 {
            func text() -> String {
                switch Int.random(in: 0..<4, using: &g) {
                case 0: return tricky
                case 1: return ""
                case 2: return "plain-\(round)"
                default: return String((0..<Int.random(in: 1..<40, using: &g)).map { _ in tricky.randomElement(using: &g)! })
                }
            }
            func number() -> Double { Bool.random(using: &g) ? numbers.randomElement(using: &g)! : Double.random(in: -1e6...1e6, using: &g) }
            let provenance = Provenance(codeVersion: text(), commit: Bool.random(using: &g) ? text() : nil, commitModified: Bool.random(using: &g),
                                        cpu: text(), cpuFeatures: Bool.random(using: &g) ? [] : [text(), text()],
                                        ownGemmISA: Bool.random(using: &g) ? text() : nil, blasCore: text(),
                                        blasISA: Bool.random(using: &g) ? text() : nil, blasConfig: text(), threads: Int.random(in: -5...64, using: &g))
            var series: [String: [SeriesPoint]] = [:]
            for k in keys.shuffled(using: &g).prefix(Int.random(in: 0...keys.count, using: &g)) {
                series[k] = (0..<Int.random(in: 0..<5, using: &g)).map { _ in SeriesPoint(step: Int.random(in: Int.min...Int.max, using: &g), value: number()) }
            }
            let stage = StageRecord(name: text(), kind: StageKind.allCases.randomElement(using: &g)!, identity: text(),
                                    status: StageStatus.allCases.randomElement(using: &g)!, seconds: number(),
                                    peakMemoryBytes: Int.random(in: Int.min...Int.max, using: &g), series: series,
                                    codeVersion: Bool.random(using: &g) ? text() : nil, threads: Bool.random(using: &g) ? 4 : nil,
                                    startedAt: Bool.random(using: &g) ? text() : nil, finishedAt: Bool.random(using: &g) ? text() : nil,
                                    provenance: Bool.random(using: &g) ? provenance : nil)
            let evaluation = EvaluationRecord(stage: text(), model: text(), metric: text(), value: number(), label: text(), featureNetwork: text(),
                                              samples: Int.random(in: 0...50_000, using: &g), reference: text(), sampler: text(),
                                              steps: Int.random(in: -3...1000, using: &g), nfe: Int.random(in: 0...1000, using: &g),
                                              secondsPerImage: number(), artifactDirectory: text())
            var axes: [String: String] = [:]
            for k in keys.shuffled(using: &g).prefix(Int.random(in: 0...4, using: &g)) { axes[k] = text() }
            let trial = TrialRecord(sweep: text(), key: text(), axes: axes, configJSON: text(), status: TrialStatus.allCases.randomElement(using: &g)!,
                                    evaluations: Bool.random(using: &g) ? [] : [evaluation, evaluation],
                                    stages: Bool.random(using: &g) ? [] : [stage, stage],
                                    replicate: Bool.random(using: &g) ? ReplicateMode.allCases.randomElement(using: &g)! : nil)
            let sweep = SweepRecord(name: text(), specPath: text(), specHash: text(), preset: text(),
                                    description: Bool.random(using: &g) ? text() : nil,
                                    axes: Bool.random(using: &g) ? nil : [SweepAxisRecord(path: text(), source: text(), values: Bool.random(using: &g) ? [] : [text(), text()])],
                                    root: Bool.random(using: &g) ? text() : nil)
            let e = RunExport(formatVersion: Int.random(in: -2...3, using: &g), sweeps: Bool.random(using: &g) ? [] : [sweep, sweep],
                              trials: Bool.random(using: &g) ? [] : [trial, trial])
            try assertSameBytes(e, "random export \(round)")
        }
    }

    /// A NaN or an infinity is Foundation's to refuse: `encoded()` and `encode(into:)` throw its error and write nothing.
    func testNonFiniteNumbersThrowFoundationsError() throws {
        let stage = StageRecord(name: "distill-rdd-1", kind: .distill, identity: "x", status: .completed, seconds: 1, peakMemoryBytes: 0,
                                series: ["loss": [SeriesPoint(step: 1, value: .nan)]])
        let e = RunExport(sweeps: [], trials: [TrialRecord(sweep: "s@1", key: "t000", axes: [:], configJSON: "{}", status: .completed,
                                                           evaluations: [], stages: [stage])])
        XCTAssertThrowsError(try e.foundationEncoded())
        XCTAssertThrowsError(try e.encoded())
        var written = 0
        XCTAssertThrowsError(try e.encode { written += $0.count })
        XCTAssertEqual(written, 0)
    }
}
