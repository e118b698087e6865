import Foundation

// Student's t: two-sided p-values, and the power of the paired two-sided t test from the noncentral t
// distribution, for the reports' verdicts (docs/reports.md, "Statistics"). Independent reference values:
// scripts/stats/reference_values.py (scipy.stats.t, scipy.stats.nct).

/// The two-sided p-value of Student's t statistic `t` with ν degrees of freedom: P(|T_ν| ≥ |t|).
///
/// P(|T| ≥ |t|) = I_{ν/(ν+t²)}(ν/2, 1/2), the regularized incomplete beta function (Abramowitz & Stegun
/// 26.7.1 with 26.5.27). An infinite t (a difference with zero spread) gives 0; a NaN gives NaN.
public func studentTTwoSidedP(_ t: Double, degreesOfFreedom nu: Double) -> Double {
    if t.isNaN || nu.isNaN || nu <= 0 { return .nan }
    if t.isInfinite { return 0 }
    return regularizedIncompleteBeta(nu / (nu + t * t), a: nu / 2, b: 0.5)
}

/// I_x(a, b) = B(x; a, b) / B(a, b), by the continued fraction of Numerical Recipes §6.4 (modified
/// Lentz), using the symmetry I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges slowly.
func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
    if x <= 0 { return 0 }
    if x >= 1 { return 1 }
    let logBeta: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
    let logPowers: Double = a * log(x) + b * log(1 - x)
    let front = exp(logBeta + logPowers)
    if x < (a + 1) / (a + b + 2) { return front * betaContinuedFraction(x, a: a, b: b) / a }
    return 1 - front * betaContinuedFraction(1 - x, a: b, b: a) / b
}

private func betaContinuedFraction(_ x: Double, a: Double, b: Double) -> Double {
    let tiny = 1e-300
    var c = 1.0, d = 1 - (a + b) * x / (a + 1)
    if abs(d) < tiny { d = tiny }
    d = 1 / d
    var h = d
    for m in 1...400 {
        let m = Double(m), m2 = 2 * m
        var aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2))
        d = 1 + aa * d; if abs(d) < tiny { d = tiny }
        c = 1 + aa / c; if abs(c) < tiny { c = tiny }
        d = 1 / d; h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2))
        d = 1 + aa * d; if abs(d) < tiny { d = tiny }
        c = 1 + aa / c; if abs(c) < tiny { c = tiny }
        d = 1 / d
        let del = d * c
        h *= del
        if abs(del - 1) < 1e-15 { break }
    }
    return h
}

/// The standard normal distribution function Φ(x) = erfc(−x/√2)/2.
func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

/// The power of the two-sided paired t test at level 0.05 with n pairs against a true mean difference of
/// `delta` standard deviations of the paired difference.
///
/// Under the alternative T = (Z + λ)/√(V/ν) is noncentral t with ν = n − 1 and λ = δ√n (Z standard
/// normal, V ~ χ²_ν), so with c = t_{0.975, ν} and W = √V:
///   power = P(T > c) + P(T < −c) = E_W[1 − Φ(cW/√ν − λ) + Φ(−cW/√ν − λ)],
/// W having the chi density f(w) = 2 w^{ν−1} e^{−w²/2} / (2^{ν/2} Γ(ν/2)). The expectation is integrated by
/// composite Simpson over w ∈ [max(0, √ν − 12), √ν + 12] (the chi density's standard deviation is < 0.71,
/// so the truncated mass is below 1e-30); agreement with scipy.stats.nct is ~1e-9.
public func pairedTPower(n: Int, delta: Double) throws -> Double {
    guard n >= 2 else { throw MetricsError.invalidArgument(name: "pairs", value: "\(n)", requirement: "must be ≥ 2") }
    let nu = Double(n - 1)
    let c = try studentTQuantile975(degreesOfFreedom: n - 1)
    let lambda = delta * Double(n).squareRoot()
    let lo = max(0, nu.squareRoot() - 12), hi = nu.squareRoot() + 12
    let intervals = 4000
    let h = (hi - lo) / Double(intervals)
    let logNorm = log(2.0) - (nu / 2) * log(2.0) - lgamma(nu / 2)
    func f(_ w: Double) -> Double {
        // At w = 0 the rejection probability is 1 (the statistic is infinite); the density is 0 unless ν = 1.
        guard w > 0 else { return nu == 1 ? exp(logNorm) : 0 }
        let density = exp(logNorm + (nu - 1) * log(w) - w * w / 2)
        let s = w / nu.squareRoot()
        return density * (1 - normalCDF(c * s - lambda) + normalCDF(-c * s - lambda))
    }
    var sum = f(lo) + f(hi)
    for i in 1..<intervals { sum += f(lo + Double(i) * h) * (i % 2 == 1 ? 4 : 2) }
    return min(1, max(0, sum * h / 3))
}

/// The minimum detectable effect of the two-sided paired t test at level 0.05 with n pairs and 80% power,
/// in standard deviations of the paired difference: the δ with `pairedTPower(n, δ)` = 0.8, by bisection
/// (power increases with δ). Reference (scipy, scripts/stats/reference_values.py): n = 3 → 3.2640,
/// 5 → 1.6820, 10 → 0.9960, 20 → 0.6604.
public func pairedMinimumDetectableEffect(n: Int, power target: Double = 0.8) throws -> Double {
    var lo = 0.0, hi = 1.0
    while try pairedTPower(n: n, delta: hi) < target { hi *= 2; if hi > 1e6 { return .infinity } }
    for _ in 0..<60 {
        let mid = (lo + hi) / 2
        if try pairedTPower(n: n, delta: mid) < target { lo = mid } else { hi = mid }
        if hi - lo < 1e-9 { break }
    }
    return (lo + hi) / 2
}

/// The smallest number of pairs (2 … `limit`) whose paired t test detects a true difference of `delta`
/// standard deviations with 80% power at level 0.05; nil when even `limit` pairs do not (or δ = 0).
/// Power increases with n, so a bisection over n.
public func pairsNeeded(delta: Double, power target: Double = 0.8, limit: Int = 1000) throws -> Int? {
    let d = abs(delta)
    guard d > 0, d.isFinite else { return nil }
    if try pairedTPower(n: limit, delta: d) < target { return nil }
    var lo = 1, hi = limit   // power(lo) < target (lo = 1 has no test), power(hi) ≥ target
    while hi - lo > 1 {
        let mid = (lo + hi) / 2
        if mid >= 2, try pairedTPower(n: mid, delta: d) >= target { hi = mid } else { lo = mid }
    }
    return hi
}
