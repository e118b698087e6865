import XCTest
import TestSupport
import Foundation
import Tensor
import Distill

/// CFD, II_P2P, IS_P2P (direct and blocked), the M_P2P formula, the perceptual and PD losses:
/// Float64 references, finite-difference gradients and the spec §8 checks.
final class LossTests: XCTestCase {

    // MARK: CFD (Eq. 4) — spec §8 C1–C4

    func testCFDClosedFormsC1toC4() {
        let ft = Tensor([1, 2, 3], shape: [1, 3])
        func cfd(_ s: [Float], _ tau: Float) -> Double {
            Double(cfdLoss(teacherPooled: ft, studentPooled: Tensor(s, shape: [1, 3]), tau: tau).item)
        }
        XCTAssertEqual(cfd([1, 2, 3], 1), 0, accuracy: 1e-7, "C1")
        XCTAssertEqual(cfd([1, 2, 3], 0.9), 0.0024624068, accuracy: 1e-8, "C2")
        XCTAssertEqual(cfd([0, 0, 0], 1), 0.2662167068, accuracy: 1e-7, "C3")
        XCTAssertEqual(cfd([1 / 0.9, 2 / 0.9, 3 / 0.9], 0.9), 0, accuracy: 1e-7, "C4")
    }

    func testCFDMatchesReferenceAndGradient() {
        let (b, c) = (3, 7)
        let t = rand([b, c], seed: 1, -2, 2), s = rand([b, c], seed: 2, -2, 2, grad: true)
        for tau: Float in [1, 0.85] {
            s.grad = nil
            let l = cfdLoss(teacherPooled: t, studentPooled: s, tau: tau)
            let ref = Ref.cfd(f64(t), f64(s), b: b, c: c, tau: Double(tau))
            assertClose(Double(l.item), ref, rtol: 1e-5, atol: 1e-12, "CFD τ=\(tau)")
            l.backward()
            let fd = finiteDifferences({ Ref.cfd(f64(t), $0, b: b, c: c, tau: Double(tau)) }, at: f64(s))
            assertGradient(s.grad, fd, "CFD τ=\(tau)")
        }
    }

    // MARK: II_P2P (Eq. 6) and IS_P2P (Eq. 7)

    func testIIAndISMatchReferences() {
        for (b, h, w, c, tau) in [(3, 2, 3, 5, Float(1)), (2, 3, 3, 4, Float(0.7)), (1, 1, 3, 3, Float(1.3))] {
            let t = rand([b, h, w, c], seed: 10, 0, 1), s = rand([b, h, w, c], seed: 11, -1, 1)
            let a = h * w
            let ii = Double(iiP2PLoss(teacher: t, student: s, tau: tau).item)
            let isB = Double(isP2PLoss(teacher: t, student: s, tau: tau).item)
            let isD = Double(isP2PLossDirect(teacher: t, student: s, tau: tau).item)
            assertClose(ii, Ref.iiP2P(f64(t), f64(s), b: b, pixels: a, c: c, tau: Double(tau)), rtol: 1e-5, atol: 1e-12, "II \(b)x\(h)x\(w)x\(c)")
            let ref = Ref.isP2P(f64(t), f64(s), b: b, pixels: a, c: c, tau: Double(tau))
            assertClose(isB, ref, rtol: 1e-5, atol: 1e-12, "IS blocked \(b)x\(h)x\(w)x\(c)")
            assertClose(isD, ref, rtol: 1e-5, atol: 1e-12, "IS direct \(b)x\(h)x\(w)x\(c)")
        }
    }

    func testIIGradientFiniteDifferences() {
        let (b, h, w, c) = (2, 1, 3, 5)
        let t = rand([b, h, w, c], seed: 20, 0, 1), s = rand([b, h, w, c], seed: 21, -1, 1, grad: true)
        iiP2PLoss(teacher: t, student: s, tau: 0.8).backward()
        let fd = finiteDifferences({ Ref.iiP2P(f64(t), $0, b: b, pixels: h * w, c: c, tau: 0.8) }, at: f64(s))
        assertGradient(s.grad, fd, "II_P2P")
    }

