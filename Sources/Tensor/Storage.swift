import Foundation

/// Reference-counted, 64-byte aligned Float32 memory shared by tensors that are views of one
/// another (reshape shares storage; every other op writes a new one).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Keeps freed blocks in the heap instead of returning them to the kernel: without this, glibc
    /// serves every large activation buffer with a fresh mmap and the first touch of each page
    /// faults (measured: ~25% of a training step's wall time as system time). Set once per process.
    static let allocatorConfigured: Bool = {
        // glibc's mallopt (not exported by Swift's Glibc module): M_MMAP_THRESHOLD = −3, M_TRIM_THRESHOLD = −1.
        // glibc refuses an mmap threshold above HEAP_MAX_SIZE/2 = 32 MiB (returns 0 and leaves it at
        // 128 KiB — while setting the trim threshold also switches off its dynamic raising, so every
        // buffer > 128 KiB would be a fresh mmap): use the largest accepted value. Buffers above 32 MiB
        // are still mmapped; measured page faults per `small` training step fell from ~30k to ~14k.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        let mallopt = unsafeBitCast(sym, to: Mallopt.self)
        let mmapSet = mallopt(-3, 32 << 20)
        let trimSet = mallopt(-1, 1 << 30)
        return mmapSet == 1 && trimSet == 1
    }()

    /// Uninitialised memory for `count` floats (callers overwrite every element).
    public init(uninitialized count: Int) {
        _ = Storage.allocatorConfigured
        self.count = count
        var raw: UnsafeMutableRawPointer?
        let bytes = max(64, count * MemoryLayout<Float>.stride)
        let rc = posix_memalign(&raw, 64, bytes)
        precondition(rc == 0 && raw != nil, "Storage: cannot allocate \(bytes) bytes (posix_memalign returned \(rc))")
        pointer = raw!.bindMemory(to: Float.self, capacity: max(1, count))
    }

    /// Zero-filled memory.
    public convenience init(zeros count: Int) {
        self.init(uninitialized: count)
        pointer.initialize(repeating: 0, count: count)
    }

    deinit { free(pointer) }
}
