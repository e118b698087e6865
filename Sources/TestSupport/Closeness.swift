import Foundation
import XCTest

// The one approximate-equality rule of the test suites (issue 22). Every target used to carry its own
// (atol 1e-5 in TensorTests, 1e-6 in DistillTests, relative-only in MetricsTests, all but the last
// measuring the tolerance against the reference alone); this one is symmetric, so `isClose(a, b)` and
// `isClose(b, a)` always agree, and it says what happens to NaN and infinities instead of leaving it to
// the comparison operators.

/// Default relative tolerance: Float32 kernels checked against a Float64 reference keep about 4 digits
/// after a few dozen accumulated roundings (ε₃₂ ≈ 1.2e-7 per operation).
public let defaultRelativeTolerance = 1e-4
/// Default absolute tolerance: the floor for values near zero, where a relative bound means nothing.
public let defaultAbsoluteTolerance = 1e-5

/// Whether `a` and `b` agree: |a − b| ≤ atol + rtol · max(|a|, |b|).
///
/// Symmetric in `a` and `b` (swift-numerics' `isApproximatelyEqual` has the same shape, with a norm). Equal
/// values (the same infinity included) are close, an infinity is close to nothing else; one NaN is never close to anything, and two NaNs are
/// close only with `nanEqual` (for outputs where NaN is the expected value, e.g. a masked entry).
/// Compared with the older reference-only rule |a − b| ≤ atol + rtol·|b|, the bound widens by at most the
/// factor 1/(1 − rtol) (1.0001 at the default rtol): no test is meaningfully weaker.
@inlinable
public func isClose(_ a: Double, _ b: Double, rtol: Double = defaultRelativeTolerance,
                    atol: Double = defaultAbsoluteTolerance, nanEqual: Bool = false) -> Bool {
    if a.isNaN || b.isNaN { return nanEqual && a.isNaN && b.isNaN }
    if a == b { return true }
    if a.isInfinite || b.isInfinite { return false }   // else rtol·∞ would admit any value
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))
}

/// How far `a` is from `b` in units of the allowed difference: ≤ 1 passes, `.infinity` for NaN mismatches.
@inlinable
public func closenessRatio(_ a: Double, _ b: Double, rtol: Double, atol: Double, nanEqual: Bool = false) -> Double {
    if a.isNaN || b.isNaN { return nanEqual && a.isNaN && b.isNaN ? 0 : .infinity }
    if a == b { return 0 }
    if a.isInfinite || b.isInfinite { return .infinity }
    let allowed = atol + rtol * max(abs(a), abs(b))
    return allowed > 0 ? abs(a - b) / allowed : .infinity
}

/// Asserts `isClose` elementwise and that the counts match; a failure names the worst element (largest
/// `closenessRatio`), both values and the tolerance. (Inlinable so it is specialised for Float and Double.)
@inlinable
public func assertClose<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
    _ a: [A], _ b: [B], rtol: Double = defaultRelativeTolerance, atol: Double = defaultAbsoluteTolerance,
    nanEqual: Bool = false, _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(a.count, b.count, "\(what()): \(a.count) values vs \(b.count) reference values", file: file, line: line)
    var worst = 1.0, worstAt = -1
    for i in 0..<min(a.count, b.count) {
        let r = closenessRatio(Double(a[i]), Double(b[i]), rtol: rtol, atol: atol, nanEqual: nanEqual)
        if r > worst { worst = r; worstAt = i }
    }
    if worstAt >= 0 {
        XCTFail("\(what()): element \(worstAt) is \(a[worstAt]), reference \(b[worstAt]) (rtol \(rtol), atol \(atol)); "
                + "\(worst == .infinity ? "NaN or no tolerance" : String(format: "%.3g× the tolerance", worst))",
                file: file, line: line)
    }
}

/// Asserts `isClose(a, b)` for two scalars.
public func assertClose(_ a: Double, _ b: Double, rtol: Double = defaultRelativeTolerance,
                        atol: Double = defaultAbsoluteTolerance, nanEqual: Bool = false,
                        _ what: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertTrue(isClose(a, b, rtol: rtol, atol: atol, nanEqual: nanEqual),
                  "\(what()): \(a) vs \(b), |Δ| \(abs(a - b)) > \(atol) + \(rtol)·max(|a|, |b|)", file: file, line: line)
}
