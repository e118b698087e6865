import Foundation

/// Which code and which machine computed a stage: what a reader needs to rebuild a number bit for bit.
///
/// Written by the worker into `done.json` when the stage completes (Sweep's `Provenance.current`),
/// ingested into the run database (`stages.provenance_json`) and exported with each stage. It is a
/// record, never part of a stage's identity: the same stage computed on two machines is one stage,
/// and its numbers may differ between them, which is exactly what this record lets a reader see.
///
/// Why each field: the products of the networks run on our own AVX2/FMA GEMM kernel (`CGemm`) for the
/// convolution shapes and on OpenBLAS for the rest, and OpenBLAS picks its kernels per CPU at start-up
/// (its "core"); kernels for different ISAs sum in different orders and so round differently. Reductions
/// split over threads round differently at another thread count. So numbers are identical only for the
/// same build (commit), the same kernels (own kernel's ISA, OpenBLAS core) and the same thread count.
public struct Provenance: Codable, Equatable, Hashable, Sendable {
    /// Pipeline's `CodeVersion` (also part of the stage identity).
    public var codeVersion: String
    /// `git rev-parse HEAD` of the package when the binary was built (embedded at build time); nil when
    /// the build was not from a git checkout.
    public var commit: String?
    /// The build's inputs (Package.swift, Sources/, Plugins/) had changes not in `commit` ("dirty").
    public var commitModified: Bool
    /// The CPU's model name (`/proc/cpuinfo`), "unknown" when unreadable.
    public var cpu: String
    /// The vector ISA extensions among those kernels dispatch on (sse4_2, avx, avx2, fma, avx512f) that
    /// the CPU reports (`/proc/cpuinfo` flags).
    public var cpuFeatures: [String]
    /// The ISA of our own GEMM kernel when the products it takes run on it ("avx2+fma"); nil when every
    /// product ran on OpenBLAS (a CPU without AVX2/FMA, or the kernel switched off).
    public var ownGemmISA: String?
    /// `openblas_get_corename()`: the kernel set OpenBLAS chose for this CPU ("Haswell", "SkylakeX", "Zen").
    public var blasCore: String
    /// The widest ISA of that core's kernels ("avx512", "avx2+fma", "avx", "sse"); nil for a core name
    /// we do not know.
    public var blasISA: String?
    /// `openblas_get_config()`: version and build options ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64").
    public var blasConfig: String
    /// Threads of the tensor core (RDD_THREADS) in the worker.
    public var threads: Int

    public init(codeVersion: String, commit: String?, commitModified: Bool, cpu: String, cpuFeatures: [String], ownGemmISA: String?,
                blasCore: String, blasISA: String?, blasConfig: String, threads: Int) {
        self.codeVersion = codeVersion; self.commit = commit; self.commitModified = commitModified; self.cpu = cpu
        self.cpuFeatures = cpuFeatures; self.ownGemmISA = ownGemmISA; self.blasCore = blasCore; self.blasISA = blasISA
        self.blasConfig = blasConfig; self.threads = threads
    }

    /// "abcdef123456" (12 hex digits), "+ changes" when modified; "unknown commit" outside git.
    public var commitText: String {
        guard let c = commit else { return "unknown commit" }
        return "commit " + String(c.prefix(12)) + (commitModified ? " + uncommitted changes" : "")
    }

    /// "OpenBLAS 0.3.21" from the config string (its first two words), else the whole string.
    public var blasName: String {
        let words = blasConfig.split(separator: " ")
        return words.count >= 2 && words[0] == "OpenBLAS" ? words.prefix(2).joined(separator: " ") : blasConfig
    }

    /// One line: code, build, CPU, kernels, threads.
    public var summary: String {
        let own = ownGemmISA.map { "own GEMM kernel \($0) + " } ?? "no own GEMM kernel, "
        let features = cpuFeatures.isEmpty ? "" : " (\(cpuFeatures.joined(separator: " ")))"
        return "\(codeVersion) at \(commitText); CPU \(cpu)\(features); kernels: \(own)\(blasName) core \(blasCore)\(blasISA.map { " (\($0))" } ?? ""); \(threads) thread\(threads == 1 ? "" : "s")"
    }
}