    func testISGradientFiniteDifferencesBothForms() {
        let (b, h, w, c) = (3, 1, 3, 5)
        let t = rand([b, h, w, c], seed: 30, 0, 1), s = rand([b, h, w, c], seed: 31, -1, 1, grad: true)
        let fd = finiteDifferences({ Ref.isP2P(f64(t), $0, b: b, pixels: h * w, c: c, tau: 0.9) }, at: f64(s))
        isP2PLoss(teacher: t, student: s, tau: 0.9).backward()
        assertGradient(s.grad, fd, "IS_P2P blocked")
        s.grad = nil
        isP2PLossDirect(teacher: t, student: s, tau: 0.9).backward()
        assertGradient(s.grad, fd, "IS_P2P direct")
    }

    /// The blocked form equals the direct form to ≤ 1e-5 (relative) in loss and gradient, for every
    /// block size, including blocks that do not divide B.
    func testBlockedISEqualsDirect() {
        let (b, h, w, c) = (5, 3, 3, 7)
        let t = rand([b, h, w, c], seed: 40, 0, 1), s = rand([b, h, w, c], seed: 41, 0, 1, grad: true)
        for tau: Float in [1, 0.7] {
            s.grad = nil
            let d = isP2PLossDirect(teacher: t, student: s, tau: tau)
            d.backward()
            let gd = s.grad!.array
            let scale = Double(gd.map { abs($0) }.max()!)
            for bs in [1, 2, 3, 5, 8] {
                s.grad = nil
                let l = isP2PLoss(teacher: t, student: s, tau: tau, blockSize: bs)
                assertClose(Double(l.item), Double(d.item), rtol: 1e-5, atol: 1e-12, "loss τ=\(tau) blockSize=\(bs)")
                l.backward()
                let gb = s.grad!.array
                let worst = zip(gb, gd).map { abs(Double($0) - Double($1)) }.max()!
                XCTAssertLessThanOrEqual(worst / scale, 1e-5, "gradient τ=\(tau) blockSize=\(bs): max diff \(worst), scale \(scale)")
            }
        }
    }

    /// Under noGrad (or with a student that needs no gradient) the blocked op records nothing.
    func testBlockedISWithoutGradient() {
        let t = rand([2, 2, 2, 3], seed: 50, 0, 1), s = rand([2, 2, 2, 3], seed: 51, 0, 1, grad: true)
        let l = Autograd.noGrad { isP2PLoss(teacher: t, student: s, tau: 1) }
        XCTAssertFalse(l.requiresGrad)
        let l2 = isP2PLoss(teacher: t, student: s.detached(), tau: 1)
        XCTAssertFalse(l2.requiresGrad)
        XCTAssertEqual(l.item, l2.item)
    }

    /// Spec §8: student = teacher gives 0; scaling the student leaves IS/II unchanged; A = 1 gives 0.
    func testIdentityScaleInvarianceAndSinglePixel() {
        let t = rand([3, 2, 2, 4], seed: 60, 0, 1)
        for tau: Float in [1, 0.5] {
            XCTAssertEqual(isP2PLoss(teacher: t, student: t.detached(), tau: tau).item, 0, accuracy: 1e-7)
            XCTAssertEqual(isP2PLossDirect(teacher: t, student: t.detached(), tau: tau).item, 0, accuracy: 1e-7)
            XCTAssertEqual(iiP2PLoss(teacher: t, student: t.detached(), tau: tau).item, 0, accuracy: 1e-7)
        }
        let s = rand([3, 2, 2, 4], seed: 61, -1, 1)
        for k: Float in [0.01, 3.7, 250] {
            assertClose(Double(isP2PLoss(teacher: t, student: s.scaled(k), tau: 1).item), Double(isP2PLoss(teacher: t, student: s, tau: 1).item), rtol: 1e-5, atol: 1e-12, "IS scale \(k)")
            assertClose(Double(iiP2PLoss(teacher: t, student: s.scaled(k), tau: 1).item), Double(iiP2PLoss(teacher: t, student: s, tau: 1).item), rtol: 1e-5, atol: 1e-12, "II scale \(k)")
        }
        let t1 = rand([4, 1, 1, 5], seed: 62), s1 = rand([4, 1, 1, 5], seed: 63)
        XCTAssertEqual(isP2PLoss(teacher: t1, student: s1, tau: 1).item, 0)
        XCTAssertEqual(isP2PLossDirect(teacher: t1, student: s1, tau: 1).item, 0)
        XCTAssertEqual(iiP2PLoss(teacher: t1, student: s1, tau: 1).item, 0)
    }

