import CGemm

/// Double-precision elementary functions of our own, so that every number the harness computes is the
/// same bits on every x86-64 machine (issue 23; docs/architecture.md, "Kernels and determinism").
///
/// Why not Foundation/glibc: glibc's libm picks per-CPU variants at load time (ifunc: e.g. `__exp_fma`
/// on CPUs with FMA, the SSE2 code otherwise) and changes its algorithms between versions; none of its
/// exp/log/sin/cos/pow is guaranteed correctly rounded, so the last bit of a result may depend on the
/// machine. These are fdlibm's algorithms (Sun Microsystems 1993, as in FreeBSD's msun) written in plain
/// Swift: IEEE add/multiply/divide only (Swift never contracts a·b + c into an FMA), compiled without
/// `-march`, so the same bits everywhere. Errors (fdlibm's bounds, checked against Foundation in
/// `DetMathTests`): exp, log < 1 ulp; sin, cos < 1 ulp for |x| ≤ 2¹⁹·π/2 (the range they accept).
public enum DetMath {
    @inline(__always) static func high(_ x: Double) -> Int32 { Int32(truncatingIfNeeded: Int64(bitPattern: x.bitPattern) >> 32) }
    @inline(__always) static func low(_ x: Double) -> UInt32 { UInt32(truncatingIfNeeded: x.bitPattern) }
    @inline(__always) static func words(_ hi: Int32, _ lo: UInt32) -> Double {
        Double(bitPattern: (UInt64(UInt32(bitPattern: hi)) << 32) | UInt64(lo))
    }
    /// x·2^k for the k of exp's reduction (−1074 ≤ k ≤ 1024), by two exact power-of-two factors.
    @inline(__always) static func scale(_ x: Double, _ k: Int) -> Double {
        let k1 = k / 2, k2 = k - k1
        return x * Double(sign: .plus, exponent: k1, significand: 1) * Double(sign: .plus, exponent: k2, significand: 1)
    }

    static let ln2Hi = 6.93147180369123816490e-01, ln2Lo = 1.90821492927058770002e-10

    /// y[i] = exp(x[i]) for i < n, the same bits as the scalar function: on the vector lanes of detexp.c where the
    /// selected ISA has them (AVX-512F, AVX2), else this loop. x and y may be the same array.
    public static func exp(_ x: UnsafePointer<Double>, into y: UnsafeMutablePointer<Double>, count n: Int) {
        guard n > 0 else { return }
        _ = GemmDispatch.isa   // applies RDD_KERNELS before the first use
        if rdd_det_exp(x, y, n) != 0 { return }
        for i in 0..<n { y[i] = exp(x[i]) }
    }

    /// e^x (fdlibm e_exp.c): x = k·ln2 + r, |r| ≤ ln2/2 (ln2 in two parts, so r is exact to ~2⁻⁸⁴),
    /// e^r = 1 + r + r·c/(2 − c) with c = r − r²·P(r²) (a Remez rational form), then the exponent.
    public static func exp(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709.782712893383973096 { return .infinity }
        if x < -745.13321910194110842 { return 0 }
        let ax = abs(x)
        if ax < 0x1p-28 { return 1 + x }
        var k = 0
        var hi = x, lo = 0.0
        if ax > 0.5 * 0.6931471805599453 {
            k = Int(1.44269504088896338700 * x + (x < 0 ? -0.5 : 0.5))   // Int(_:) truncates toward zero, as fdlibm's (int) cast
            hi = x - Double(k) * ln2Hi
            lo = Double(k) * ln2Lo
        }
        let r = hi - lo
        let t = r * r
        let c = r - t * (1.66666666666666019037e-01 + t * (-2.77777777770155933842e-03 + t * (6.61375632143793436117e-05
                 + t * (-1.65339022054652515390e-06 + t * 4.13813679705723846039e-08))))
        let y = 1 - ((lo - (r * c) / (2 - c)) - hi)
        return k == 0 ? y : scale(y, k)
    }

