import CBLAS

/// Which kernels compute the products on this machine, for provenance records. Our kernel gives the same
/// bits on every ISA; OpenBLAS (LAPACK in Metrics, test references, `--openblas-only` benchmarks) does not.
public enum KernelInfo {
    /// The ISA of our own GEMM kernel ("avx2+fma", "avx512f", "portable"); nil when every product goes to
    /// OpenBLAS (`GemmDispatch.ownKernel` off, benchmarks only). The ISAs give the same bits, so this
    /// records speed, not numerics.
    public static var ownGemmISA: String? {
        GemmDispatch.ownKernel ? GemmDispatch.isa.provenanceName : nil
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
