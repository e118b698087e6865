// The integrity checksum stored in every checkpoint as root attribute `rdd_checksum`.
//
// Format version 1: CRC-32 (zlib's, the same as Python's `zlib.crc32`) over this byte stream, for
// every dataset in increasing order of the UTF-8 bytes of its name:
//
//     name (UTF-8) · 0x00 · dtype name ("float32" | "float64" | "int64", ASCII) · 0x00 ·
//     rank (UInt64 little-endian) · each extent (UInt64 little-endian) ·
//     the elements, row-major, little-endian
//
// It detects accidental corruption (flipped bits, a dataset edited or deleted, a file cut short
// whose metadata still opens), not deliberate tampering. Names and shapes are included so that a
// renamed or reshaped dataset is caught too. docs/checkpoint-format.md repeats this definition,
// and scripts/check_checkpoint_h5py.py implements it independently in Python.

import CZlib

/// Incremental CRC-32 over the canonical stream above.
struct CheckpointChecksum {
    private(set) var value: UInt32 = 0

    private mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard var base = bytes.baseAddress?.assumingMemoryBound(to: Bytef.self) else { return }
        var remaining = bytes.count
        // zlib's `crc32` takes a 32-bit length; feed large arrays in 1 GiB pieces.
        while remaining > 0 {
            let n = min(remaining, 1 << 30)
            value = UInt32(truncatingIfNeeded: crc32(uLong(value), base, uInt(n)))
            base += n
            remaining -= n
        }
    }

    private mutating func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { feed($0) } }

    private mutating func feedLittleEndian(_ x: UInt64) {
        withUnsafeBytes(of: x.littleEndian) { feed($0) }
    }

    /// Adds one dataset's header and elements.
    mutating func add(name: String, value array: ArrayValue) {
        feed(Array(name.utf8) + [0] + Array(array.dtype.rawValue.utf8) + [0])
        feedLittleEndian(UInt64(array.shape.count))
        for d in array.shape { feedLittleEndian(UInt64(d)) }
        switch array.storage {
        case .float32(let v): feedElements(v) { $0.bitPattern }
        case .float64(let v): feedElements(v) { $0.bitPattern }
        case .int64(let v): feedElements(v) { $0 }
        }
    }

    /// Feeds elements as little-endian bytes: on little-endian hosts the memory itself (no copy),
    /// elsewhere a byte-swapped copy of their bit patterns.
    private mutating func feedElements<T, B: FixedWidthInteger>(_ v: [T], _ bits: (T) -> B) {
        #if _endian(little)
        v.withUnsafeBytes { feed($0) }
        #else
        v.map { bits($0).littleEndian }.withUnsafeBytes { feed($0) }
        #endif
    }

    /// The checksum of a whole set of arrays (sorted by UTF-8 name bytes, as the format requires).
    static func of(_ arrays: [String: ArrayValue]) -> UInt32 {
        var sum = CheckpointChecksum()
        for name in sortedByUTF8(arrays.keys) { sum.add(name: name, value: arrays[name]!) }
        return sum.value
    }
}

/// Sorts names by their UTF-8 bytes, which is also Python's `sorted()` order on `str` (code point
/// order), unlike Swift's `String <`, which compares canonically-equivalent Unicode.
func sortedByUTF8<S: Sequence>(_ names: S) -> [String] where S.Element == String {
    names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
}
