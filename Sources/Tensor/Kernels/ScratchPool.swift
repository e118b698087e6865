import Foundation

/// A small pool of reusable, 64-byte aligned Float scratch buffers for kernels (im2col columns,
/// permuted weights, per-thread partial sums).
///
/// Fresh large allocations page-fault on first touch (every 4 KB page costs a kernel trap, which adds
/// up to milliseconds for tens of MB); keeping a handful of buffers alive across calls avoids that. A buffer is
/// checked out for the duration of `withScratch` and returned afterwards; concurrent callers get
/// different buffers (the pool is guarded by a lock), so kernels may check out one buffer per thread.
/// Buffers only grow; `ScratchPool.clear()` frees them.
public enum ScratchPool {
    final class Buffer {
        var ptr: UnsafeMutablePointer<Float>
        var capacity: Int
        init(capacity: Int) {
            self.capacity = max(capacity, 16)
            var raw: UnsafeMutableRawPointer?
            let rc = posix_memalign(&raw, 64, self.capacity * MemoryLayout<Float>.stride)
            precondition(rc == 0 && raw != nil, "ScratchPool: cannot allocate \(capacity) floats")
            ptr = raw!.bindMemory(to: Float.self, capacity: self.capacity)
        }
        deinit { free(ptr) }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free_: [Buffer] = []

    /// Total bytes currently held by idle buffers (for diagnostics).
    public static var idleBytes: Int {
        lock.lock(); defer { lock.unlock() }
        return free_.reduce(0) { $0 + $1.capacity * MemoryLayout<Float>.stride }
    }

    /// Frees every idle buffer.
    public static func clear() {
        lock.lock(); defer { lock.unlock() }
        free_.removeAll()
    }

    static func acquire(_ count: Int) -> Buffer {
        lock.lock()
        // Smallest idle buffer that is large enough; else grow the largest idle one (replace it).
        var best = -1
        for (i, b) in free_.enumerated() where b.capacity >= count {
            if best < 0 || b.capacity < free_[best].capacity { best = i }
        }
        if best >= 0 {
            let b = free_.remove(at: best)
            lock.unlock()
            return b
        }
        if !free_.isEmpty {
            // Drop the largest too-small buffer so the pool does not accumulate dead sizes.
            var largest = 0
            for i in free_.indices where free_[i].capacity > free_[largest].capacity { largest = i }
            free_.remove(at: largest)
        }
        lock.unlock()
        return Buffer(capacity: count)
    }

    static func release(_ b: Buffer) {
        lock.lock()
        free_.append(b)
        lock.unlock()
    }

    /// Runs `body` with an uninitialised scratch buffer of at least `count` floats.
    /// The pointer must not escape `body`.
    @inlinable
    public static func withScratch<R>(_ count: Int, _ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        let b = acquireOpaque(count)
        defer { releaseOpaque(b) }
        return try body(b.pointer)
    }

    /// A checked-out buffer (opaque handle for inlinable callers).
    public struct Handle {
        let buffer: Buffer
        public var pointer: UnsafeMutablePointer<Float> { buffer.ptr }
    }

    public static func acquireOpaque(_ count: Int) -> Handle { Handle(buffer: acquire(count)) }
    public static func releaseOpaque(_ h: Handle) { release(h.buffer) }
}
