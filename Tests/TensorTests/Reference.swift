import Foundation

/// Slow, obviously-correct Float64 references written from the definitions with naive loops,
/// independently of the optimised kernels (which use other loop orders, BLAS and Float32).
enum Ref {
    static func strides(_ s: [Int]) -> [Int] {
        var st = [Int](repeating: 1, count: s.count)
        if s.count > 1 { for i in stride(from: s.count - 2, through: 0, by: -1) { st[i] = st[i + 1] * s[i + 1] } }
        return st
    }
    static func unravel(_ i: Int, _ s: [Int]) -> [Int] {
        var r = i
        var idx = [Int](repeating: 0, count: s.count)
        for a in stride(from: s.count - 1, through: 0, by: -1) { idx[a] = r % s[a]; r /= s[a] }
        return idx
    }

    /// Broadcast binary op by mapping each output multi-index to each input's.
    static func broadcast(_ a: [Double], _ sa: [Int], _ b: [Double], _ sb: [Int], out: [Int], _ f: (Double, Double) -> Double) -> [Double] {
        let n = out.reduce(1, *)
        let ra = out.count - sa.count, rb = out.count - sb.count
        return (0..<n).map { i in
            let idx = unravel(i, out)
            var ia = 0, ib = 0
            let sta = strides(sa), stb = strides(sb)
            for k in 0..<sa.count where sa[k] != 1 { ia += idx[k + ra] * sta[k] }
            for k in 0..<sb.count where sb[k] != 1 { ib += idx[k + rb] * stb[k] }
            return f(a[ia], b[ib])
        }
    }

    static func matmul(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s = 0.0; for p in 0..<k { s += a[i * k + p] * b[p * n + j] }; c[i * n + j] = s } }
        return c
    }

    static func transpose(_ a: [Double], r: Int, c: Int) -> [Double] {
        var t = [Double](repeating: 0, count: r * c)
        for i in 0..<r { for j in 0..<c { t[j * r + i] = a[i * c + j] } }
        return t
    }

    /// softmax along the last axis of rows of length n.
    static func softmax(_ x: [Double], n: Int, log: Bool = false) -> [Double] {
        var y = x
        for r in 0..<(x.count / n) {
            let row = Array(x[(r * n)..<(r * n + n)])
            let m = row.max()!
            let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            for j in 0..<n { y[r * n + j] = log ? row[j] - m - Foundation.log(z) : Foundation.exp(row[j] - m) / z }
        }
        return y
    }

    /// Normalisation of a set of values: (v − mean)/sqrt(var + eps), biased variance.
    static func normalize(_ v: [Double], eps: Double) -> [Double] {
        let m = v.reduce(0, +) / Double(v.count)
        let va = v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)
        return v.map { ($0 - m) / (va + eps).squareRoot() }
    }

    static func kl(_ t: [Double], _ s: [Double], n: Int, tauT: Double, tauS: Double) -> Double {
        let p = softmax(t.map { $0 / tauT }, n: n), lq = softmax(s.map { $0 / tauS }, n: n, log: true)
        var total = 0.0
        for i in 0..<t.count where p[i] > 0 { total += p[i] * (Foundation.log(p[i]) - lq[i]) }
        return total / Double(t.count / n)
    }
}
