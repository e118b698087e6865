import Foundation

/// SHA-256 (FIPS 180-4), written out here rather than taken from swift-crypto: stage identities hash a
/// few kilobytes of canonical JSON per stage (23 µs each here, against 3.5 µs with swift-crypto), and
/// swift-crypto 3.12.3 adds 215 s of CPU to every clean release build (BoringSSL; measured, see
/// docs/architecture.md, "Changes from the starting sketch"). Checked against the FIPS test vectors
/// (SweepTests.testSHA256Vectors).
public enum SHA256 {
    fileprivate static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    /// The digest of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var h = Hasher()
        h.update(bytes)
        return h.finalize()
    }

    /// SHA-256 fed piece by piece, so a long message (a sweep's spec hash covers every trial's configuration:
    /// 200 MB at 100,000 trials) is never held whole.
    public struct Hasher {
        private var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        /// Bytes not yet compressed (fewer than 64).
        private var pending: [UInt8] = []
        private var w = [UInt32](repeating: 0, count: 64)

        /// 64-byte blocks compressed so far.
        private var blocks: UInt64 = 0

        public init() { pending.reserveCapacity(64) }

        public mutating func update<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            if bytes.withContiguousStorageIfAvailable({ update(buffer: $0) }) == nil {
                Array(bytes).withUnsafeBufferPointer { update(buffer: $0) }
            }
        }

        /// Whole blocks straight from the caller's buffer; a partial block waits in `pending`.
        private mutating func update(buffer: UnsafeBufferPointer<UInt8>) {
            guard var p = buffer.baseAddress else { return }
            var n = buffer.count
            if !pending.isEmpty {
                let take = min(64 - pending.count, n)
                pending.append(contentsOf: UnsafeBufferPointer(start: p, count: take))
                p += take; n -= take
                if pending.count < 64 { return }
                compressPending()
                pending.removeAll(keepingCapacity: true)
            }
            while n >= 64 { compress(p); p += 64; n -= 64 }
            pending.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        }

        public mutating func update(_ text: String) { update(text.utf8) }

        private mutating func compressPending() {
            let block = pending
            block.withUnsafeBufferPointer { compress($0.baseAddress!) }
        }

        /// One 64-byte block (FIPS 180-4 §6.2.2). The schedule and the constants are read through unsafe buffers, not
        /// array subscripts (a bounds check per access) and the constants' global accessor per round: hashing is about a
        /// sixth of `plan`'s instructions once its JSON work is memoized (callgrind, issue 29).
        private mutating func compress(_ block: UnsafePointer<UInt8>) {
            blocks &+= 1
            @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            w.withUnsafeMutableBufferPointer { w in
                SHA256.k.withUnsafeBufferPointer { k in
                    for t in 0..<16 {
                        let j = 4 * t
                        w[t] = UInt32(block[j]) << 24 | UInt32(block[j + 1]) << 16 | UInt32(block[j + 2]) << 8 | UInt32(block[j + 3])
                    }
                    for t in 16..<64 {
                        let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                        let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                    }
                    for t in 0..<64 {
                        let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = hh &+ s1 &+ ch &+ k[t] &+ w[t]
                        let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
                    }
                }
            }
            h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d
            h[4] = h[4] &+ e; h[5] = h[5] &+ f; h[6] = h[6] &+ g; h[7] = h[7] &+ hh
        }

        /// The digest (FIPS 180-4 padding: 0x80, zeros to 56 mod 64, the bit length big-endian).
        public mutating func finalize() -> [UInt8] {
            let bitLength = (blocks &* 64 &+ UInt64(pending.count)) &* 8
            pending.append(0x80)
            if pending.count > 56 {
                while pending.count < 64 { pending.append(0) }
                compressPending()
                pending.removeAll(keepingCapacity: true)
            }
            while pending.count < 56 { pending.append(0) }
            for s in stride(from: 56, through: 0, by: -8) { pending.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(s))) }
            compressPending()
            return h.flatMap { v in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> UInt32($0)) } }
        }
    }

    /// Lower-case hexadecimal digest of the UTF-8 bytes of `text`.
    /// (Two digits per byte from a table: `String(format:)` per byte was most of `plan`'s time.)
    public static func hex(_ text: String) -> String {
        var h = Hasher()
        h.update(text)
        return hex(digest: h.finalize())
    }

    public static func hex(digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
