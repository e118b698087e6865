import Tensor

/// An NHWC activation, or a channel slice of one: `c` channels starting at `offset` inside pixels of
/// `ld` floats. Blocks allocate their concatenated output once and let each branch's last layer
/// (or pool) write straight into its slice, so no concatenation copy is made.
struct FeatureMap {
    let owner: Tensor
    let offset: Int
    let b, h, w, c, ld: Int

    /// A fresh (uninitialised) map.
    init(b: Int, h: Int, w: Int, c: Int) {
        owner = Tensor(uninitialized: [b, h, w, c])
        offset = 0
        self.b = b; self.h = h; self.w = w; self.c = c; ld = c
    }

    /// A whole NHWC tensor.
    init(_ t: Tensor) {
        owner = t; offset = 0
        b = t.shape[0]; h = t.shape[1]; w = t.shape[2]; c = t.shape[3]; ld = c
    }

    private init(owner: Tensor, offset: Int, b: Int, h: Int, w: Int, c: Int, ld: Int) {
        self.owner = owner; self.offset = offset; self.b = b; self.h = h; self.w = w; self.c = c; self.ld = ld
    }

    var pointer: UnsafeMutablePointer<Float> { owner.data + offset }

    /// Channels `start ..< start + count` of this map (shares memory).
    func slice(_ start: Int, _ count: Int) -> FeatureMap {
        precondition(start >= 0 && count > 0 && start + count <= c, "FeatureMap.slice \(start)+\(count) of \(c) channels")
        return FeatureMap(owner: owner, offset: offset + start, b: b, h: h, w: w, c: count, ld: ld)
    }

    /// Copies the values of `src` (same b, h, w, c; either may be a slice) into this map.
    func copy(from src: FeatureMap) {
        precondition(src.b == b && src.h == h && src.w == w && src.c == c, "FeatureMap.copy: shapes differ")
        let d = SendablePtr(pointer), s = SendablePtr(src.pointer)
        let (ldD, ldS, n) = (ld, src.ld, c)
        parallelRange(b * h * w, minChunk: 1024) { p0, p1 in
            for q in p0..<p1 { (d.p + q * ldD).update(from: s.p + q * ldS, count: n) }
        }
    }

    /// 3×3 average pool, stride 1, padding 1, count_include_pad = False.
    func avgPool3x3() -> FeatureMap {
        let y = FeatureMap(b: b, h: h, w: w, c: c)
        avgPool2dForward(y.pointer, ldOut: y.ld, pointer, ldIn: ld, batch: b, height: h, width: w, channels: c,
                         kernel: 3, stride: 1, padding: 1, countIncludePad: false)
        return y
    }

    /// 3×3 max pool with the given stride and padding, into `into` (a slice) or a new map.
    @discardableResult
    func maxPool3x3(stride s: Int, padding p: Int, into: FeatureMap? = nil) -> FeatureMap {
        let ho = pool2dOutputSize(h, kernel: 3, stride: s, padding: p), wo = pool2dOutputSize(w, kernel: 3, stride: s, padding: p)
        let y = into ?? FeatureMap(b: b, h: ho, w: wo, c: c)
        precondition(y.h == ho && y.w == wo && y.c == c && y.b == b, "maxPool3x3: output slice has the wrong shape")
        maxPool2dForward(y.pointer, ldOut: y.ld, pointer, ldIn: ld, batch: b, height: h, width: w, channels: c,
                         kernel: 3, stride: s, padding: p)
        return y
    }

    /// Per-channel mean over the spatial positions, accumulated in Float64: (B, C).
    func channelMeans() -> Tensor {
        let out = Tensor(uninitialized: [b, c])
        var acc = [Double](repeating: 0, count: c)
        for bb in 0..<b {
            for k in 0..<c { acc[k] = 0 }
            for q in 0..<(h * w) {
                let row = pointer + (bb * h * w + q) * ld
                for k in 0..<c { acc[k] += Double(row[k]) }
            }
            for k in 0..<c { out.data[bb * c + k] = Float(acc[k] / Double(h * w)) }
        }
        return out
    }
}
