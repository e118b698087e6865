/// Branch-free, call-free elementary functions that the compiler can vectorise inside the elementwise
/// loops (glibc's `expf` is a scalar call per element: ~11% of a `small` U-Net training step went to
/// SiLU's exponentials before this, docs/benchmarks.md).

/// e^x for Float, Cephes `expf`'s method: x = n·ln2 + r with n = round(x/ln2), |r| ≤ ln2/2, e^r by a
/// degree-7 polynomial, 2^n put into the exponent bits. Max relative error ≈ 2 ulp on [−87, 88]
/// (tested against Float64 `exp` in FastMathTests); x is clamped to [−87.3, 88], so it never returns
/// inf/NaN for finite input (e^88 ≈ 1.65e38), and inputs below −87.3 (−inf included: softmax of masked
/// entries) give 0. Only IEEE add/multiply and bit operations, compiled without `-march` (Swift never
/// fuses a·b + c): the scalar and the vectorised loops give the same bits on every x86-64 machine, and
/// no libm is involved (glibc's `expf` picks per-CPU variants).
@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let xc = min(max(x, -87.33654), 88.0)
    // Adding 1.5·2²³ rounds t to the nearest integer n and leaves n in the low mantissa bits.
    let shifted = xc * 1.44269504088896341 + 12582912.0
    let n = shifted - 12582912.0
    let r = (xc - n * 0.693359375) + n * 2.12194440e-4          // Cody–Waite: ln2 = C1 − C2
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = p * (r * r) + r + 1
    let k = Int32(bitPattern: shifted.bitPattern &- 0x4B40_0000)   // n as an integer
    let y = er * Float(bitPattern: UInt32(bitPattern: (k &+ 127) << 23))
    return x < -87.33654 ? 0 : y
}

/// σ(x) = 1 / (1 + e^−x) on `fastExp`.
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }
