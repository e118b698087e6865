import CBLAS

/// Which kernels compute the products on this machine, for provenance records: numbers are
/// bit-identical only when the same kernels ran (they sum in different orders, so round differently).
public enum KernelInfo {
    /// The ISA of our own GEMM kernel when `sgemm` dispatches to it ("avx2+fma"); nil when every product
    /// goes to OpenBLAS (the CPU lacks AVX2/FMA, or `GemmDispatch.ownKernel` is off).
    public static var ownGemmISA: String? {
        GemmDispatch.ownKernel && GemmDispatch.ownKernelAvailable ? "avx2+fma" : nil
    }

    /// `openblas_get_corename()`: the kernel set OpenBLAS's dynamic dispatch chose for this CPU.
    public static var blasCore: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// `openblas_get_config()`: OpenBLAS's version and build options.
    public static var blasConfig: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }

    /// The widest vector ISA the kernels of an OpenBLAS core use, from the core names of OpenBLAS's
    /// dynamic dispatch (driver/others/dynamic.c; compared lower-cased); nil for a name not listed.
    public static func blasISA(core: String) -> String? {
        switch core.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return "avx512"
        case "haswell", "zen", "excavator": return "avx2+fma"
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return "avx"
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "athlon", "opteron", "opteron_sse3", "barcelona", "nano":
            return "sse"
        default: return nil
        }
    }
}
