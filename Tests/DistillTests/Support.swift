import XCTest
import TestSupport
import Foundation
import Tensor

// Test helpers and independent Float64 references, written with naive loops straight from the
// formulas of spec §4 / the paper's Eq. 4, 6–9 (deliberately not sharing code with Sources/Distill).

/// Deterministic random tensor with values in [lo, hi).
func rand(_ shape: [Int], seed: UInt64, _ lo: Float = -1, _ hi: Float = 1, grad: Bool = false) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, lo, hi, rng: &rng, requiresGrad: grad)
}

func f64(_ t: Tensor) -> [Double] { t.array.map(Double.init) }

/// Central finite differences of a Float64 function.
func finiteDifferences(_ f: ([Double]) -> Double, at x: [Double], h: Double = 1e-6) -> [Double] {
    var x = x
    return (0..<x.count).map { i in
        let old = x[i]
        x[i] = old + h; let fp = f(x)
        x[i] = old - h; let fm = f(x)
        x[i] = old
        return (fp - fm) / (2 * h)
    }
}

/// Compares an analytic Float32 gradient with finite differences of the Float64 reference:
/// |g − fd| ≤ rtol·max|fd| + 1e-7 elementwise.
func assertGradient(_ g: Tensor?, _ fd: [Double], rtol: Double = 1e-4, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    guard let g else { XCTFail("\(what): no gradient", file: file, line: line); return }
    let scale = fd.map { abs($0) }.max() ?? 0
    XCTAssertGreaterThan(scale, 0, "\(what): the reference gradient is identically zero", file: file, line: line)
    assertClose(g.array, fd, rtol: 0, atol: rtol * scale + 1e-7, "\(what) gradient", file: file, line: line)
}

// MARK: - Float64 references

enum Ref {
    /// v / max(‖v‖, 1e-12) for each row of length c.
    static func normalizeRows(_ x: [Double], c: Int) -> [Double] {
        var y = x
        for r in 0..<(x.count / c) {
            var ss = 0.0
            for k in 0..<c { ss += x[r * c + k] * x[r * c + k] }
            let n = max(ss.squareRoot(), 1e-12)
            for k in 0..<c { y[r * c + k] = x[r * c + k] / n }
        }
        return y
    }

    /// KL(softmax(t/τt) ‖ softmax(s/τs)) of one pair of rows = Σ p (log p − log q).
    static func klRow(_ t: [Double], _ s: [Double], tauT: Double, tauS: Double) -> Double {
        func logSoftmax(_ x: [Double], _ tau: Double) -> [Double] {
            let z = x.map { $0 / tau }
            let m = z.max()!
            let lse = Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - m) }) + m
            return z.map { $0 - lse }
        }
        let lp = logSoftmax(t, tauT), lq = logSoftmax(s, tauS)
        var kl = 0.0
        for k in 0..<t.count { kl += Foundation.exp(lp[k]) * (lp[k] - lq[k]) }
        return kl
    }

    /// Eq. 4: (1/B) Σ_b KL(softmax(f^T_b/τ) ‖ softmax(f^S_b)), vectors (B, C).
    static func cfd(_ t: [Double], _ s: [Double], b: Int, c: Int, tau: Double) -> Double {
        var acc = 0.0
        for i in 0..<b { acc += klRow(Array(t[i * c ..< (i + 1) * c]), Array(s[i * c ..< (i + 1) * c]), tauT: tau, tauS: 1) }
        return acc / Double(b)
    }

    /// R[i,j,a,a′] = ⟨F̄_i[a], F̄_j[a′]⟩ for maps given as (B, A, C) row-major (NHWC = pixel rows).
    static func relationRow(_ f: [Double], i: Int, j: Int, a: Int, pixels: Int, c: Int) -> [Double] {
        (0..<pixels).map { a2 in
            var d = 0.0
            for k in 0..<c { d += f[(i * pixels + a) * c + k] * f[(j * pixels + a2) * c + k] }
            return d
        }
    }

    /// Sum over the (i, j, a) rows selected by `pairs` of KL(softmax(R^T/τ) ‖ softmax(R^S/τ)).
    static func relationKLSum(_ t: [Double], _ s: [Double], b: Int, pixels: Int, c: Int, tau: Double,
                              diagonalOnly: Bool) -> Double {
        let tn = normalizeRows(t, c: c), sn = normalizeRows(s, c: c)
        var acc = 0.0
        for i in 0..<b { for j in 0..<b where !diagonalOnly || i == j { for a in 0..<pixels {
            acc += klRow(relationRow(tn, i: i, j: j, a: a, pixels: pixels, c: c),
                         relationRow(sn, i: i, j: j, a: a, pixels: pixels, c: c), tauT: tau, tauS: tau)
        } } }
        return acc
    }

    /// Eq. 7: (1/(B²A)) Σ_{i,j,a} KL.
    static func isP2P(_ t: [Double], _ s: [Double], b: Int, pixels: Int, c: Int, tau: Double) -> Double {
        relationKLSum(t, s, b: b, pixels: pixels, c: c, tau: tau, diagonalOnly: false) / Double(b * b * pixels)
    }

    /// Eq. 6 over a batch: (1/(BA)) Σ_{b,a} KL.
    static func iiP2P(_ t: [Double], _ s: [Double], b: Int, pixels: Int, c: Int, tau: Double) -> Double {
        relationKLSum(t, s, b: b, pixels: pixels, c: c, tau: tau, diagonalOnly: true) / Double(b * pixels)
    }

    /// Eq. 8–9: factor·τ_kd²·(1/N) Σ_rows KL(softmax(P^T/τ_kd) ‖ softmax(P^S/τ_kd)), P = norm(x)·Eᵀ/τ_c.
    static func mP2P(_ t: [Double], _ s: [Double], e: [Double], c: Int, tauC: Double, tauKD: Double, factor: Double) -> Double {
        let tn = normalizeRows(t, c: c), sn = normalizeRows(s, c: c)
        let n = t.count / c, v = e.count / c
        var acc = 0.0
        for r in 0..<n {
            var pt = [Double](repeating: 0, count: v), ps = pt
            for q in 0..<v {
                for k in 0..<c { pt[q] += tn[r * c + k] * e[q * c + k]; ps[q] += sn[r * c + k] * e[q * c + k] }
                pt[q] /= tauC; ps[q] /= tauC
            }
            acc += klRow(pt, ps, tauT: tauKD, tauS: tauKD)
        }
        return factor * tauKD * tauKD * acc / Double(n)
    }

    /// The classifier perceptual distance: Σ_l (1/(B·A_l)) Σ_{b,a,c} w_{l,c} (norm(t) − norm(s))².
    static func perceptual(_ t: [[Double]], _ s: [[Double]], shapes: [(b: Int, a: Int, c: Int)], weights: [[Double]]?) -> Double {
        var total = 0.0
        for l in 0..<t.count {
            let (b, a, c) = shapes[l]
            let tn = normalizeRows(t[l], c: c), sn = normalizeRows(s[l], c: c)
            var acc = 0.0
            for r in 0..<(b * a) { for k in 0..<c {
                let d = tn[r * c + k] - sn[r * c + k]
                acc += (weights?[l][k] ?? 1) * d * d
            } }
            total += acc / Double(b * a)
        }
        return total
    }
}
