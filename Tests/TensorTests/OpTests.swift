import XCTest
import TestSupport
import Foundation
import Tensor

/// Every op: forward against the Float64 reference, backward against finite differences.
/// Shapes are small and odd on purpose (debug builds, edge handling).
final class OpTests: XCTestCase {
    // MARK: elementwise with broadcasting
    func testBroadcastBinary() {
        let cases: [([Int], [Int])] = [([2, 3, 5], [2, 3, 5]), ([2, 3, 5], [5]), ([2, 1, 5], [3, 1]), ([3, 4], []), ([1], [2, 3]), ([2, 3, 1, 4], [2, 1, 5, 1])]
        let ops: [(String, (Tensor, Tensor) -> Tensor, (Double, Double) -> Double)] = [
            ("add", { $0 + $1 }, { $0 + $1 }), ("sub", { $0 - $1 }, { $0 - $1 }),
            ("mul", { $0 * $1 }, { $0 * $1 }), ("div", { $0 / $1 }, { $0 / $1 }),
        ]
        for (sa, sb) in cases {
            for (name, op, ref) in ops {
                let a = rand(sa, seed: 1), b = rand(sb, seed: 2, 0.5, 2)   // b away from 0 for div
                let out = try! Shape.broadcast(sa, sb, op: name)
                checkForward(op(a, b), Ref.broadcast(f64(a), sa, f64(b), sb, out: out, ref), "\(name) \(sa) \(sb)")
                checkGradients([a, b], eps: 1e-2, "\(name) \(sa) \(sb)") { op($0[0], $0[1]) }
            }
        }
    }

    func testUnary() {
        let x = rand([3, 7], seed: 3, -2, 2)
        let ops: [(String, (Tensor) -> Tensor, (Double) -> Double)] = [
            ("scaled", { $0.scaled(-1.5) }, { -1.5 * $0 }), ("shifted", { $0.shifted(0.25) }, { $0 + 0.25 }),
            ("exp", { $0.exp() }, { Foundation.exp($0) }), ("square", { $0.square() }, { $0 * $0 }),
            ("silu", { $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }),
            ("relu", { $0.relu() }, { max($0, 0) }), ("clamp", { $0.clamped(-0.7, 0.9) }, { min(max($0, -0.7), 0.9) }),
        ]
        for (name, op, ref) in ops {
            checkForward(op(x), f64(x).map(ref), "\(name)")
            checkGradients([x], eps: 1e-3, "\(name)") { op($0[0]) }
        }
        let pos = rand([2, 5], seed: 4, 0.5, 3)
        checkForward(pos.log(), f64(pos).map { Foundation.log($0) }, "log")
        checkGradients([pos], eps: 1e-3, "log") { $0[0].log() }
        checkForward(pos.sqrt(), f64(pos).map { $0.squareRoot() }, "sqrt")
        checkGradients([pos], eps: 1e-3, "sqrt") { $0[0].sqrt() }
    }

    // MARK: reductions
    func testReductions() {
        let x = rand([2, 3, 4], seed: 5)
        let v = f64(x)
        checkForward(x.sum(), [v.reduce(0, +)], "sum")
        checkForward(x.mean(), [v.reduce(0, +) / 24], "mean")
        checkGradients([x], "sum") { $0[0].sum() }
        for axis in 0..<3 {
            let s = x.shape
            var ref = [Double](repeating: 0, count: 24 / s[axis])
            var outShape = s; outShape.remove(at: axis)
            for i in 0..<24 {
                var idx = Ref.unravel(i, s); idx.remove(at: axis)
                let o = zip(idx, Ref.strides(outShape)).map(*).reduce(0, +)
                ref[o] += v[i] / Double(s[axis])
            }
            checkForward(x.mean(axis: axis), ref, "mean axis \(axis)")
            checkGradients([x], "mean axis \(axis)") { $0[0].mean(axis: axis) }
        }
    }

