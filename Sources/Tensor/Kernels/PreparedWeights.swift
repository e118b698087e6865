import Foundation

/// Convolution weights prepared for our GEMM — Winograd-transformed and/or permuted, then packed into the
/// kernel's B layout — kept from one call to the next while the weight's values do not change.
///
/// Why: sampling, evaluation and feature extraction run every layer many times with the same weights, and
/// preparing a weight per call cost up to 44% of a 256-channel 4×4 layer's forward + backward on the AVX-512
/// Xeon (perf; docs/benchmarks.md, "Session 14").
///
/// Correctness does not depend on anyone telling the cache that a weight changed. An entry is found by the
/// weight's address and the prepared form, and used only when the weight's current values equal, byte for
/// byte (`memcmp`), the copy taken when the entry was prepared. An optimiser step, a checkpoint load, an EMA
/// update or a freed and reused address all fail that comparison, and the weight is prepared again. The
/// prepared floats are a function of the weight's bits only (the same operations in the same order), so a hit
/// gives exactly the bits a fresh preparation gives: no number changes.
///
/// Memory: an entry holds the copy and the prepared floats. Entries are kept while the total stays within
/// `Conv2dTuning.preparedWeightBytes`; a preparation that would exceed it runs into scratch memory, as before
/// the cache, and is not kept. Nothing is evicted to make room: a model's layers are used in a cycle, and
/// evicting the least recently used entry would evict every entry just before its next use. An entry whose
/// weight changed is replaced by the new preparation (training: one miss per layer and step, which costs a
/// copy of the weight on top of the preparation it always did).
enum PreparedWeights {
    /// What was prepared from the weight (with every dimension it depends on).
    enum Form: Hashable {
        /// The 16 Winograd-transformed matrices, packed (`Winograd.packWeight`).
        case winograd(cin: Int, cout: Int, flipped: Bool)
        /// A lowered convolution's Cout × K weight (permuted from (Cout, Cin, k, k) when `permuted`), packed
        /// per part as `ConvPlan.packWeight` does.
        case lowered(n: Int, k: Int, parts: Int, permuted: Bool)
    }

    struct Key: Hashable {
        let address: UInt
        let count: Int
        let form: Form
    }

    final class Entry {
        let copy: UnsafeMutablePointer<Float>
        let count: Int
        let prepared: UnsafeMutablePointer<Float>
        let preparedCount: Int

        init(copying w: UnsafePointer<Float>, count: Int, preparedCount: Int) {
            self.count = count
            self.preparedCount = preparedCount
            copy = Entry.allocate(count)
            prepared = Entry.allocate(preparedCount)
            copy.update(from: w, count: count)
        }

        static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
            var raw: UnsafeMutableRawPointer?
            let bytes = max(64, n * MemoryLayout<Float>.stride)
            let rc = posix_memalign(&raw, 64, bytes)
            precondition(rc == 0 && raw != nil, "PreparedWeights: cannot allocate \(bytes) bytes (posix_memalign returned \(rc))")
            return raw!.bindMemory(to: Float.self, capacity: max(1, n))
        }

        var bytes: Int { (count + preparedCount) * MemoryLayout<Float>.stride }

        deinit { free(copy); free(prepared) }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var entries: [Key: Entry] = [:]
    nonisolated(unsafe) private static var heldBytes = 0
    nonisolated(unsafe) private static var counts = (hits: 0, misses: 0)

    /// Hits and misses since the last `clear()` (tests and benchmarks).
    static var statistics: (hits: Int, misses: Int) { lock.lock(); defer { lock.unlock() }; return counts }

    /// Bytes held by the entries.
    static var bytes: Int { lock.lock(); defer { lock.unlock() }; return heldBytes }

    /// Drops every entry and zeroes the counters.
    static func clear() {
        lock.lock(); defer { lock.unlock() }
        entries.removeAll()
        heldBytes = 0
        counts = (0, 0)
    }

    /// Runs `body` with the `floats` prepared floats of the weight `w` (`count` floats) in `form`: the kept ones
    /// when `w` still holds the values they were prepared from, else fresh ones written by `prepare`.
    static func with<R>(_ w: UnsafePointer<Float>, count: Int, form: Form, floats: Int,
                        prepare: (UnsafeMutablePointer<Float>) -> Void,
                        _ body: (UnsafePointer<Float>) -> R) -> R {
        let key = Key(address: UInt(bitPattern: w), count: count, form: form)
        let budget = Conv2dTuning.preparedWeightBytes
        lock.lock()
        let old = entries[key]
        lock.unlock()
        // The entry stays alive while `e` holds it, even if another thread replaces it meanwhile.
        if let e = old, e.preparedCount == floats, memcmp(e.copy, w, count * MemoryLayout<Float>.stride) == 0 {
            lock.lock(); counts.hits += 1; lock.unlock()
            return body(e.prepared)
        }
        let need = (count + floats) * MemoryLayout<Float>.stride
        lock.lock()
        counts.misses += 1
        let fits = heldBytes - (old?.bytes ?? 0) + need <= budget
        lock.unlock()
        guard fits else {
            return ScratchPool.withScratch(floats) { p in
                prepare(p)
                return body(UnsafePointer(p))
            }
        }
        let e = Entry(copying: w, count: count, preparedCount: floats)
        prepare(e.prepared)
        lock.lock()
        let current = entries[key]
        if heldBytes - (current?.bytes ?? 0) + e.bytes <= budget {
            heldBytes += e.bytes - (current?.bytes ?? 0)
            entries[key] = e
        }
        lock.unlock()
        return body(UnsafePointer(e.prepared))
    }
}
