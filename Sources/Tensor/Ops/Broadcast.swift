/// Binary elementwise ops with NumPy broadcasting: add, sub, mul, div.
///
/// Forward: out[i] = a[ia(i)] ∘ b[ib(i)], where ia/ib map an output index to the (possibly
/// broadcast, stride-0) input index. Backward: each input's gradient is the output gradient times
/// the local derivative, summed over the axes along which that input was broadcast.
public enum BinaryOp: Sendable {
    case add, sub, mul, div
    var name: String {
        switch self { case .add: "add"; case .sub: "sub"; case .mul: "mul"; case .div: "div" }
    }
}

/// Strides of `s` viewed inside the broadcast shape `out` (0 along broadcast axes).
func broadcastStrides(_ s: [Int], in out: [Int]) -> [Int] {
    let r = out.count
    var strides = [Int](repeating: 0, count: r)
    var st = 1
    for i in stride(from: s.count - 1, through: 0, by: -1) {
        let oi = i + (r - s.count)
        strides[oi] = s[i] == 1 && out[oi] != 1 ? 0 : st
        st *= s[i]
    }
    return strides
}

/// Calls `body(outStart, aOffset, aStride, bOffset, bStride, n)` for each contiguous run of the
/// innermost axis of `out`, in order. Used by forward and backward of broadcast ops.
func forEachRun(out: [Int], sa: [Int], sb: [Int], _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
    let r = out.count
    if r == 0 { body(0, 0, 0, 0, 0, 1); return }
    let n = out[r - 1]
    let outer = Shape.count(out) / max(n, 1)
    if n == 0 { return }
    var idx = [Int](repeating: 0, count: r)
    var oa = 0, ob = 0
    for o in 0..<outer {
        body(o * n, oa, sa[r - 1], ob, sb[r - 1], n)
        // odometer over axes r-2 ... 0
        var ax = r - 2
        while ax >= 0 {
            idx[ax] += 1; oa += sa[ax]; ob += sb[ax]
            if idx[ax] < out[ax] { break }
            oa -= sa[ax] * out[ax]; ob -= sb[ax] * out[ax]; idx[ax] = 0
            ax -= 1
        }
    }
}

@inline(__always) func apply(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
    switch op { case .add: x + y; case .sub: x - y; case .mul: x * y; case .div: x / y }
}

/// Forward kernel over raw pointers: out = a ∘ b with broadcasting.
func binaryForward(_ op: BinaryOp, out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, aShape: [Int],
                   b: UnsafePointer<Float>, bShape: [Int], outShape: [Int]) {
    let n = Shape.count(outShape)
    if aShape == bShape {
        let o = SendablePtr(out), pa = SendablePtr(a), pb = SendablePtr(b)
        parallelRange(n, minChunk: 1 << 15) { s, e in
            switch op {
            case .add: for i in s..<e { o.p[i] = pa.p[i] + pb.p[i] }
            case .sub: for i in s..<e { o.p[i] = pa.p[i] - pb.p[i] }
            case .mul: for i in s..<e { o.p[i] = pa.p[i] * pb.p[i] }
            case .div: for i in s..<e { o.p[i] = pa.p[i] / pb.p[i] }
            }
        }
        return
    }
    let sa = broadcastStrides(aShape, in: outShape), sb = broadcastStrides(bShape, in: outShape)
    forEachRun(out: outShape, sa: sa, sb: sb) { o0, ia, sta, ib, stb, len in
        for j in 0..<len { out[o0 + j] = apply(op, a[ia + j * sta], b[ib + j * stb]) }
    }
}

/// Sums `g` (shape `outShape`) times the factor `f(i, ia, ib)` into `dst` of shape `dstShape`
/// (the reduction over broadcast axes). `forA` selects which input's index addresses `dst`.
func reduceBroadcastGrad(dst: UnsafeMutablePointer<Float>, forA: Bool, outShape: [Int], aShape: [Int], bShape: [Int],
                         _ term: (Int, Int, Int) -> Float) {
    let sa = broadcastStrides(aShape, in: outShape), sb = broadcastStrides(bShape, in: outShape)
    forEachRun(out: outShape, sa: sa, sb: sb) { o0, ia, sta, ib, stb, len in
        for j in 0..<len {
            let i = o0 + j, xa = ia + j * sta, xb = ib + j * stb
            dst[forA ? xa : xb] += term(i, xa, xb)
        }
    }
}

func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    let outShape = checked { try Shape.broadcast(a.shape, b.shape, op: op.name) }
    let out = Tensor(uninitialized: outShape)
    binaryForward(op, out: out.data, a: a.data, aShape: a.shape, b: b.data, bShape: b.shape, outShape: outShape)
    return out.recording([a, b]) { out, g in
        let go = g.data, pa = a.data, pb = b.data
        let same = a.shape == b.shape
        if a.requiresGrad {
            let da = a.gradBuffer()
            switch op {
            case .add, .sub:
                if same { for i in 0..<out.count { da[i] += go[i] } }
                else { reduceBroadcastGrad(dst: da, forA: true, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, _, _ in go[i] } }
            case .mul:
                reduceBroadcastGrad(dst: da, forA: true, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, _, xb in go[i] * pb[xb] }
            case .div:
                reduceBroadcastGrad(dst: da, forA: true, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, _, xb in go[i] / pb[xb] }
            }
        }
        if b.requiresGrad {
            let db = b.gradBuffer()
            switch op {
            case .add:
                if same { for i in 0..<out.count { db[i] += go[i] } }
                else { reduceBroadcastGrad(dst: db, forA: false, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, _, _ in go[i] } }
            case .sub:
                reduceBroadcastGrad(dst: db, forA: false, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, _, _ in -go[i] }
            case .mul:
                reduceBroadcastGrad(dst: db, forA: false, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, xa, _ in go[i] * pa[xa] }
            case .div:
                // d(a/b)/db = −a/b²
                reduceBroadcastGrad(dst: db, forA: false, outShape: outShape, aShape: a.shape, bShape: b.shape) { i, xa, xb in
                    -go[i] * pa[xa] / (pb[xb] * pb[xb])
                }
            }
        }
    }
}

public func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
public func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
public func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
public func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