/// How far a code version's numbers are independent of the machine (issue 23).
enum MachineIndependence: Int, Comparable {
    /// Before rdd-0.4.0: large products on OpenBLAS, which picks kernels per CPU.
    case none
    /// rdd-0.4.0 and 0.5.0: every Float32 product on our GEMM (one accumulation order) and our own exp/log, so
    /// every trained weight, sample, KID and score is the same on any CPU and thread count — but the FID's Float64
    /// covariance and eigen-decomposition still went to OpenBLAS/LAPACK, which moved its last digits (~1e-13
    /// relative: a Zen 1 and an Intel Xeon differed in the 13th digit of every FID of the tiny quick start).
    case exceptFIDDigits
    /// From rdd-0.6.0: the metrics' linear algebra is ours too (CLinearAlgebra): every number.
    case full

    init(codeVersion: String) {
        guard codeVersion.hasPrefix("rdd-") else { self = .none; return }
        let parts = codeVersion.dropFirst(4).split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        guard parts.count >= 2 else { self = .none; return }
        let (major, minor) = (parts[0], parts[1])
        self = major > 0 || minor >= 6 ? .full : minor >= 4 ? .exceptFIDDigits : .none
    }

    static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// The "Computed on" line under a table: the provenance of the stages behind it (each stage once), grouped
/// by build and machine with the number of stages each computed. An export written before provenance was
/// recorded says so plainly, with what it does record (code version and threads).
public func computedOnLine(_ trials: [TrialView]) -> String {
    var seen = Set<String>()
    var stages: [StageRecord] = []
    for t in trials { for s in t.record.stages where (s.status == .completed || s.status == .cached) && seen.insert(s.identity).inserted { stages.append(s) } }
    var groups: [(Provenance, Int)] = []
    var unrecorded: [StageRecord] = []
    for s in stages {
        guard let p = s.provenance else { unrecorded.append(s); continue }
        if let i = groups.firstIndex(where: { $0.0 == p }) { groups[i].1 += 1 } else { groups.append((p, 1)) }
    }
    let versions = Set(stages.compactMap { $0.provenance?.codeVersion ?? $0.codeVersion })
    let rule: String
    switch versions.map(MachineIndependence.init(codeVersion:)).min() ?? MachineIndependence.none {
    case .full:
        rule = "identical numbers need the same code version; the CPU, its vector ISA and the thread count do not change them: docs/architecture.md \"Kernels and determinism\""
    case .exceptFIDDigits:
        rule = "identical numbers need the same code version; the CPU, its vector ISA and the thread count do not change them, except the last digits (~1e-13 relative) of FIDs, whose linear algebra used OpenBLAS's per-CPU kernels before rdd-0.6.0: docs/architecture.md \"Kernels and determinism\""
    case .none:
        rule = "identical numbers need the same commit, kernels (own GEMM ISA, OpenBLAS core: OpenBLAS picks them per CPU) and threads; README \"Which code made these numbers\""
    }
    if groups.isEmpty {
        let versions = Set(stages.compactMap(\.codeVersion)).sorted()
        let threads = Set(stages.compactMap(\.threads)).sorted()
        var what: [String] = []
        if !versions.isEmpty { what.append("code version \(versions.joined(separator: ", "))") }
        if !threads.isEmpty { what.append("threads per stage \(threads.map(String.init).joined(separator: " or "))") }
        let known = what.isEmpty ? "" : " It records only the \(what.joined(separator: " and ")), not the commit, CPU or BLAS kernels, so a rerun on another machine may differ without saying why"
        if known.isEmpty { return "- Computed on: not recorded (this export predates provenance records; \(rule))." }
        return "- Computed on: not recorded (this export predates provenance records).\(known) (\(rule))."
    }
    let plural = stages.count == 1 ? "" : "s"
    var parts = groups.map { groups.count == 1 && unrecorded.isEmpty ? $0.0.summary : "\($0.0.summary) — \($0.1) stage\($0.1 == 1 ? "" : "s")" }
    if !unrecorded.isEmpty { parts.append("not recorded — \(unrecorded.count) stage\(unrecorded.count == 1 ? "" : "s")") }
    let head = groups.count == 1 && unrecorded.isEmpty ? "- Computed on (all \(stages.count) stage\(plural)): " : "- Computed on (\(stages.count) stage\(plural), by provenance): "
    return head + parts.joined(separator: " | ") + " (\(rule))."
}
