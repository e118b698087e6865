import Tensor
import XCTest

// The kernel-path switching of the bit-identity tests, once (duplicates D1: about ten test files carried their
// own copy). A kernel test compares one computation across the instruction-set paths this CPU can run
// (`KernelISA`: the portable loops, AVX2+FMA, AVX-512F, and the AVX-512 tiling emulated on AVX2 registers) and
// across thread counts; every comparison must leave the process-wide selection (`GemmDispatch.isa`,
// `Threads.count`) as it found it, or a later test would silently run on the wrong path.

/// The kernel paths this CPU runs, in the order a test compares them (the portable loops first: they are the
/// reference the vector paths must match bit for bit). `emulated` adds `.avx512Emulated` — the AVX-512 tiling
/// on AVX2 registers, which lets an AVX2-only machine check the AVX-512 accumulation order.
public func supportedKernelPaths(emulated: Bool = false) -> [KernelISA] {
    (emulated ? [KernelISA.portable, .avx2, .avx512, .avx512Emulated] : [KernelISA.portable, .avx2, .avx512])
        .filter(\.isSupported)
}

/// Runs `body` with `isa` selected and, when given, `threads` worker threads; both settings are restored after,
/// also when `body` throws. Throws when the CPU cannot run `isa` (callers pass `supportedKernelPaths()`).
public func withKernelPath<R>(_ isa: KernelISA, threads: Int? = nil, _ body: () throws -> R) throws -> R {
    try preservingKernelSelection {
        try GemmDispatch.select(isa)
        if let threads { Threads.set(threads) }
        return try body()
    }
}

/// Runs `body`, which may select kernel paths and thread counts itself (a loop over paths), and restores the
/// selection and thread count it found.
public func preservingKernelSelection<R>(_ body: () throws -> R) rethrows -> R {
    let savedISA = GemmDispatch.isa, savedThreads = Threads.count
    defer {
        try? GemmDispatch.select(savedISA)   // was selected before, so the CPU runs it: cannot fail
        Threads.set(savedThreads)
    }
    return try body()
}

/// The exact bits of each element: `XCTAssertEqual` on these compares −0 with 0 and NaN payloads, which `==` on
/// floats does not.
public func bitPatterns(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// A test case whose tests may select kernel paths and thread counts freely (`try GemmDispatch.select(isa)` in
/// a loop over `supportedKernelPaths()`): the selection and thread count found before each test are restored after
/// it, whether it passes, fails, throws or skips.
open class KernelPathTestCase: XCTestCase {
    private var saved: (isa: KernelISA, threads: Int)?

    override open func setUp() {
        super.setUp()
        saved = (GemmDispatch.isa, Threads.count)
    }

    override open func tearDown() {
        if let saved {
            try? GemmDispatch.select(saved.isa)   // was selected before the test, so the CPU runs it: cannot fail
            Threads.set(saved.threads)
        }
        super.tearDown()
    }
}
