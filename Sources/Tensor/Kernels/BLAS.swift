import CBLAS
import CGemm
import Foundation

/// The instruction set of our GEMM micro-kernel (`CGemm`). All of them give the same bits: each output
/// element is accumulated in one fixed order (Sources/CGemm/gemm.c, docs/architecture.md).
public enum KernelISA: String, CaseIterable, Sendable {
    /// One element at a time with `fmaf` (any x86-64; slow, the reference of the order).
    case portable
    /// AVX2 + FMA: 6×16 tiles in ymm registers.
    case avx2
    /// AVX-512F: up to 12×32 tiles in zmm registers.
    case avx512
    /// The AVX-512 tiling run on pairs of AVX2 registers: tests only (bit-identity of that tiling on CPUs
    /// without AVX-512F); never selected automatically and not accepted from `RDD_KERNELS`.
    case avx512Emulated = "avx512-emulated"

    var code: Int32 {
        switch self {
        case .portable: return Int32(RDD_GEMM_PORTABLE)
        case .avx2: return Int32(RDD_GEMM_AVX2)
        case .avx512: return Int32(RDD_GEMM_AVX512)
        case .avx512Emulated: return Int32(RDD_GEMM_AVX512_EMULATED)
        }
    }

    init(code: Int32) {
        self = KernelISA.allCases.first { $0.code == code } ?? .portable
    }

    /// Whether this CPU (cpuid, and the OS for the zmm state) can run it.
    public var isSupported: Bool { rdd_gemm_supported(code) != 0 }

    /// The widest ISA this CPU supports (what `RDD_KERNELS=auto` selects).
    public static var best: KernelISA { KernelISA(code: rdd_gemm_best()) }

    /// The name recorded in provenance ("avx2+fma" as before this change, so old records still compare).
    public var provenanceName: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2+fma"
        case .avx512: return "avx512f"
        case .avx512Emulated: return "avx512-emulated"
        }
    }
}

/// A refused kernel selection: `RDD_KERNELS` (or `GemmDispatch.select`) asked for something unknown or
/// for an ISA this CPU lacks.
public struct KernelSelectionError: Error, CustomStringConvertible, Equatable {
    public let description: String
}

/// Which GEMM runs a product: our kernel on the ISA chosen at start-up, or (benchmarks only) OpenBLAS.
public enum GemmDispatch {
    /// The environment variable that overrides the ISA: `avx2`, `avx512`, `portable` or `auto` (unset =
    /// auto = the widest the CPU supports). Results are the same bits on every ISA; the variable is for
    /// comparing speed and for tests.
    public static let environmentVariable = "RDD_KERNELS"

    /// Every product on our kernel (true). False sends them to OpenBLAS — `rdd-bench --openblas-only`
    /// comparisons only: OpenBLAS chooses its kernels per CPU, so its results depend on the machine.
    nonisolated(unsafe) public static var ownKernel: Bool = true
    /// ... including Aᵀ·B (the convolutions' weight gradients); benchmarks only, as `ownKernel`.
    nonisolated(unsafe) public static var ownKernelTransposedA: Bool = true

    /// The ISA from `RDD_KERNELS` (nil when unset or `auto`), or the error that refuses it.
    public static func parse(_ value: String?) throws -> KernelISA? {
        guard let raw = value?.trimmingCharacters(in: .whitespaces), !raw.isEmpty, raw.lowercased() != "auto" else { return nil }
        guard let isa = KernelISA(rawValue: raw.lowercased()), isa != .avx512Emulated else {
            throw KernelSelectionError(description: "\(environmentVariable)=\(raw): unknown kernel set; expected avx2, avx512, portable or auto")
        }
        guard isa.isSupported else {
            let missing = isa == .avx512 ? "AVX-512F" : "AVX2 and FMA"
            throw KernelSelectionError(description: "\(environmentVariable)=\(raw): this CPU lacks \(missing) (cpuid); use \(environmentVariable)=auto (selects \(KernelISA.best.rawValue))")
        }
        return isa
    }

    /// The choice from the environment, made once before the first product; a refused value stops the
    /// process with the message (a run must not silently use another kernel than the one asked for).
    private static let fromEnvironment: Void = {
        do {
            let isa = try parse(ProcessInfo.processInfo.environment[environmentVariable]) ?? KernelISA.best
            _ = rdd_gemm_select(isa.code)
        } catch {
            fatalError("\(error)")
        }
    }()

    /// The ISA our kernel runs on.
    public static var isa: KernelISA {
        _ = fromEnvironment
        return KernelISA(code: rdd_gemm_selected())
    }

    /// Selects the ISA for every later product (tests and benchmarks); throws when the CPU lacks it.
    public static func select(_ isa: KernelISA) throws {
        _ = fromEnvironment
        guard rdd_gemm_select(isa.code) != 0 else {
            throw KernelSelectionError(description: "kernel set \(isa.rawValue): this CPU lacks it (cpuid)")
        }
    }

