import Foundation

/// Elementwise unary ops: y = f(x), dx += dy · f′(x, y).
///
/// Each op is a small struct conforming to `UnaryFunction`; `unary` is generic over it, so the
/// optimiser specialises it per op and `f`/`df` are inlined into the loops, which then vectorise
/// where `f` allows it (scale, shift, square, relu, clamp, sqrt). The previous version took the
/// functions as escaping closures, which were not inlined: one indirect call per element (measured:
/// the attention's `scaled` and the broadcast helpers ~2% of a U-Net training step, docs/benchmarks.md).
protocol UnaryFunction {
    func f(_ x: Float) -> Float
    /// f′ given the input x and the output y = f(x).
    func df(_ x: Float, _ y: Float) -> Float
}

@inline(__always)
func unary<F: UnaryFunction>(_ x: Tensor, _ fn: F) -> Tensor {
    let out = Tensor(uninitialized: x.shape)
    let px = SendablePtr(x.data), po = SendablePtr(out.data)
    parallelRange(x.count, minChunk: 1 << 14) { s, e in
        for i in s..<e { po.p[i] = fn.f(px.p[i]) }
    }
    return out.recording([x]) { out, g in
        let (d, fresh) = x.gradBufferForWrite()
        let dx = SendablePtr(d), pg = SendablePtr(g.data), py = SendablePtr(out.data)
        parallelRange(x.count, minChunk: 1 << 14) { s, e in
            if fresh { for i in s..<e { dx.p[i] = pg.p[i] * fn.df(px.p[i], py.p[i]) } }
            else { for i in s..<e { dx.p[i] += pg.p[i] * fn.df(px.p[i], py.p[i]) } }
        }
    }
}

struct ScaleFn: UnaryFunction {
    let c: Float
    @inline(__always) func f(_ x: Float) -> Float { x * c }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { c }
}
struct ShiftFn: UnaryFunction {
    let c: Float
    @inline(__always) func f(_ x: Float) -> Float { x + c }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { 1 }
}
struct ExpFn: UnaryFunction {
    @inline(__always) func f(_ x: Float) -> Float { fastExp(x) }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { y }
}
struct LogFn: UnaryFunction {
    @inline(__always) func f(_ x: Float) -> Float { Float(DetMath.log(Double(x))) }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { 1 / x }
}
struct SqrtFn: UnaryFunction {
    @inline(__always) func f(_ x: Float) -> Float { x.squareRoot() }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { 0.5 / y }
}
struct SquareFn: UnaryFunction {
    @inline(__always) func f(_ x: Float) -> Float { x * x }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { 2 * x }
}
/// ReLU: max(x, 0); the derivative at 0 is 0 (as in PyTorch).
struct ReluFn: UnaryFunction {
    @inline(__always) func f(_ x: Float) -> Float { max(x, 0) }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { x > 0 ? 1 : 0 }
}
/// Clamp to [lo, hi]; the gradient passes where lo ≤ x ≤ hi (boundaries included, as PyTorch).
struct ClampFn: UnaryFunction {
    let lo: Float, hi: Float
    @inline(__always) func f(_ x: Float) -> Float { min(max(x, lo), hi) }
    @inline(__always) func df(_ x: Float, _ y: Float) -> Float { x >= lo && x <= hi ? 1 : 0 }
}

extension Tensor {
    /// x · c
    public func scaled(_ c: Float) -> Tensor { unary(self, ScaleFn(c: c)) }
    /// x + c
    public func shifted(_ c: Float) -> Tensor { unary(self, ShiftFn(c: c)) }
    public static prefix func - (x: Tensor) -> Tensor { x.scaled(-1) }
    public static func * (x: Tensor, c: Float) -> Tensor { x.scaled(c) }
    public static func * (c: Float, x: Tensor) -> Tensor { x.scaled(c) }
    public static func + (x: Tensor, c: Float) -> Tensor { x.shifted(c) }
    public static func - (x: Tensor, c: Float) -> Tensor { x.shifted(-c) }
    public static func / (x: Tensor, c: Float) -> Tensor { x.scaled(1 / c) }

    public func exp() -> Tensor { unary(self, ExpFn()) }
    public func log() -> Tensor { unary(self, LogFn()) }
    public func sqrt() -> Tensor { unary(self, SqrtFn()) }
    public func square() -> Tensor { unary(self, SquareFn()) }

    /// ReLU: max(x, 0); the derivative at 0 is 0 (as in PyTorch).
    public func relu() -> Tensor { unary(self, ReluFn()) }

    /// SiLU / Swish: x·σ(x); derivative σ(x)(1 + x(1 − σ(x))). σ on `fastExp` (≈ 2 ulp), in loops of
    /// their own (they need σ in both passes rather than f′(x, y)).
    public func silu() -> Tensor {
        let x = self
        let out = Tensor(uninitialized: x.shape)
        let px = SendablePtr(x.data), po = SendablePtr(out.data)
        parallelRange(x.count, minChunk: 1 << 14) { s, e in
            for i in s..<e { let v = px.p[i]; po.p[i] = v * fastSigmoid(v) }
        }
        return out.recording([x]) { _, g in
            let (d, fresh) = x.gradBufferForWrite()
            let dx = SendablePtr(d), pg = SendablePtr(g.data)
            parallelRange(x.count, minChunk: 1 << 14) { s, e in
                if fresh {
                    for i in s..<e { dx.p[i] = pg.p[i] * siluDerivative(px.p[i]) }
                } else {
                    for i in s..<e { dx.p[i] += pg.p[i] * siluDerivative(px.p[i]) }
                }
            }
        }
    }

    /// Clamp to [lo, hi]. The gradient passes where lo ≤ x ≤ hi (boundaries included, as PyTorch).
    public func clamped(_ lo: Float, _ hi: Float) -> Tensor { unary(self, ClampFn(lo: lo, hi: hi)) }
}

/// d/dx [x·σ(x)] = σ(x)·(1 + x·(1 − σ(x))), σ on `fastExp`.
@inline(__always)
func siluDerivative(_ v: Float) -> Float {
    let sg = fastSigmoid(v)
    return sg * (1 + v * (1 - sg))
}
