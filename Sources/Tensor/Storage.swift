import Foundation

/// Reference-counted, 64-byte aligned Float32 memory shared by tensors that are views of one
/// another (reshape shares storage; every other op writes a new one).
public final class Storage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// Uninitialised memory for `count` floats (callers overwrite every element).
    public init(uninitialized count: Int) {
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