    /// ln x (fdlibm e_log.c): x = 2^k·(1 + f), √2/2 ≤ 1 + f < √2; ln(1 + f) = f − s(f − R) with
    /// s = f/(2 + f) and R a polynomial in s² (Remez), k·ln2 in two parts.
    public static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return x }
        var v = x, k = 0
        if v < Double.leastNormalMagnitude { v *= 0x1p54; k = -54 }
        var hx = high(v)
        k += Int(hx >> 20) - 1023
        hx &= 0x000fffff
        let i = (hx &+ 0x95f64) & 0x100000
        v = words(hx | (i ^ 0x3ff00000), low(v))   // normalise to [√2/2, √2)
        k += Int(i >> 20)
        let f = v - 1, dk = Double(k)
        let s = f / (2 + f), z = s * s, w = z * z
        let t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01))
        let t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)))
        let r = t2 + t1
        let hfsq = 0.5 * f * f
        return dk * ln2Hi - ((hfsq - (s * (hfsq + r) + dk * ln2Lo)) - f)
    }

    /// ln(1 + x), accurate for small x (Kahan: with u = 1 + x rounded, ln(u)·x/(u − 1) cancels the
    /// rounding of u; a few ulp).
    public static func log1p(_ x: Double) -> Double {
        let u = 1 + x
        if u == 1 { return x }
        if u.isInfinite { return u }
        return log(u) * (x / (u - 1))
    }

    /// e^x − 1, accurate for small x (Kahan: (u − 1)·x / ln u with u = e^x; a few ulp).
    public static func expm1(_ x: Double) -> Double {
        let u = exp(x)
        if u == 1 { return x }
        let um1 = u - 1
        if um1 == -1 || u.isInfinite { return um1 }
        return um1 * (x / log(u))
    }

    /// x^n for an integer n: e^(n·ln x) for x > 0 (relative error ≲ (2 + |n·ln x|) ulp — repeated squaring
    /// would double the base's rounding error with every squaring: 187 ulp at 0.999^4000, Adam's bias
    /// correction), repeated multiplication for x ≤ 0.
    public static func pow(_ x: Double, _ n: Int) -> Double {
        if n == 0 { return 1 }
        if x > 0 { return exp(Double(n) * log(x)) }
        var result = 1.0
        for _ in 0..<Int(n.magnitude) { result *= x }
        return n < 0 ? 1 / result : result
    }

    /// x^y = e^(y·ln x) for x > 0 (error grows with |y·ln x|: ~|y·ln x|·2⁻⁵³ relative; use `pow(_:_: Int)`
    /// for integer exponents).
    public static func pow(_ x: Double, _ y: Double) -> Double {
        precondition(x > 0, "DetMath.pow: base must be > 0, got \(x)")
        return exp(y * log(x))
    }

    /// x − n·π/2 with |result| ≤ ~π/4 as a double-double (y0 + y1), and n (fdlibm's medium-size
    /// __ieee754_rem_pio2: π/2 in three 33-bit parts, refined when cancellation eats bits).
    static func remPio2(_ x: Double) -> (n: Int, y0: Double, y1: Double) {
        precondition(abs(x) <= 823549.6, "DetMath sin/cos: |x| ≤ 2^19·π/2 supported, got \(x)")
        if abs(x) <= 0.7853981633974483 { return (0, x, 0) }
        let pio2_1 = 1.57079632673412561417e+00, pio2_1t = 6.07710050650619224932e-11
        let pio2_2 = 6.07710050630396597660e-11, pio2_2t = 2.02226624879595063154e-21
        let pio2_3 = 2.02226624871116645580e-21, pio2_3t = 8.47842766036889956997e-32
        let t0 = abs(x)
        let n = Int(t0 * 6.36619772367581382433e-01 + 0.5)   // truncates toward zero
        let fn = Double(n)
        var r = t0 - fn * pio2_1
        var w = fn * pio2_1t
        var y0 = r - w
        let j = Int((high(t0) >> 20) & 0x7ff)
        if j - Int((high(y0) >> 20) & 0x7ff) > 16 {    // cancellation: second part of π/2
            var t = r
            w = fn * pio2_2
            r = t - w
            w = fn * pio2_2t - ((t - r) - w)
            y0 = r - w
            if j - Int((high(y0) >> 20) & 0x7ff) > 49 {   // and the third
                t = r
                w = fn * pio2_3
                r = t - w
                w = fn * pio2_3t - ((t - r) - w)
                y0 = r - w
            }
        }
        let y1 = (r - y0) - w
        return x < 0 ? (-n, -y0, -y1) : (n, y0, y1)
    }

    /// sin on [−π/4, π/4] of x + y (fdlibm k_sin.c).
    static func kernelSin(_ x: Double, _ y: Double) -> Double {
        if abs(x) < 0x1p-27 { return x }
        let z = x * x, v = z * x
        let r = 8.33333333332248946124e-03 + z * (-1.98412698298579493134e-04 + z * (2.75573137070700676789e-06
                 + z * (-2.50507602534068634195e-08 + z * 1.58969099521155010221e-10)))
        return x - ((z * (0.5 * y - v * r) - y) - v * -1.66666666666666324348e-01)
    }

    /// cos on [−π/4, π/4] of x + y (fdlibm k_cos.c).
    static func kernelCos(_ x: Double, _ y: Double) -> Double {
        let ix = high(x) & 0x7fffffff
        if ix < 0x3e400000 { return 1 }
        let z = x * x
        let r = z * (4.16666666666666019037e-02 + z * (-1.38888888888741095749e-03 + z * (2.48015872894767294178e-05
                 + z * (-2.75573143513906633035e-07 + z * (2.08757232129817482790e-09 + z * -1.13596475577881948265e-11)))))
        if ix < 0x3FD33333 { return 1 - (0.5 * z - (z * r - x * y)) }
        let qx = ix > 0x3fe90000 ? 0.28125 : words(ix - 0x00200000, 0)
        let hz = 0.5 * z - qx
        return (1 - qx) - (hz - (z * r - x * y))
    }

    /// sin x for |x| ≤ 2¹⁹·π/2.
    public static func sin(_ x: Double) -> Double {
        if x.isNaN { return x }
        let (n, y0, y1) = remPio2(x)
        switch n & 3 {
        case 0: return kernelSin(y0, y1)
        case 1: return kernelCos(y0, y1)
        case 2: return -kernelSin(y0, y1)
        default: return -kernelCos(y0, y1)
        }
    }

    /// cos x for |x| ≤ 2¹⁹·π/2.
    public static func cos(_ x: Double) -> Double {
        if x.isNaN { return x }
        let (n, y0, y1) = remPio2(x)
        switch n & 3 {
        case 0: return kernelCos(y0, y1)
        case 1: return -kernelSin(y0, y1)
        case 2: return -kernelCos(y0, y1)
        default: return kernelSin(y0, y1)
        }
    }
}
