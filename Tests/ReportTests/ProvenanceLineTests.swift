import XCTest
@testable import Report

/// The "Computed on" line under every table (issue 27): each stage once, grouped by provenance, and a
/// plain statement when an export predates provenance records.
final class ProvenanceLineTests: XCTestCase {
    func provenance(cpu: String, core: String, threads: Int, codeVersion: String = "rdd-0.3.0") -> Provenance {
        Provenance(codeVersion: codeVersion, commit: "0123456789abcdef0123456789abcdef01234567", commitModified: false, cpu: cpu,
                   cpuFeatures: ["avx", "avx2", "fma"], ownGemmISA: "avx2+fma", blasCore: core, blasISA: "avx2+fma",
                   blasConfig: "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY \(core) MAX_THREADS=64", threads: threads)
    }

    func trial(_ key: String, _ stages: [StageRecord]) -> TrialView {
        TrialView(TrialRecord(sweep: "s@1", key: key, axes: [:], configJSON: "{}", status: .completed, evaluations: [], stages: stages), index: 0)
    }

    func stage(_ id: String, _ p: Provenance?, codeVersion: String? = nil, threads: Int? = nil) -> StageRecord {
        StageRecord(name: id, kind: .eval, identity: id, status: .completed, seconds: 1, peakMemoryBytes: 0, series: [:],
                    codeVersion: codeVersion, threads: threads, provenance: p)
    }

    func testOneMachine() {
        let p = provenance(cpu: "CPU A", core: "Haswell", threads: 2)
        // The shared stage "a" appears in both trials and counts once.
        let line = computedOnLine([trial("t0", [stage("a", p), stage("b", p)]), trial("t1", [stage("a", p), stage("c", p)])])
        XCTAssertEqual(line, "- Computed on (all 3 stages): rdd-0.3.0 at commit 0123456789ab; CPU CPU A (avx avx2 fma); kernels: own GEMM kernel avx2+fma + OpenBLAS 0.3.21 core Haswell (avx2+fma); 2 threads (identical numbers need the same commit, kernels (own GEMM ISA, OpenBLAS core: OpenBLAS picks them per CPU) and threads; README \"Which code made these numbers\").")
    }

    /// From rdd-0.6.0 on no number depends on the CPU or the thread count (issue 23), and the line says so; rdd-0.4.0
    /// and 0.5.0 say which digits could (the FID's, through OpenBLAS's LAPACK: seen between a Zen 1 and a Xeon).
    func testMachineIndependentCodeVersion() {
        let a = provenance(cpu: "CPU A", core: "Haswell", threads: 2, codeVersion: "rdd-0.6.0")
        let b = provenance(cpu: "CPU B", core: "SkylakeX", threads: 1, codeVersion: "rdd-0.6.0")
        let line = computedOnLine([trial("t0", [stage("a", a), stage("b", b)])])
        XCTAssertTrue(line.hasSuffix("(identical numbers need the same code version; the CPU, its vector ISA and the thread count do not change them: docs/architecture.md \"Kernels and determinism\")."), line)
        // A stage of rdd-0.4.0/0.5.0 brings the FID-digits caveat; an older one the per-CPU rule.
        let fidDigits = provenance(cpu: "CPU A", core: "Haswell", threads: 2, codeVersion: "rdd-0.5.0")
        XCTAssertTrue(computedOnLine([trial("t0", [stage("a", a), stage("c", fidDigits)])])
                        .contains("do not change them, except the last digits (~1e-13 relative) of FIDs"))
        let old = provenance(cpu: "CPU A", core: "Haswell", threads: 2)
        XCTAssertTrue(computedOnLine([trial("t0", [stage("a", a), stage("c", old)])]).contains("identical numbers need the same commit, kernels"))
        XCTAssertEqual(MachineIndependence(codeVersion: "rdd-0.3.0"), .none)
        XCTAssertEqual(MachineIndependence(codeVersion: "rdd-0.4.0"), .exceptFIDDigits)
        XCTAssertEqual(MachineIndependence(codeVersion: "rdd-0.5.0+direct"), .exceptFIDDigits)
        XCTAssertEqual(MachineIndependence(codeVersion: "rdd-0.6.0"), .full)
        XCTAssertEqual(MachineIndependence(codeVersion: "rdd-0.6.0+direct"), .full)
        XCTAssertEqual(MachineIndependence(codeVersion: "rdd-1.0.0"), .full)
        XCTAssertEqual(MachineIndependence(codeVersion: "v0.4"), .none)
    }

    func testMixedAndUnrecorded() {
        let a = provenance(cpu: "CPU A", core: "Haswell", threads: 2)
        var b = provenance(cpu: "CPU B", core: "SkylakeX", threads: 1)
        b.blasISA = "avx512"
        b.commitModified = true
        let line = computedOnLine([trial("t0", [stage("a", a), stage("b", b), stage("c", b), stage("d", nil)])])
        XCTAssertTrue(line.hasPrefix("- Computed on (4 stages, by provenance): rdd-0.3.0 at commit 0123456789ab; CPU CPU A"), line)
        XCTAssertTrue(line.contains("2 threads — 1 stage | rdd-0.3.0 at commit 0123456789ab + uncommitted changes; CPU CPU B"), line)
        XCTAssertTrue(line.contains("core SkylakeX (avx512); 1 thread — 2 stages | not recorded — 1 stage ("), line)
    }

    func testExportBeforeProvenance() {
        let line = computedOnLine([trial("t0", [stage("a", nil, codeVersion: "rdd-0.2.0", threads: 2), stage("b", nil, codeVersion: "rdd-0.2.0", threads: 1)])])
        XCTAssertTrue(line.hasPrefix("- Computed on: not recorded (this export predates provenance records). It records only the code version rdd-0.2.0 and threads per stage 1 or 2, not the commit, CPU or BLAS kernels"), line)
    }

    /// Old exports (no provenance keys) still decode, and an export with provenance round-trips.
    func testExportRoundTrip() throws {
        let e = RunExport(sweeps: [], trials: [trial("t0", [stage("a", provenance(cpu: "X", core: "Zen", threads: 2)), stage("b", nil)]).record])
        XCTAssertEqual(try JSONDecoder().decode(RunExport.self, from: e.encoded()), e)
        XCTAssertFalse(String(decoding: try RunExport(sweeps: [], trials: [trial("t", [stage("b", nil)]).record]).encoded(), as: UTF8.self).contains("provenance"),
                       "a stage without provenance writes no key: exports of old databases stay byte-identical")
    }
}