    /// Spec §8: II_P2P is the i = j part of IS_P2P renormalised by B·A instead of B²·A. Through the
    /// public API: IS of a one-sample batch is that sample's II, so II(batch) = mean over samples.
    func testIIIsDiagonalOfIS() {
        let (b, h, w, c) = (4, 2, 2, 3)
        let t = rand([b, h, w, c], seed: 70, 0, 1), s = rand([b, h, w, c], seed: 71, 0, 1)
        let ii = Double(iiP2PLoss(teacher: t, student: s, tau: 0.9).item)
        var mean = 0.0
        for i in 0..<b {
            mean += Double(isP2PLoss(teacher: t.narrowed(axis: 0, start: i, length: 1),
                                     student: s.narrowed(axis: 0, start: i, length: 1), tau: 0.9).item) / Double(b)
        }
        assertClose(ii, mean, rtol: 1e-5, atol: 1e-12, "II vs per-sample IS")
        let a = h * w
        let diag = Ref.relationKLSum(f64(t), f64(s), b: b, pixels: a, c: c, tau: 0.9, diagonalOnly: true)
        assertClose(ii, diag / Double(b * a), rtol: 1e-5, atol: 1e-12, "II vs diagonal of the IS reference sum")
        let full = Ref.relationKLSum(f64(t), f64(s), b: b, pixels: a, c: c, tau: 0.9, diagonalOnly: false)
        XCTAssertGreaterThan(full, diag, "off-diagonal pairs contribute")
    }

    // MARK: M_P2P formula (Eq. 8–9)

    func testMP2PFormulaReferenceAndGradient() {
        let (n, c, v) = (5, 4, 7)
        let t = rand([n, c], seed: 80, 0, 1), s = rand([n, c], seed: 81, -1, 1, grad: true)
        let e = Tensor(normalizedRows(rand([v, c], seed: 82)), shape: [v, c])
        for (tc, tk, f) in [(Float(0.1), Float(1), Float(1)), (Float(0.5), Float(2), Float(0.1))] {
            s.grad = nil
            let l = mP2PLogitLoss(teacherPixels: t, studentPixels: s, embeddings: e, tauContrast: tc, tauKD: tk, factor: f)
            let ref = Ref.mP2P(f64(t), f64(s), e: f64(e), c: c, tauC: Double(tc), tauKD: Double(tk), factor: Double(f))
            assertClose(Double(l.item), ref, rtol: 1e-5, atol: 1e-12, "M_P2P τc=\(tc) τkd=\(tk)")
            l.backward()
            let fd = finiteDifferences({ Ref.mP2P(f64(t), $0, e: f64(e), c: c, tauC: Double(tc), tauKD: Double(tk), factor: Double(f)) }, at: f64(s))
            assertGradient(s.grad, fd, "M_P2P τc=\(tc) τkd=\(tk)")
        }
        // Maps (B, H, W, C) are accepted as pixel rows; student = teacher gives 0.
        let m = rand([2, 2, 2, c], seed: 83, 0, 1)
        XCTAssertEqual(mP2PLogitLoss(teacherPixels: m, studentPixels: m.detached(), embeddings: e, tauContrast: 0.1, tauKD: 1).item, 0, accuracy: 1e-7)
    }