    /// Our kernel for every product (any shape, alpha, beta, op(B)) unless a benchmark switched it off, for all
    /// products or for Aᵀ·B only. The choice depends on nothing else (not on M, so splitting rows of C over threads
    /// never changes the kernel).
    @inline(__always)
    static func useOwn(transA: Bool) -> Bool {
        ownKernel && (!transA || ownKernelTransposedA)
    }
}

/// Row-major single-precision GEMM: C = alpha · op(A) · op(B) + beta · C on our kernel (OpenBLAS only
/// when a benchmark set `GemmDispatch.ownKernel = false`).
///
/// `A` is M×K after `op` (stored K×M when `transA`), `B` is K×N after `op`, `C` is M×N.
/// Leading dimensions default to the dense row-major ones.
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                  b: UnsafePointer<Float>, ldb: Int? = nil,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    if m == 0 || n == 0 { return }
    let lda = lda ?? (transA ? m : k)
    let ldb = ldb ?? (transB ? k : n)
    let ldc = ldc ?? n
    if GemmDispatch.useOwn(transA: transA) {
        _ = GemmDispatch.isa   // the RDD_KERNELS choice, once
        rdd_sgemm_ex(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Sets OpenBLAS to one thread while `body` runs (callers run sgemm concurrently on their own chunks).
///
/// Every hot product of training runs this way, parallelised above BLAS: after a multi-threaded call
/// OpenBLAS's worker thread spin-waits (`sched_yield`) for ~0.1 s and competes with our own workers
/// (measured: ~9% of a `small` U-Net step before this change, docs/benchmarks.md).
@inlinable
public func withSingleThreadedBLAS<R>(_ body: () -> R) -> R {
    let t = Threads.count
    if t > 1 { openblas_set_num_threads(1) }
    defer { if t > 1 { openblas_set_num_threads(Int32(t)) } }
    return body()
}

/// `sgemm` split by rows of C over `Threads.count` workers, each a single-threaded call.
///
/// Row blocks of C are independent products (row i of C uses row i of op(A) only), so the result is
/// the same as one call's for any split: our kernel's order over K does not depend on M.
public func sgemmParallel(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
                          b: UnsafePointer<Float>, ldb: Int? = nil,
                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil) {
    let lda = lda ?? (transA ? m : k), ldb = ldb ?? (transB ? k : n), ldc = ldc ?? n
    // Below ~1 MFLOP per thread the split costs more than it gains.
    let parts = min(Threads.count, max(1, (m * n * k) / (1 << 19)), max(1, m / 16))
    let pa = SendablePtr(a), pb = SendablePtr(b), pc = SendablePtr(c)
    withSingleThreadedBLAS {
        parallelRange(m, minChunk: (m + parts - 1) / parts) { r0, r1 in
            // Rows r0..<r1 of op(A): row offset r0·lda when stored M×K, column offset r0 when stored K×M.
            let aBlock = transA ? pa.p + r0 : pa.p + r0 * lda
            sgemm(transA: transA, transB: transB, m: r1 - r0, n: n, k: k, alpha: alpha, a: aBlock, lda: lda,
                  b: pb.p, ldb: ldb, beta: beta, c: pc.p + r0 * ldc, ldc: ldc)
        }
    }
}

/// op(B) packed once (`packBForOwnKernel`) for several products A·op(B) on our kernel with the same B
/// and the same N, K — a convolution's weight, shared by all its row chunks — so no chunk repacks it.
/// Floats needed for a packed K×N op(B) (a 64-byte aligned buffer of this size).
public func packedBFloats(n: Int, k: Int) -> Int { rdd_packed_b_floats(n, k) }

/// Packs op(B) (K×N; B is N×K with `transB`) for `sgemmPackedB`. Only when `GemmDispatch.useOwn(transA: false)`
/// holds (the products A·op(B) run on our kernel).
public func packBForOwnKernel(transB: Bool, n: Int, k: Int, b: UnsafePointer<Float>, ldb: Int, into dst: UnsafeMutablePointer<Float>) {
    rdd_pack_b(transB ? 1 : 0, n, k, b, ldb, dst)
}

/// C = A·op(B) + beta·C with op(B) from `packBForOwnKernel` (same n, k): the same bits as `sgemm`
/// on our kernel.
public func sgemmPackedB(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, packedB: UnsafePointer<Float>,
                         beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    rdd_sgemm_packed(m, n, k, a, lda, packedB, beta, c, ldc)
}

/// C = A·op(B) + bias (the row `bias`, n floats, added to every row of C) with op(B) from `packBForOwnKernel`:
/// the same bits as C prefilled with the bias rows and `sgemmPackedB` with beta 1, one pass over C fewer.
public func sgemmPackedB(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, packedB: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int) {
    rdd_sgemm_packed_bias(m, n, k, a, lda, packedB, bias, c, ldc)
}

/// Our kernel directly, whatever `GemmDispatch.ownKernel` says (tests and benchmarks):
/// C = alpha·op(A)·op(B) + beta·C on the selected ISA.
public func sgemmOwnKernel(transA: Bool = false, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                           b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    _ = GemmDispatch.isa
    rdd_sgemm_ex(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
