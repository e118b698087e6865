import Foundation
import XCTest
@testable import Diffusion

/// |a − b| ≤ tol · max(|a|, |b|) (relative, scale-invariant; fails on NaN).
func assertRelative(_ a: Double, _ b: Double, _ tol: Double, _ what: String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
    let ok = abs(a - b) <= tol * max(abs(a), abs(b))
    XCTAssertTrue(ok, "\(what): \(a) vs \(b) (rel tol \(tol))", file: file, line: line)
}

/// Spec §1.1, §1.4 and checks S1, S2 of §8.
final class ScheduleTests: XCTestCase {
    let sched = CosineSchedule.shared

    /// Independent closed form: ᾱ_k = f((k+1)/1025)/f(0) for k < 1024, written without the class.
    func closedFormAlphaBar(_ k: Int) -> Double {
        func f(_ u: Double) -> Double { pow(cos((u + 0.008) / 1.008 * .pi / 2), 2) }
        return f(Double(k + 1) / 1025) / f(0)
    }

    func testTableSizes() {
        XCTAssertEqual(sched.betas.count, 1025)
        XCTAssertEqual(sched.alphasBar.count, 1025)
        XCTAssertEqual(sched.alphas.count, 1025)
        XCTAssertEqual(sched.sigmas.count, 1025)
    }

    /// S1: the α/σ/logSNR table of §1.1 to the printed digits.
    func testS1ReferenceTable() throws {
        // k, α_k, σ_k, logSNR (as printed in spec §1.1)
        let rows: [(Int, Double, Double, Double)] = [
            (0, 0.99997989, 0.006341886166, 10.1211),
            (1, 0.9999574687, 0.009222835907, 9.37206),
            (2, 0.9999327362, 0.01159841073, 8.91364),
            (128, 0.9784002871, 0.206719322, 3.10911),
            (256, 0.9198858215, 0.3921862765, 1.70503),
            (512, 0.702198959, 0.7119807736, -0.0276683),
            (768, 0.3794800215, 0.9251999315, -1.78242),
            (896, 0.1933902771, 0.9811219092, -3.24797),
            (1000, 0.03648245871, 0.9993342935, -6.62052),
            (1023, 0.001520439212, 0.9999988441, -12.9775),
            (1024, 4.808050954e-05, 0.9999999988, -19.8853),
        ]
        for (k, a, s, l) in rows {
            // Half a unit in the last printed digit: 8–10 significant digits for α, σ; 6 for logSNR.
            assertRelative(try sched.alpha(k), a, 6e-9, "alpha[\(k)]")
            assertRelative(try sched.sigma(k), s, 6e-9, "sigma[\(k)]")
            assertRelative(try sched.logSNR(k), l, 6e-6, "logSNR[\(k)]")
        }
    }

    /// S1: ᾱ_500 and ᾱ_1024 (only β_1024 is clamped).
    func testS1AlphaBarValues() {
        assertRelative(sched.alphasBar[500], 0.5113288960170153, 1e-15, "alphaBar[500]")
        assertRelative(sched.alphasBar[1024], 2.3117353972805808e-9, 1e-14, "alphaBar[1024]")
        XCTAssertEqual(sched.betas[1024], 0.999)
        assertRelative(sched.alphasBar[1024], 0.001 * sched.alphasBar[1023], 1e-12, "alphaBar[1024] = 0.001·alphaBar[1023]")
        XCTAssertEqual(sched.betas.filter { $0 >= 0.999 }.count, 1, "only β_1024 is clamped")
        XCTAssertLessThan(sched.betas[1023], 0.999)
    }

    /// S1: closed form ᾱ_k = f((k+1)/1025)/f(0) for every k < 1024.
    func testS1ClosedFormAllIndices() {
        var worst = 0.0
        for k in 0..<1024 {
            let c = closedFormAlphaBar(k)
            worst = max(worst, abs(sched.alphasBar[k] - c) / c)
        }
        XCTAssertLessThan(worst, 1e-12, "max relative deviation from the closed form")
    }

    func testVariancePreservingAndMonotone() {
        for k in 0...1024 {
            let a = sched.alphas[k], s = sched.sigmas[k]
            XCTAssertEqual(a * a + s * s, 1, accuracy: 1e-15)
            if k > 0 { XCTAssertLessThan(a, sched.alphas[k - 1]) }
        }
    }

    /// S2: SNR(0) = 24862.54876; first k with SNR < 1 is 508; ω(256) = 5.501524669, ω(1024) = 1.
    func testS2SNRAndWeights() throws {
        assertRelative(try sched.snr(0), 24862.54876, 2e-10, "SNR(0)")
        let first = (0...1024).first { (try? sched.snr($0))! < 1 }
        XCTAssertEqual(first, 508)
        assertRelative(try sched.truncatedSNRWeight(256), 5.501524669, 1e-9, "omega(256)")
        XCTAssertEqual(try sched.truncatedSNRWeight(1024), 1)
        XCTAssertEqual(try sched.truncatedSNRWeight(508), 1)
        XCTAssertGreaterThan(try sched.truncatedSNRWeight(507), 1)
        // ω = max(α²/σ², 1) against ᾱ/(1−ᾱ) computed independently.
        for k in [0, 100, 507, 508, 900] {
            let ab = closedFormAlphaBar(k)
            assertRelative(try sched.truncatedSNRWeight(k), max(ab / (1 - ab), 1), 1e-11, "omega(\(k))")
        }
    }

    func testFloat32CoefficientsAreCasts() throws {
        let c = try sched.float32Coefficients(256)
        XCTAssertEqual(c.alpha, Float(sched.alphas[256]))
        XCTAssertEqual(c.sigma, Float(sched.sigmas[256]))
    }

    func testBadIndicesThrowNamingTheValue() {
        for k in [-1, 1025] {
            XCTAssertThrowsError(try sched.alpha(k)) { error in
                XCTAssertEqual(error as? ScheduleError, .gridIndexOutOfRange(k))
                XCTAssertTrue("\(error)".contains("\(k)"))
            }
            XCTAssertThrowsError(try sched.sigma(k))
            XCTAssertThrowsError(try sched.snr(k))
            XCTAssertThrowsError(try sched.truncatedSNRWeight(k))
        }
    }
}