    // MARK: Perceptual and PD

    func testClassifierPerceptualLossReferenceGradientAndWeights() {
        let shapes = [(b: 2, a: 6, c: 3), (b: 2, a: 1, c: 5)]
        let t = [rand([2, 2, 3, 3], seed: 90, 0, 1), rand([2, 1, 1, 5], seed: 91, 0, 1)]
        let s = [rand([2, 2, 3, 3], seed: 92, 0, 1, grad: true), rand([2, 1, 1, 5], seed: 93, 0, 1, grad: true)]
        // Per-channel weights as values (Pipeline's loadPerceptualWeights reads them from a file; PerceptualWeightsTests).
        let w: [[Float]] = [[0.5, 1, 2], [0, 0.1, 0.2, 0.3, 4]]
        for weights in [nil, w] {
            for x in s { x.grad = nil }
            let l = classifierPerceptualLoss(teacherFeatures: t, studentFeatures: s, weights: weights)
            let wd = weights.map { $0.map { $0.map(Double.init) } }
            let ref = Ref.perceptual(t.map(f64), s.map(f64), shapes: shapes, weights: wd)
            assertClose(Double(l.item), ref, rtol: 1e-5, atol: 1e-12, "perceptual weights=\(weights != nil)")
            l.backward()
            for li in 0..<2 {
                let fd = finiteDifferences({ x in
                    var ss = s.map(f64); ss[li] = x
                    return Ref.perceptual(t.map(f64), ss, shapes: shapes, weights: wd)
                }, at: f64(s[li]))
                assertGradient(s[li].grad, fd, "perceptual layer \(li) weights=\(weights != nil)")
            }
        }
        XCTAssertEqual(classifierPerceptualLoss(teacherFeatures: t, studentFeatures: t.map { $0.detached() }).item, 0, accuracy: 1e-7)
    }

    /// L_PD = ω_k · MSE with ω = max(α²/σ², 1): ω(256) = 5.501524669 and ω(1024) = 1 (spec §8 S2).
    func testPDMSELossWeights() {
        let target = rand([2, 2, 2, 3], seed: 100)
        let pred = target + 0.1
        let l = pdMSELoss(studentPrediction: pred, target: target, gridIndices: [256, 1024])
        XCTAssertEqual(Double(l.item), (5.501524669 + 1) / 2 * 0.01, accuracy: 1e-7)
        XCTAssertEqual(pdMSELoss(studentPrediction: target, target: target, gridIndices: [0, 3]).item, 0)
        // Finite differences of the Float64 formula (ω from spec §8 S2) with respect to x̂_S.
        let x = rand([2, 1, 3, 3], seed: 101, grad: true), y = rand([2, 1, 3, 3], seed: 102)
        let omega = [5.501524669, 1.0], per = 9
        func ref(_ v: [Double]) -> Double {
            let yt = f64(y)
            var acc = 0.0
            for b in 0..<2 { for i in 0..<per { let d = v[b * per + i] - yt[b * per + i]; acc += omega[b] * d * d / Double(per) } }
            return acc / 2
        }
        let l2 = pdMSELoss(studentPrediction: x, target: y, gridIndices: [256, 1024])
        assertClose(Double(l2.item), ref(f64(x)), rtol: 1e-5, atol: 1e-12, "PD")
        l2.backward()
        assertGradient(x.grad, finiteDifferences(ref, at: f64(x)), "PD")
    }
}

/// Rows of a (V, C) tensor made unit length (queue-like embeddings).
func normalizedRows(_ x: Tensor) -> [Float] {
    let c = x.shape[1]
    var out = x.array
    for r in 0..<x.shape[0] {
        let n = (0..<c).map { out[r * c + $0] * out[r * c + $0] }.reduce(0, +).squareRoot()
        for k in 0..<c { out[r * c + k] /= n }
    }
    return out
}
