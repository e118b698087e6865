import Foundation
import BuildInfo
import Pipeline
import Report
import Tensor

extension Provenance {
    /// The ISA extensions recorded from the CPU's flags: the ones our kernels and OpenBLAS's dispatch on.
    static let recordedFeatures = ["sse4_2", "avx", "avx2", "fma", "avx512f"]

    /// This process's provenance: the code version, the commit embedded at build time (BuildInfo), the
    /// CPU of `/proc/cpuinfo` and its recorded ISA flags, the GEMM kernels in use and the tensor core's
    /// thread count. The worker records it in `done.json` when its stage completes.
    public static func current(cpuinfo: String = "/proc/cpuinfo") -> Provenance {
        let cpu = CPUInfo(path: cpuinfo)
        let core = KernelInfo.blasCore
        return Provenance(codeVersion: CodeVersion.string, commit: BuildCommit.hash, commitModified: BuildCommit.inputsModified,
                          cpu: cpu.model ?? "unknown", cpuFeatures: recordedFeatures.filter(cpu.flags.contains),
                          ownGemmISA: KernelInfo.ownGemmISA, blasCore: core, blasISA: KernelInfo.blasISA(core: core),
                          blasConfig: KernelInfo.blasConfig, threads: Threads.count)
    }
}

/// The first processor's "model name" and "flags" in a `/proc/cpuinfo` file (empty when unreadable).
struct CPUInfo {
    var model: String?
    var flags: Set<String> = []

    init(path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces), value = parts[1].trimmingCharacters(in: .whitespaces)
            if key == "model name", model == nil { model = value }
            if key == "flags", flags.isEmpty { flags = Set(value.split(separator: " ").map(String.init)) }
            if model != nil, !flags.isEmpty { break }
        }
    }
}
