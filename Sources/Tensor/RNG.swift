import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64) that makes runs
/// reproducible bit for bit. Its whole state is four `UInt64`s, saved in checkpoints so a resumed
/// stage draws exactly the numbers an uninterrupted one would.
///
/// Normal variates use the Box–Muller transform in Float64 (both outputs are used, in order).
public struct RNG: RandomNumberGenerator, Sendable, Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)
    /// A second normal variate left over from the last Box–Muller pair, if any.
    public var spareNormal: Double?

    public init(seed: UInt64) {
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
        spareNormal = nil
    }

    /// Restores a generator from `stateWords` (as returned by `stateWords`).
    public init(stateWords w: [UInt64]) {
        precondition(w.count == 5, "RNG state needs 5 words (4 state + spare flag/bits), got \(w.count)")
        state = (w[0], w[1], w[2], w[3])
        spareNormal = w[4] == UInt64.max ? nil : Double(bitPattern: w[4])
    }

    /// The full state as 5 words: xoshiro's 4 words, then the spare normal's bits (UInt64.max if none).
    public var stateWords: [UInt64] {
        [state.0, state.1, state.2, state.3, spareNormal.map { $0.bitPattern } ?? UInt64.max]
    }

    public static func == (a: RNG, b: RNG) -> Bool { a.stateWords == b.stateWords }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<n, unbiased (Lemire's multiply-and-reject; our own so that the
    /// sequence never depends on the standard library's version).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0, "RNG.int(below:) needs n > 0, got \(n)")
        let bound = UInt64(n)
        let threshold = (0 &- bound) % bound
        while true {
            let m = next().multipliedFullWidth(by: bound)
            if m.low >= threshold { return Int(m.high) }
        }
    }

    /// A standard normal variate (Box–Muller on two uniforms; the second value is kept for the next call).
    /// log, sin and cos are `DetMath`'s, so the noise is the same bits on every machine.
    public mutating func normal() -> Double {
        if let s = spareNormal { spareNormal = nil; return s }
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * DetMath.log(u1)).squareRoot()
        let th = 2 * Double.pi * u2
        spareNormal = r * DetMath.sin(th)
        return r * DetMath.cos(th)
    }

    /// Fills `n` standard normals as Float32.
    public mutating func normals(_ n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        for i in 0..<n { out[i] = Float(normal()) }
        return out
    }

    /// Fills `n` uniforms in [lo, hi) as Float32.
    public mutating func uniforms(_ n: Int, _ lo: Float = 0, _ hi: Float = 1) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        let w = Double(hi - lo)
        for i in 0..<n { out[i] = lo + Float(uniform() * w) }
        return out
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates, deterministic for a given state).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = int(below: i + 1)
            p.swapAt(i, j)
        }
        return p
    }
}