    // MARK: products
    func testMatmul() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, k, n) = (3, 5, 4)
            let a = rand(ta ? [k, m] : [m, k], seed: 6), b = rand(tb ? [n, k] : [k, n], seed: 7)
            let am = ta ? Ref.transpose(f64(a), r: k, c: m) : f64(a)
            let bm = tb ? Ref.transpose(f64(b), r: n, c: k) : f64(b)
            checkForward(matmul(a, b, transA: ta, transB: tb), Ref.matmul(am, bm, m: m, k: k, n: n), "matmul \(ta) \(tb)")
            checkGradients([a, b], "matmul \(ta) \(tb)") { matmul($0[0], $0[1], transA: ta, transB: tb) }
        }
        // batched (2, 3, 5)·(2, 5, 2) and a shared right operand
        let a = rand([2, 3, 5], seed: 8), b = rand([2, 5, 2], seed: 9), w = rand([5, 2], seed: 10)
        let av = f64(a), bv = f64(b)
        var ref: [Double] = []
        for i in 0..<2 {
            let ai: [Double] = Array(av[(i * 15)..<(i * 15 + 15)]), bi: [Double] = Array(bv[(i * 10)..<(i * 10 + 10)])
            ref += Ref.matmul(ai, bi, m: 3, k: 5, n: 2)
        }
        checkForward(matmul(a, b), ref, "batched matmul")
        checkGradients([a, b], "batched matmul") { matmul($0[0], $0[1]) }
        checkGradients([a, w], "batched matmul, shared B") { matmul($0[0], $0[1]) }
    }

    func testLinear() {
        let x = rand([2, 3, 5], seed: 11), w = rand([4, 5], seed: 12), b = rand([4], seed: 13)
        var ref = [Double](repeating: 0, count: 24)
        let xv = f64(x), wv = f64(w), bv = f64(b)
        for r in 0..<6 { for o in 0..<4 { ref[r * 4 + o] = bv[o] + (0..<5).map { xv[r * 5 + $0] * wv[o * 5 + $0] }.reduce(0, +) } }
        checkForward(linear(x, weight: w, bias: b), ref, "linear")
        checkGradients([x, w, b], "linear") { linear($0[0], weight: $0[1], bias: $0[2]) }
        checkGradients([x, w], "linear without bias") { linear($0[0], weight: $0[1], bias: nil) }
    }

    // MARK: layout
    func testLayoutOps() {
        let x = rand([2, 3, 4], seed: 14)
        let v = f64(x)
        let p = x.permuted([2, 0, 1])
        var ref = [Double](repeating: 0, count: 24)
        for i in 0..<24 { let id = Ref.unravel(i, [4, 2, 3]); ref[i] = v[id[1] * 12 + id[2] * 4 + id[0]] }
        checkForward(p, ref, "permute")
        checkGradients([x], "permute") { $0[0].permuted([2, 0, 1]) }
        checkGradients([x], "reshape") { $0[0].reshaped([4, -1]) }
        let y = rand([2, 3, 2], seed: 15)
        let c = Tensor.concat([x, y], axis: -1)
        XCTAssertEqual(c.shape, [2, 3, 6])
        checkForward(c, (0..<36).map { i in let r = i / 6, j = i % 6; return j < 4 ? v[r * 4 + j] : f64(y)[r * 2 + j - 4] }, "concat")
        checkGradients([x, y], "concat") { Tensor.concat([$0[0], $0[1]], axis: -1) }
        checkGradients([x, y], "concat axis 1") { Tensor.concat([$0[0].permuted([0, 2, 1]), $0[1].permuted([0, 2, 1])], axis: 1) }
        checkForward(x.narrowed(axis: 1, start: 1, length: 2), (0..<16).map { i in let b = i / 8, r = (i / 4) % 2, j = i % 4; return v[b * 12 + (r + 1) * 4 + j] }, "narrow")
        checkGradients([x], "narrow") { $0[0].narrowed(axis: 2, start: 1, length: 3) }
        let table = rand([5, 3], seed: 16)
        checkForward(table.gatherRows([4, 0, 4]), [4, 0, 4].flatMap { r in (0..<3).map { f64(table)[r * 3 + $0] } }, "gatherRows")
        checkGradients([table], "gatherRows (repeated index)") { $0[0].gatherRows([4, 0, 4]) }
    }

    // MARK: image resampling (NHWC)
    func testPooling() {
        let x = rand([2, 4, 6, 3], seed: 17)
        let v = f64(x)
        func at(_ b: Int, _ y: Int, _ xx: Int, _ c: Int) -> Double { v[((b * 4 + y) * 6 + xx) * 3 + c] }
        let up = (0..<(2 * 8 * 12 * 3)).map { i -> Double in let id = Ref.unravel(i, [2, 8, 12, 3]); return at(id[0], id[1] / 2, id[2] / 2, id[3]) }
        checkForward(x.upsampleNearest2x(), up, "upsample")
        checkGradients([x], "upsample") { $0[0].upsampleNearest2x() }
        let pool = (0..<(2 * 2 * 3 * 3)).map { i -> Double in
            let id = Ref.unravel(i, [2, 2, 3, 3])
            return (at(id[0], 2 * id[1], 2 * id[2], id[3]) + at(id[0], 2 * id[1] + 1, 2 * id[2], id[3]) + at(id[0], 2 * id[1], 2 * id[2] + 1, id[3]) + at(id[0], 2 * id[1] + 1, 2 * id[2] + 1, id[3])) / 4
        }
        checkForward(x.avgPool2x2(), pool, "avgPool2x2")
        checkGradients([x], "avgPool2x2") { $0[0].avgPool2x2() }
        let gap = (0..<6).map { i -> Double in let b = i / 3, c = i % 3; var s = 0.0; for y in 0..<4 { for xx in 0..<6 { s += at(b, y, xx, c) } }; return s / 24 }
        checkForward(x.globalAvgPool(), gap, "globalAvgPool")
        checkGradients([x], "globalAvgPool") { $0[0].globalAvgPool() }
    }

    // MARK: normalisation
    func testGroupNorm() {
        let (b, h, w, c, g) = (2, 3, 2, 6, 3)
        let x = rand([b, h, w, c], seed: 18, -2, 2), gamma = rand([c], seed: 19, 0.5, 1.5), beta = rand([c], seed: 20)
        var ref = [Double](repeating: 0, count: x.count)
        let v = f64(x)
        for bb in 0..<b { for gg in 0..<g {
            var idx: [Int] = []
            for p in 0..<(h * w) { for k in 0..<(c / g) { idx.append((bb * h * w + p) * c + gg * (c / g) + k) } }
            let nrm = Ref.normalize(idx.map { v[$0] }, eps: 1e-5)
            for (j, i) in idx.enumerated() { ref[i] = nrm[j] * Double(gamma.data[i % c]) + Double(beta.data[i % c]) }
        } }
        checkForward(groupNorm(x, groups: g, weight: gamma, bias: beta), ref, rtol: 1e-4, atol: 1e-4, "groupNorm")
        checkGradients([x, gamma, beta], eps: 1e-2, "groupNorm") { groupNorm($0[0], groups: g, weight: $0[1], bias: $0[2]) }
        checkForward(groupNormSiLU(x, groups: g, weight: gamma, bias: beta), ref.map { $0 / (1 + Foundation.exp(-$0)) }, rtol: 1e-4, atol: 1e-4, "groupNormSiLU")
        checkGradients([x, gamma, beta], eps: 1e-2, "groupNormSiLU") { groupNormSiLU($0[0], groups: g, weight: $0[1], bias: $0[2]) }
    }

    func testBatchNorm() {
        let c = 3
        let x = rand([4, 2, 3, c], seed: 21, -2, 2), gamma = rand([c], seed: 22, 0.5, 1.5), beta = rand([c], seed: 23)
        let v = f64(x)
        var ref = [Double](repeating: 0, count: x.count)
        for k in 0..<c {
            let idx = stride(from: k, to: x.count, by: c).map { $0 }
            let nrm = Ref.normalize(idx.map { v[$0] }, eps: 1e-5)
            for (j, i) in idx.enumerated() { ref[i] = nrm[j] * Double(gamma.data[k]) + Double(beta.data[k]) }
        }
        let rm = Tensor(zeros: [c]), rv = Tensor(repeating: 1, shape: [c])
        checkForward(batchNorm(x, weight: gamma, bias: beta, runningMean: rm, runningVar: rv, training: true), ref, atol: 1e-4, "batchNorm train")
        // running statistics: 0.9·old + 0.1·batch (unbiased variance)
        for k in 0..<c {
            let vals = stride(from: k, to: x.count, by: c).map { v[$0] }
            let m = vals.reduce(0, +) / Double(vals.count)
            let uv = vals.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(vals.count - 1)
            XCTAssertEqual(Double(rm.data[k]), 0.1 * m, accuracy: 1e-6)
            XCTAssertEqual(Double(rv.data[k]), 0.9 + 0.1 * uv, accuracy: 1e-5)
        }
        checkGradients([x, gamma, beta], "batchNorm train") {
            batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: Tensor(zeros: [c]), runningVar: Tensor(repeating: 1, shape: [c]), training: true)
        }
        let erm = rand([c], seed: 24, grad: false), erv = rand([c], seed: 25, 0.5, 2, grad: false)
        let eref = (0..<x.count).map { i in let k = i % c; return (v[i] - Double(erm.data[k])) / (Double(erv.data[k]) + 1e-5).squareRoot() * Double(gamma.data[k]) + Double(beta.data[k]) }
        checkForward(batchNorm(x, weight: gamma, bias: beta, runningMean: erm, runningVar: erv, training: false), eref, "batchNorm eval")
        checkGradients([x, gamma, beta], "batchNorm eval") { batchNorm($0[0], weight: $0[1], bias: $0[2], runningMean: erm, runningVar: erv, training: false) }
    }

    // MARK: softmax family
    func testSoftmaxFamily() {
        let x = rand([3, 4, 5], seed: 26, -3, 3)
        checkForward(x.softmax(), Ref.softmax(f64(x), n: 5), "softmax")
        checkForward(x.logSoftmax(), Ref.softmax(f64(x), n: 5, log: true), "logSoftmax")
        checkGradients([x], eps: 1e-3, "softmax") { $0[0].softmax() }
        checkGradients([x], eps: 1e-3, "logSoftmax") { $0[0].logSoftmax() }
        let xp = x.permuted([0, 2, 1]).detached()          // softmax over a middle axis
        xp.requiresGrad = true
        checkForward(xp.softmax(axis: 1).permuted([0, 2, 1]), Ref.softmax(f64(x), n: 5), "softmax axis 1")
        checkGradients([xp], eps: 1e-3, "softmax axis 1") { $0[0].softmax(axis: 1) }
        let ref = (0..<12).flatMap { r -> [Double] in
            let row = Array(f64(x)[(r * 5)..<(r * 5 + 5)])
            let nrm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            return row.map { $0 / max(nrm, 1e-12) }
        }
        checkForward(x.l2Normalized(), ref, "l2Normalized")
        checkGradients([x], eps: 1e-3, "l2Normalized") { $0[0].l2Normalized() }
        let z = Tensor(zeros: [2, 3])
        XCTAssertEqual(z.l2Normalized().array, [Float](repeating: 0, count: 6), "zero vector stays zero (eps 1e-12)")
    }

    // MARK: losses
    func testLosses() {
        let a = rand([2, 3, 4], seed: 27), b = rand([2, 3, 4], seed: 28)
        checkForward(mseLoss(a, b), [zip(f64(a), f64(b)).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 24], "mse")
        checkGradients([a, b], "mse") { mseLoss($0[0], $0[1]) }
        let t = rand([4, 6], seed: 29, -2, 2), s = rand([4, 6], seed: 30, -2, 2)
        for (tt, ts) in [(1.0, 1.0), (0.9, 1.0), (0.5, 2.0)] as [(Float, Float)] {
            checkForward(klDivergence(teacherLogits: t, studentLogits: s, tauTeacher: tt, tauStudent: ts),
                         [Ref.kl(f64(t), f64(s), n: 6, tauT: Double(tt), tauS: Double(ts))], "kl τ=\(tt),\(ts)")
            checkGradients([t, s], eps: 1e-3, "kl τ=\(tt),\(ts)") { klDivergence(teacherLogits: $0[0], studentLogits: $0[1], tauTeacher: tt, tauStudent: ts) }
        }
        // Spec §8 C1–C4 (CFD on f^T = [1, 2, 3]).
        let fT = Tensor([1, 2, 3], shape: [1, 3])
        XCTAssertEqual(klDivergence(teacherLogits: fT, studentLogits: fT).item, 0, accuracy: 1e-7)
        XCTAssertEqual(klDivergence(teacherLogits: fT, studentLogits: fT, tauTeacher: 0.9).item, 0.0024624068, accuracy: 1e-7)
        XCTAssertEqual(klDivergence(teacherLogits: fT, studentLogits: Tensor(zeros: [1, 3])).item, 0.2662167068, accuracy: 1e-7)
        XCTAssertEqual(klDivergence(teacherLogits: fT, studentLogits: fT.scaled(1 / 0.9), tauTeacher: 0.9).item, 0, accuracy: 1e-7)
    }

    // MARK: attention, dropout
    func testAttention() {
        let (b, n, c) = (2, 5, 3)
        let q = rand([b, n, c], seed: 31), k = rand([b, n, c], seed: 32), v = rand([b, n, c], seed: 33)
        var ref = [Double](repeating: 0, count: b * n * c)
        let qv = f64(q), kv = f64(k), vv = f64(v)
        for bb in 0..<b { for i in 0..<n {
            var scores = [Double](repeating: 0, count: n)
            for j in 0..<n {
                var s = 0.0
                for ch in 0..<c { s += qv[(bb * n + i) * c + ch] * kv[(bb * n + j) * c + ch] }
                scores[j] = s / Double(c).squareRoot()
            }
            let p = Ref.softmax(scores, n: n)
            for ch in 0..<c {
                var s = 0.0
                for j in 0..<n { s += p[j] * vv[(bb * n + j) * c + ch] }
                ref[(bb * n + i) * c + ch] = s
            }
        } }
        checkForward(attention(q: q, k: k, v: v), ref, "attention")
        checkGradients([q, k, v], eps: 1e-3, "attention") { attention(q: $0[0], k: $0[1], v: $0[2]) }
    }

    func testDropout() {
        let x = rand([1000], seed: 34, 1, 2)
        var r1 = RNG(seed: 5), r2 = RNG(seed: 5)
        let y1 = x.dropout(p: 0.3, training: true, rng: &r1), y2 = x.dropout(p: 0.3, training: true, rng: &r2)
        XCTAssertEqual(y1.array, y2.array, "same seed, same mask")
        let zeros = y1.array.filter { $0 == 0 }.count
        XCTAssertTrue(zeros > 230 && zeros < 370, "about 30% dropped, got \(zeros)")
        for i in 0..<1000 where y1.data[i] != 0 { XCTAssertEqual(y1.data[i], x.data[i] / 0.7, accuracy: 1e-6) }
        var r3 = RNG(seed: 6)
        XCTAssertTrue(x.dropout(p: 0.3, training: false, rng: &r3) === x, "identity in eval mode")
        let small = rand([7], seed: 35)
        var r4 = RNG(seed: 9)
        let mask = Tensor(repeating: 1, shape: [7]).dropout(p: 0.5, training: true, rng: &r4).array
        checkGradients([small], "dropout") { x in var r = RNG(seed: 9); return x[0].dropout(p: 0.5, training: true, rng: &r) }
        _ = mask
    }
}
