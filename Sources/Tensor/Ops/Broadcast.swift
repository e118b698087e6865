/// Binary elementwise ops with NumPy broadcasting: add, sub, mul, div.
///
/// Forward: out[i] = a[ia(i)] ∘ b[ib(i)], where ia/ib map an output index to the (possibly
/// broadcast, stride-0) input index. Backward: each input's gradient is the output gradient times
/// the local derivative, summed over the axes along which that input was broadcast.
///
/// Speed: the work is cut into runs along the innermost axis, on which each input's stride is 1
/// (contiguous) or 0 (broadcast). Every (op, stride pattern) gets its own loop with the broadcast
/// value hoisted (generic helpers over `BinaryFunction`/`GradTerm`, specialised by the optimiser), so
/// the loops vectorise; the previous per-element closure calls were ~2% of a U-Net training step
/// (the time-embedding add h + temb[b, 1, 1, c] and its backward, docs/benchmarks.md). Forward, and
/// backward into an input of the output's shape, run in parallel over runs (disjoint outputs);
/// backward into a broadcast input is a reduction and stays sequential, in the same order as before.
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
/// innermost axis of `out` with run index in `runs` (all runs by default), in order.
func forEachRun(out: [Int], sa: [Int], sb: [Int], runs: Range<Int>? = nil, _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
    let r = out.count
    if r == 0 { body(0, 0, 0, 0, 0, 1); return }
    let n = out[r - 1]
    if n == 0 { return }
    let outer = Shape.count(out) / n
    let range = runs ?? 0..<outer
    if range.isEmpty { return }
    // Multi-index of the first run (axes 0 ... r−2) and the inputs' offsets there.
    var idx = [Int](repeating: 0, count: r)
    var oa = 0, ob = 0, rest = range.lowerBound
    for ax in stride(from: r - 2, through: 0, by: -1) {
        idx[ax] = rest % out[ax]; rest /= out[ax]
        oa += idx[ax] * sa[ax]; ob += idx[ax] * sb[ax]
    }
    for o in range {
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

protocol BinaryFunction { static func f(_ x: Float, _ y: Float) -> Float }
enum AddFn: BinaryFunction { @inline(__always) static func f(_ x: Float, _ y: Float) -> Float { x + y } }
enum SubFn: BinaryFunction { @inline(__always) static func f(_ x: Float, _ y: Float) -> Float { x - y } }
enum MulFn: BinaryFunction { @inline(__always) static func f(_ x: Float, _ y: Float) -> Float { x * y } }
enum DivFn: BinaryFunction { @inline(__always) static func f(_ x: Float, _ y: Float) -> Float { x / y } }

/// out[j] = f(a[j·sa], b[j·sb]) for j < n, strides 0 or 1.
@inline(__always)
func binaryRun<F: BinaryFunction>(_: F.Type, _ o: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ sa: Int,
                                  _ b: UnsafePointer<Float>, _ sb: Int, _ n: Int) {
    if sa != 0 && sb != 0 { for j in 0..<n { o[j] = F.f(a[j], b[j]) } }
    else if sa != 0 { let y = b[0]; for j in 0..<n { o[j] = F.f(a[j], y) } }
    else if sb != 0 { let x = a[0]; for j in 0..<n { o[j] = F.f(x, b[j]) } }
    else { let v = F.f(a[0], b[0]); for j in 0..<n { o[j] = v } }
}

/// Forward kernel over raw pointers: out = a ∘ b with broadcasting.
func binaryForward(_ op: BinaryOp, out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, aShape: [Int],
                   b: UnsafePointer<Float>, bShape: [Int], outShape: [Int]) {
    let n = Shape.count(outShape)
    if n == 0 { return }
    let o = SendablePtr(out), pa = SendablePtr(a), pb = SendablePtr(b)
    if aShape == bShape {
        parallelRange(n, minChunk: 1 << 15) { s, e in
            let len = e - s
            switch op {
            case .add: binaryRun(AddFn.self, o.p + s, pa.p + s, 1, pb.p + s, 1, len)
            case .sub: binaryRun(SubFn.self, o.p + s, pa.p + s, 1, pb.p + s, 1, len)
            case .mul: binaryRun(MulFn.self, o.p + s, pa.p + s, 1, pb.p + s, 1, len)
            case .div: binaryRun(DivFn.self, o.p + s, pa.p + s, 1, pb.p + s, 1, len)
            }
        }
        return
    }
    let sa = broadcastStrides(aShape, in: outShape), sb = broadcastStrides(bShape, in: outShape)
    let inner = outShape.last ?? 1
    parallelRange(n / max(inner, 1), minChunk: max(1, (1 << 15) / max(inner, 1))) { s, e in
        forEachRun(out: outShape, sa: sa, sb: sb, runs: s..<e) { o0, ia, sta, ib, stb, len in
            let oo = o.p + o0, aa = pa.p + ia, bb = pb.p + ib
            switch op {
            case .add: binaryRun(AddFn.self, oo, aa, sta, bb, stb, len)
            case .sub: binaryRun(SubFn.self, oo, aa, sta, bb, stb, len)
            case .mul: binaryRun(MulFn.self, oo, aa, sta, bb, stb, len)
            case .div: binaryRun(DivFn.self, oo, aa, sta, bb, stb, len)
            }
        }
    }
}

/// The term an output element contributes to one input's gradient: t(g, a, b) for output gradient g
/// and input values a, b at that element.
protocol GradTerm { static func t(_ g: Float, _ a: Float, _ b: Float) -> Float }
enum GradPass: GradTerm { @inline(__always) static func t(_ g: Float, _ a: Float, _ b: Float) -> Float { g } }
enum GradNeg: GradTerm { @inline(__always) static func t(_ g: Float, _ a: Float, _ b: Float) -> Float { -g } }
enum GradTimesB: GradTerm { @inline(__always) static func t(_ g: Float, _ a: Float, _ b: Float) -> Float { g * b } }
enum GradTimesA: GradTerm { @inline(__always) static func t(_ g: Float, _ a: Float, _ b: Float) -> Float { g * a } }
enum GradOverB: GradTerm { @inline(__always) static func t(_ g: Float, _ a: Float, _ b: Float) -> Float { g / b } }
/// d(a/b)/db = −a/b²
enum GradDivB: GradTerm { @inline(__always) static func t(_ g: Float, _ a: Float, _ b: Float) -> Float { -g * a / (b * b) } }

/// dst[j·sd] += T(g[j], a[j·sa], b[j·sb]) for j < n (strides 0 or 1), or = with `store` (sd = 1
/// only). With sd = 0 the terms are summed into dst[0] one after the other, in j order.
@inline(__always)
func gradRun<T: GradTerm>(_: T.Type, _ dst: UnsafeMutablePointer<Float>, _ sd: Int, _ g: UnsafePointer<Float>,
                          _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int, _ n: Int,
                          store: Bool = false) {
    if store {
        if sa != 0 && sb != 0 { for j in 0..<n { dst[j] = T.t(g[j], a[j], b[j]) } }
        else if sa != 0 { let y = b[0]; for j in 0..<n { dst[j] = T.t(g[j], a[j], y) } }
        else { let x = a[0]; for j in 0..<n { dst[j] = T.t(g[j], x, b[j]) } }
    } else if sd == 0 {
        var acc = dst[0]
        for j in 0..<n { acc += T.t(g[j], a[j * sa], b[j * sb]) }
        dst[0] = acc
    } else if sa != 0 && sb != 0 { for j in 0..<n { dst[j] += T.t(g[j], a[j], b[j]) } }
    else if sa != 0 { let y = b[0]; for j in 0..<n { dst[j] += T.t(g[j], a[j], y) } }
    else { let x = a[0]; for j in 0..<n { dst[j] += T.t(g[j], x, b[j]) } }
}

/// Adds the gradient terms T(g, a, b) of every output element into the gradient of input a (`forA`)
/// or b, summing over the axes along which that input was broadcast. An input of the output's shape
/// gets each element written once, so a fresh gradient buffer is stored into (`gradBufferForWrite`).
func reduceBroadcastGrad<T: GradTerm>(_: T.Type, into input: Tensor, forA: Bool, g: UnsafePointer<Float>,
                                      a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                      outShape: [Int], aShape: [Int], bShape: [Int]) {
    let n = Shape.count(outShape)
    if n == 0 { return }
    let full = (forA ? aShape : bShape) == outShape
    let (dst, fresh) = full ? input.gradBufferForWrite() : (input.gradBuffer(), false)
    let sa = broadcastStrides(aShape, in: outShape), sb = broadcastStrides(bShape, in: outShape)
    let pd = SendablePtr(dst), pg = SendablePtr(g), pa = SendablePtr(a), pb = SendablePtr(b)
    let body: (Int, Int, Int, Int, Int, Int) -> Void = { o0, ia, sta, ib, stb, len in
        gradRun(T.self, pd.p + (forA ? ia : ib), forA ? sta : stb, pg.p + o0, pa.p + ia, sta, pb.p + ib, stb, len, store: fresh)
    }
    let inner = outShape.last ?? 1
    if full {
        // Not broadcast: every run writes its own elements of dst, so runs may go in parallel.
        parallelRange(n / max(inner, 1), minChunk: max(1, (1 << 15) / max(inner, 1))) { s, e in
            forEachRun(out: outShape, sa: sa, sb: sb, runs: s..<e, body)
        }
    } else {
        forEachRun(out: outShape, sa: sa, sb: sb, body)
    }
}

func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    let outShape = checked { try Shape.broadcast(a.shape, b.shape, op: op.name) }
    let out = Tensor(uninitialized: outShape)
    binaryForward(op, out: out.data, a: a.data, aShape: a.shape, b: b.data, bShape: b.shape, outShape: outShape)
    return out.recording([a, b]) { _, g in
        let go = g.data, pa = a.data, pb = b.data
        let (sa, sb) = (a.shape, b.shape)
        if a.requiresGrad {
            switch op {
            case .add, .sub: reduceBroadcastGrad(GradPass.self, into: a, forA: true, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            case .mul: reduceBroadcastGrad(GradTimesB.self, into: a, forA: true, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            case .div: reduceBroadcastGrad(GradOverB.self, into: a, forA: true, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            }
        }
        if b.requiresGrad {
            switch op {
            case .add: reduceBroadcastGrad(GradPass.self, into: b, forA: false, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            case .sub: reduceBroadcastGrad(GradNeg.self, into: b, forA: false, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            case .mul: reduceBroadcastGrad(GradTimesA.self, into: b, forA: false, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            case .div: reduceBroadcastGrad(GradDivB.self, into: b, forA: false, g: go, a: pa, b: pb, outShape: outShape, aShape: sa, bShape: sb)
            }
        }
    }
}

public func + (a: Tensor, b: Tensor) -> Tensor { binary(.add, a, b) }
public func - (a: Tensor, b: Tensor) -> Tensor { binary(.sub, a, b) }
public func * (a: Tensor, b: Tensor) -> Tensor { binary(.mul, a, b) }
public func / (a: Tensor, b: Tensor) -> Tensor { binary(.div, a, b) }
