/// SHA-1 (FIPS 180-4), used only to recognise the one published weight file (`default_1.pt`,
/// sha1 a16e4d89c0ecbc17a915dd76ea9e41211aa82562) before converting it: not for security.
public enum SHA1 {
    /// The 40-character lowercase hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        digest(bytes).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
    }

    /// The 20-byte digest of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        let bitLength = UInt64(bytes.count) * 8
        // Padding: 0x80, zeros to 56 mod 64, then the 64-bit big-endian bit length.
        var tail = Array(bytes[(bytes.count - bytes.count % 64)...])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i)))) }
        var w = [UInt32](repeating: 0, count: 80)
        func block(_ p: UnsafeRawBufferPointer, _ base: Int) {
            for t in 0..<16 {
                w[t] = UInt32(p[base + 4 * t]) << 24 | UInt32(p[base + 4 * t + 1]) << 16
                    | UInt32(p[base + 4 * t + 2]) << 8 | UInt32(p[base + 4 * t + 3])
            }
            for t in 16..<80 { w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
            var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4]
            for t in 0..<80 {
                let f: UInt32, k: UInt32
                switch t {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                default: f = b ^ c ^ d; k = 0xCA62_C1D6
                }
                let tmp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
                e = d; d = c; c = rotl(b, 30); b = a; a = tmp
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
        bytes.withUnsafeBytes { p in
            var base = 0
            while base + 64 <= bytes.count { block(p, base); base += 64 }
        }
        tail.withUnsafeBytes { p in
            var base = 0
            while base < tail.count { block(p, base); base += 64 }
        }
        return h.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
    }

    @inline(__always) private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
}
