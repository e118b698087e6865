import XCTest
import Foundation
@testable import Report

/// Issue 20 §6: the speed-up report leads with the controlled benchmark record (`rdd-bench sampling --output`),
/// says in one line how to make it when there is none, and refuses a bad record naming the file and field.
final class SamplingBenchmarkTests: XCTestCase {
    /// A synthetic record of preset tiny: round times chosen so the totals are exact, 36.4 s / 0.036 s.
    func record(preset: String = "tiny", loadStart: Double = 3.5) -> SamplingBenchmark {
        let p = Provenance(codeVersion: "rdd-0.4.0", commit: "0123456789abcdef0123456789abcdef01234567", commitModified: false,
                           cpu: "AMD EPYC 7551 32-Core Processor", cpuFeatures: ["avx2", "fma"], ownGemmISA: "avx2+fma",
                           blasCore: "Zen", blasISA: "avx2+fma", blasConfig: "OpenBLAS 0.3.21 DYNAMIC_ARCH", threads: 2)
        return SamplingBenchmark(
            command: ["rdd-bench", "sampling", "--preset", preset, "--output", "x.json", "--note", "it's loaded"], started: "2026-12-07T06:00:00Z",
            finished: "2026-12-07T06:01:00Z", provenance: p, cores: 2, loadAverageStart: [loadStart, 2, 1], loadAverageEnd: [4.25, 3, 2],
            preset: preset, network: "U-Net ch 32 × [1, 2] at 8×8×1, 1000 parameters", weights: "untrained (seed 0)",
            samples: 16, batch: 16, studentSteps: 1, studentNFE: 1, teacherNFE: 1024,
            rounds: [.init(student: .init(seconds: 0.016, samples: 16), teacher: .init(seconds: 16, samples: 16)),
                     .init(student: .init(seconds: 0.02, samples: 16), teacher: .init(seconds: 20.4, samples: 16))],
            note: "synthetic")
    }

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "rdd-sampling-benchmark-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func speedup(benchmarks: String) throws -> String {
        var r = ReportRequest(kind: .speedup)
        r.export = try fixturesDirectory() + "/export.json"
        r.benchmarks = benchmarks
        return try produceReport(r, links: LinkStyle(stem: "speedup")).markdown
    }

    /// What `rdd-bench sampling --output` writes decodes to the same record, and re-encodes to the same bytes.
    func testRecordRoundTrip() throws {
        let b = record()
        let data = try b.encoded()
        let back = try SamplingBenchmark.decode(data, path: "x.json")
        XCTAssertEqual(back, b)
        XCTAssertEqual(try back.encoded(), data)
        // 36.4 s of DDIM-1024 over 0.036 s of student: 1011.1×; the rounds 1000× and 1020×.
        XCTAssertEqual(b.speedup, 36.4 / 0.036, accuracy: 1e-9)
        XCTAssertEqual(b.rounds[0].speedup, 1000, accuracy: 1e-9)
        XCTAssertEqual(b.rounds[1].speedup, 1020, accuracy: 1e-9)
        XCTAssertEqual(b.rounds[0].student.imagesPerSecond, 1000, accuracy: 1e-9)
        XCTAssertEqual(b.nfeRatio, 1024)
    }

    /// With a record, the report's first section is the controlled benchmark; the per-trial table follows whole.
    func testReportLeadsWithTheRecord() throws {
        let dir = try temporaryDirectory()
        try record().encoded().write(to: URL(fileURLWithPath: dir + "/sampling-tiny.json"))
        let md = try speedup(benchmarks: dir)
        let head = try XCTUnwrap(md.components(separatedBy: "**Per-trial sampling times**").first)
        XCTAssertTrue(head.contains("- preset tiny: 1-step student vs DDIM-1024 on the same U-Net (U-Net ch 32 × [1, 2] at 8×8×1, 1000 parameters, untrained (seed 0)), N = 16 images per side in each of 2 rounds (batch 16), 2 threads, CPU AMD EPYC 7551 32-Core Processor (own GEMM kernel avx2+fma + OpenBLAS 0.3.21 core Zen (avx2+fma)), load average 3.50 at start and 4.25 at end on 2 cores"), head)
        XCTAssertTrue(head.contains("**speed-up 1011×** (NFE ratio 1024×"), head)
        XCTAssertTrue(head.contains("Rounds — 1: student 0.016 s (1000.0 images/s), DDIM-1024 16.00 s (1.000 images/s), 1000×; 2: "), head)
        XCTAssertTrue(head.contains("Taken under load: the 1-minute load average was 3.50"), head)
        XCTAssertTrue(head.contains("Note: synthetic"), head)
        // The command as a shell reads it back: a word with a space or quote in single quotes.
        XCTAssertTrue(head.contains("Command: `rdd-bench sampling --preset tiny --output x.json --note 'it'\\''s loaded'`."), head)
        // The per-trial table is the one without a record: every row, unchanged.
        let without = try speedup(benchmarks: dir + "/none")
        XCTAssertEqual(md.components(separatedBy: "**Per-trial sampling times**").last, without.components(separatedBy: "**Per-trial sampling times**").last)
        // An idle start (load < 1) is not labelled as under load.
        try record(loadStart: 0.2).encoded().write(to: URL(fileURLWithPath: dir + "/sampling-tiny.json"))
        XCTAssertFalse(try speedup(benchmarks: dir).contains("Taken under load"))
    }

    /// Without a record: one line that says so and names the command that makes it.
    func testReportWithoutRecordSaysSoInOneLine() throws {
        let md = try speedup(benchmarks: try temporaryDirectory())
        let lines = md.split(separator: "\n").filter { $0.contains("controlled benchmark recorded") }
        XCTAssertEqual(lines.count, 1, md)
        XCTAssertTrue(lines[0].hasPrefix("- preset tiny: no controlled benchmark recorded (no sampling-tiny.json"), String(lines[0]))
        XCTAssertTrue(lines[0].contains("`rdd-bench sampling --preset tiny --student-steps 1 --samples 16 --batch 16 --rounds 3 --threads 2 --output results/benchmarks/sampling-tiny.json`"), String(lines[0]))
    }

    /// A record that is not one, or of another preset, is refused with the file and the field.
    func testBadRecordIsRefused() throws {
        let dir = try temporaryDirectory()
        let path = dir + "/sampling-tiny.json"
        try record(preset: "small").encoded().write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try speedup(benchmarks: dir)) { e in
            XCTAssertEqual("\(e)", "\(path): preset \"small\" in a file named for preset \"tiny\"")
        }
        var obj = try XCTUnwrap(JSONSerialization.jsonObject(with: record().encoded()) as? [String: Any])
        obj.removeValue(forKey: "rounds")
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try speedup(benchmarks: dir)) { e in
            XCTAssertEqual("\(e)", "\(path): not a sampling benchmark record: field rounds is missing")
        }
        obj = try XCTUnwrap(JSONSerialization.jsonObject(with: record().encoded()) as? [String: Any])
        obj["rounds"] = [[String: Any]]()
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try speedup(benchmarks: dir)) { e in
            XCTAssertTrue("\(e)".hasPrefix("\(path): rounds must be non-empty"), "\(e)")
        }
    }
}
