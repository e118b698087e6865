import Foundation
import CBLAS
import CGemm

/// Thread settings for the whole process: OpenBLAS threads for matrix products and our own
/// parallel loops for elementwise, im2col and normalisation kernels.
///
/// Results are bit-reproducible at a fixed thread count: every parallel loop splits its range into
/// the same contiguous chunks for a given count and no reduction crosses a chunk boundary in a
/// thread-dependent order.
public enum Threads {
    nonisolated(unsafe) private static var _count: Int = defaultCount()

    /// The number of threads used by kernels (≥ 1). Defaults to `RDD_THREADS`, else the core count.
    public static var count: Int { _count }

    /// Sets the number of threads for OpenBLAS and for our own loops.
    public static func set(_ n: Int) {
        _count = max(1, n)
        openblas_set_num_threads(Int32(_count))
    }

    static func defaultCount() -> Int {
        let n = ProcessInfo.processInfo.environment["RDD_THREADS"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } ?? availableCores()
        openblas_set_num_threads(Int32(n))
        return n
    }

    /// The CPUs this process may run on: its affinity mask (`taskset`, cgroup cpusets, Slurm's
    /// `--cpus-per-task` binding), which `ProcessInfo.activeProcessorCount` ignores on Linux.
    public static func availableCores() -> Int {
        let n = Int(rdd_available_cpus())
        if n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// A raw pointer that may cross into `concurrentPerform` closures. Kernels write disjoint ranges.
public struct SendablePtr<T>: @unchecked Sendable {
    public let p: UnsafeMutablePointer<T>
    @inlinable public init(_ p: UnsafeMutablePointer<T>) { self.p = p }
    @inlinable public init(_ p: UnsafePointer<T>) { self.p = UnsafeMutablePointer(mutating: p) }
}

/// Runs `body(start, end)` over `0..<n` split into `Threads.count` contiguous chunks (fewer when the
/// work is small: `minChunk` is the least number of items worth a thread). Chunk boundaries depend
/// only on `n`, `minChunk` and the thread count, so results are deterministic.
@inlinable
public func parallelRange(_ n: Int, minChunk: Int = 4096, _ body: (Int, Int) -> Void) {
    if n <= 0 { return }
    let t = min(Threads.count, max(1, n / max(1, minChunk)))
    if t <= 1 { body(0, n); return }
    let chunk = (n + t - 1) / t
    withoutActuallyEscaping(body) { b in
        DispatchQueue.concurrentPerform(iterations: t) { i in
            let s = i * chunk
            let e = min(n, s + chunk)
            if s < e { b(s, e) }
        }
    }
}
