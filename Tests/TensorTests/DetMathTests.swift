import XCTest
import Foundation
@testable import Tensor

/// Our own elementary functions (`DetMath`, `fastExp`) against glibc (Foundation) as the reference:
/// within fdlibm's documented error (< 1 ulp for exp, log, sin, cos: so at most 1 ulp from glibc's,
/// itself < 1 ulp from the true value — the bound tested is 2 ulp of the result) on random arguments
/// over each function's range, plus the special values.
final class DetMathTests: XCTestCase {
    func ulps(_ a: Double, _ b: Double) -> Double {
        if a == b { return 0 }
        return abs(a - b) / max(b.ulp, Double.leastNonzeroMagnitude)
    }

    func checkRandom(_ name: String, _ f: (Double) -> Double, _ ref: (Double) -> Double, in range: ClosedRange<Double>,
                     bound: Double = 2, count: Int = 20000, file: StaticString = #filePath, line: UInt = #line) {
        var rng = RNG(seed: 17)
        var worst = 0.0, at = 0.0
        for _ in 0..<count {
            let x = range.lowerBound + rng.uniform() * (range.upperBound - range.lowerBound)
            let e = ulps(f(x), ref(x))
            if e > worst { worst = e; at = x }
        }
        XCTAssertLessThanOrEqual(worst, bound, "\(name): \(worst) ulp at x = \(at)", file: file, line: line)
    }

    func testExpLogAgainstLibm() {
        checkRandom("exp", DetMath.exp, Foundation.exp, in: -745...709.7)
        checkRandom("exp small", DetMath.exp, Foundation.exp, in: -1...1)
        checkRandom("exp tiny", DetMath.exp, Foundation.exp, in: -1e-9...1e-9)
        checkRandom("log", DetMath.log, Foundation.log, in: 1e-300...1e300)
        checkRandom("log near 1", DetMath.log, Foundation.log, in: 0.5...2)
        checkRandom("log (0, 1)", DetMath.log, Foundation.log, in: 0...1)
        XCTAssertEqual(DetMath.exp(0), 1); XCTAssertEqual(DetMath.exp(1000), .infinity); XCTAssertEqual(DetMath.exp(-1000), 0)
        XCTAssertEqual(DetMath.exp(-.infinity), 0); XCTAssertTrue(DetMath.exp(.nan).isNaN)
        XCTAssertEqual(DetMath.log(1), 0); XCTAssertEqual(DetMath.log(0), -.infinity); XCTAssertTrue(DetMath.log(-1).isNaN)
        XCTAssertEqual(DetMath.log(.infinity), .infinity)
        XCTAssertLessThanOrEqual(ulps(DetMath.log(.leastNonzeroMagnitude), Foundation.log(.leastNonzeroMagnitude)), 1, "subnormal")
    }

    func testSinCosAgainstLibm() {
        checkRandom("sin", DetMath.sin, Foundation.sin, in: -2 * .pi...2 * .pi)
        checkRandom("cos", DetMath.cos, Foundation.cos, in: -2 * .pi...2 * .pi)
        checkRandom("sin large", DetMath.sin, Foundation.sin, in: 0...1100)      // the time embedding's arguments
        checkRandom("cos large", DetMath.cos, Foundation.cos, in: 0...1100)
        checkRandom("sin tiny", DetMath.sin, Foundation.sin, in: -1e-6...1e-6)
        XCTAssertEqual(DetMath.sin(0), 0); XCTAssertEqual(DetMath.cos(0), 1)
    }

    /// Kahan's log1p/expm1 and the integer power: a few ulp (bound 4).
    func testLog1pExpm1Pow() {
        checkRandom("log1p", DetMath.log1p, Foundation.log1p, in: -0.5...3, bound: 4)
        checkRandom("log1p small", DetMath.log1p, Foundation.log1p, in: -1e-8...1e-8, bound: 4)
        checkRandom("expm1", DetMath.expm1, Foundation.expm1, in: -3...3, bound: 4)
        checkRandom("expm1 small", DetMath.expm1, Foundation.expm1, in: -1e-8...1e-8, bound: 4)
        for n in [0, 1, 2, 7, 100, 4000] {
            XCTAssertLessThanOrEqual(ulps(DetMath.pow(0.999, n), Foundation.pow(0.999, Double(n))), 13, "0.999^\(n)")
        }
        XCTAssertLessThanOrEqual(ulps(DetMath.pow(0.1, -3), Foundation.pow(0.1, -3)), 4)
        checkRandom("pow(10000, -y)", { DetMath.pow(10000, -$0) }, { Foundation.pow(10000, -$0) }, in: 0...1, bound: 16)
    }

    /// `fastExp` (Float): ≤ 2 ulp against Float64 exp (its documented bound), exactly 0 below −87.3
    /// (masked softmax entries), and the scalar and vectorised loops give the same bits.
    func testFastExp() {
        var rng = RNG(seed: 3)
        let xs = rng.uniforms(4099, -87, 88)
        var vec = [Float](repeating: 0, count: xs.count)
        for i in 0..<xs.count { vec[i] = fastExp(xs[i]) }   // a loop the compiler vectorises
        for (i, x) in xs.enumerated() {
            let ref = Foundation.exp(Double(x))
            XCTAssertLessThanOrEqual(abs(Double(vec[i]) - ref) / Double(Float(ref).ulp), 2, "fastExp(\(x))")
            let scalar = withExtendedLifetime(x) { fastExpOpaque($0) }
            XCTAssertEqual(vec[i].bitPattern, scalar.bitPattern, "scalar vs loop at \(x)")
        }
        XCTAssertEqual(fastExp(-100), 0); XCTAssertEqual(fastExp(-.infinity), 0)
    }

    @inline(never) func fastExpOpaque(_ x: Float) -> Float { fastExp(x) }
}
