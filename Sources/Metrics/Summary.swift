// Mean, sample standard deviation and a 95% confidence interval over repeated runs (seeds), for reports.

/// A summary of one quantity measured over n runs (e.g. FID over seeds).
public struct SeedSummary: Sendable, Equatable {
    /// n, the number of values.
    public let count: Int
    /// The arithmetic mean.
    public let mean: Double
    /// The sample standard deviation s = √(Σ(x − x̄)²/(n − 1)); nil for n = 1.
    public let standardDeviation: Double?
    /// The half-width of the 95% confidence interval for the mean, t_{0.975, n−1} · s/√n; nil for n = 1.
    public let halfWidth95: Double?

    /// [mean − halfWidth95, mean + halfWidth95]; nil for n = 1.
    public var interval95: ClosedRange<Double>? {
        halfWidth95.map { (mean - $0)...(mean + $0) }
    }
}

/// Mean, sample standard deviation (n − 1) and the Student-t 95% confidence interval of `values`.
///
/// The interval is mean ± t_{0.975, n−1} · s/√n, which assumes roughly normal values. Throws for an
/// empty list or a non-finite value (a diverged run must be handled by the caller, not averaged).
public func summarize(_ values: [Double]) throws -> SeedSummary {
    guard !values.isEmpty else { throw MetricsError.tooFewRows(what: "values to summarise", rows: 0, minimum: 1) }
    if let i = values.firstIndex(where: { !$0.isFinite }) {
        throw MetricsError.nonFinite(what: "values to summarise", index: i, value: values[i])
    }
    let n = values.count
    let mean = values.reduce(0, +) / Double(n)
    guard n >= 2 else { return SeedSummary(count: 1, mean: mean, standardDeviation: nil, halfWidth95: nil) }
    let ss = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
    let s = (ss / Double(n - 1)).squareRoot()
    let t = try studentTQuantile975(degreesOfFreedom: n - 1)
    return SeedSummary(count: n, mean: mean, standardDeviation: s, halfWidth95: t * s / Double(n).squareRoot())
}

/// The 0.975 quantile of Student's t with ν degrees of freedom (two-sided 95%).
///
/// ν = 1…30: a table (scipy.stats.t.ppf(0.975, ν), 10 decimals). ν > 30: the Cornish–Fisher expansion
/// around the normal quantile z = 1.959963984540054 (Abramowitz & Stegun 26.7.5, four terms), whose error
/// is below 3e-8 for ν ≥ 31 and falls as ν⁻⁵; it tends to z as ν → ∞. Throws for ν < 1.
public func studentTQuantile975(degreesOfFreedom nu: Int) throws -> Double {
    guard nu >= 1 else {
        throw MetricsError.invalidArgument(name: "degrees of freedom", value: "\(nu)", requirement: "must be ≥ 1")
    }
    if nu <= studentT975Table.count { return studentT975Table[nu - 1] }
    let z = 1.959963984540054
    let z2 = z * z, z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2
    let g1 = (z3 + z) / 4
    let g2 = (5 * z5 + 16 * z3 + 3 * z) / 96
    let g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384
    let g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160
    let v = Double(nu)
    return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v)
}

/// t_{0.975, ν} for ν = 1…30 (scipy 1.17 `stats.t.ppf(0.975, ν)`, rounded to 10 decimals).
let studentT975Table: [Double] = [
    12.7062047362, 4.3026527297, 3.1824463053, 2.7764451052, 2.5705818356,
    2.4469118511, 2.3646242516, 2.3060041352, 2.2621571628, 2.2281388520,
    2.2009851601, 2.1788128297, 2.1603686565, 2.1447866879, 2.1314495456,
    2.1199052992, 2.1098155778, 2.1009220402, 2.0930240544, 2.0859634473,
    2.0796138447, 2.0738730679, 2.0686576104, 2.0638985616, 2.0595385528,
    2.0555294386, 2.0518305165, 2.0484071418, 2.0452296421, 2.0422724563,
]
