import Foundation
import CGemm

/// Softmax, log-softmax and L2 normalisation over one axis.
///
/// Each works on the (outer, n, inner) split of the shape; rows along the axis are independent, so
/// they run in parallel over `outer`. Max-subtraction keeps exp() in range; exp and log are our own (`fastExp`, `DetMath`), so
/// the results do not depend on the machine's libm.
extension Tensor {
    /// softmax(x)_j = exp(x_j − max) / Σ exp(x_k − max). Backward: dx = y ⊙ (dy − Σ dy⊙y).
    public func softmax(axis: Int = -1) -> Tensor {
        let ax = checked { try Shape.axis(axis, rank: rank, op: "softmax") }
        let (outer, n, inner) = Shape.split(shape, axis: ax)
        let out = Tensor(uninitialized: shape)
        softmaxRows(x: data, y: out.data, outer: outer, n: n, inner: inner, log: false)
        return out.recording([self]) { out, g in
            // Rows are independent: parallel over `outer` (each row's sums in j order, whatever the split).
            let (d, fresh) = self.gradBufferForWrite()
            softmaxBackwardRows(y: out.data, dy: g.data, dx: d, outer: outer, n: n, inner: inner, accumulate: !fresh)
        }
    }

    /// log softmax(x)_j = x_j − max − log Σ exp(x_k − max). Backward: dx = dy − softmax·Σ dy.
    public func logSoftmax(axis: Int = -1) -> Tensor {
        let ax = checked { try Shape.axis(axis, rank: rank, op: "logSoftmax") }
        let (outer, n, inner) = Shape.split(shape, axis: ax)
        let out = Tensor(uninitialized: shape)
        softmaxRows(x: data, y: out.data, outer: outer, n: n, inner: inner, log: true)
        return out.recording([self]) { out, g in
            let dx = self.gradBuffer(), y = out.data, dy = g.data
            for a in 0..<outer { for c in 0..<inner {
                var s: Float = 0
                for j in 0..<n { s += dy[(a * n + j) * inner + c] }
                for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] += dy[i] - fastExp(y[i]) * s }
            } }
        }
    }

    /// x / max(‖x‖₂, eps) over `axis` (PyTorch's F.normalize, eps 1e-12).
    /// Backward with n = max(‖x‖, eps): dx = dy/n − x (x·dy)/(n²‖x‖) when ‖x‖ > eps, else dy/eps.
    public func l2Normalized(axis: Int = -1, eps: Float = 1e-12) -> Tensor {
        let ax = checked { try Shape.axis(axis, rank: rank, op: "l2Normalized") }
        let (outer, n, inner) = Shape.split(shape, axis: ax)
        let out = Tensor(uninitialized: shape)
        var norms = [Float](repeating: 0, count: outer * inner)
        let x = data, y = out.data
        for a in 0..<outer { for c in 0..<inner {
            var ss: Float = 0
            for j in 0..<n { let v = x[(a * n + j) * inner + c]; ss += v * v }
            let nv = ss.squareRoot()
            norms[a * inner + c] = nv
            let d = max(nv, eps)
            for j in 0..<n { let i = (a * n + j) * inner + c; y[i] = x[i] / d }
        } }
        return out.recording([self]) { _, g in
            let dx = self.gradBuffer(), dy = g.data
            for a in 0..<outer { for c in 0..<inner {
                let nv = norms[a * inner + c]
                if nv > eps {
                    var dot: Float = 0
                    for j in 0..<n { let i = (a * n + j) * inner + c; dot += x[i] * dy[i] }
                    let k = dot / (nv * nv * nv)
                    for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] += dy[i] / nv - x[i] * k }
                } else {
                    for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] += dy[i] / eps }
                }
            } }
        }
    }
}

/// Row-wise (log-)softmax kernel on the (outer, n, inner) split; parallel over `outer`.
func softmaxRows(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, outer: Int, n: Int, inner: Int, log: Bool) {
    let px = SendablePtr(x), py = SendablePtr(y)
    let contiguous = inner == 1 && GemmDispatch.isa != .portable
    parallelRange(outer, minChunk: max(1, 16384 / max(1, n * inner))) { s, e in
        let x = px.p, y = py.p
        // Contiguous rows (the attention's softmax over keys, any softmax along the last axis): the vector
        // kernel of Sources/CGemm/softmax.c, which performs the loops below operation for operation (vector
        // lanes along a row for max, exp and scale; one row per lane for the in-order sums). The loops below
        // stay the portable path and the reference (SoftmaxKernelTests).
        if contiguous {
            if !log {
                if rdd_softmax_rows(x + s * n, y + s * n, e - s, n, 1, nil, nil) != 0 { return }
            } else {
                var mz = [Float](repeating: 0, count: 2 * (e - s))
                let done = mz.withUnsafeMutableBufferPointer { b in
                    rdd_softmax_rows(x + s * n, y + s * n, e - s, n, 0, b.baseAddress!, b.baseAddress! + (e - s)) != 0
                }
                if done {
                    for a in s..<e {
                        let lz = Float(DetMath.log(Double(mz[e - s + a - s]))) + mz[a - s]
                        for j in 0..<n { let i = a * n + j; y[i] = x[i] - lz }
                    }
                    return
                }
            }
        }
        for a in s..<e { for c in 0..<inner {
            var m = -Float.infinity
            for j in 0..<n { m = max(m, x[(a * n + j) * inner + c]) }
            var z: Float = 0
            for j in 0..<n { let i = (a * n + j) * inner + c; let ev = fastExp(x[i] - m); y[i] = ev; z += ev }
            if log {
                let lz = Float(DetMath.log(Double(z))) + m
                for j in 0..<n { let i = (a * n + j) * inner + c; y[i] = x[i] - lz }
            } else {
                let iz = 1 / z
                for j in 0..<n { y[(a * n + j) * inner + c] *= iz }
            }
        } }
    }
}

/// Softmax backward on the (outer, n, inner) split: dx (= or +=, `accumulate`) y ⊙ (dy − Σ_j dy⊙y), each
/// row's sum in j order; parallel over `outer` (rows are independent, so the split never changes a bit).
func softmaxBackwardRows(y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         outer: Int, n: Int, inner: Int, accumulate: Bool) {
    let pdx = SendablePtr(dx), py = SendablePtr(y), pdy = SendablePtr(dy)
    let contiguous = inner == 1 && GemmDispatch.isa != .portable
    parallelRange(outer, minChunk: max(1, 16384 / max(1, n * inner))) { s, e in
        let dx = pdx.p, y = py.p, dy = pdy.p
        // Contiguous rows: the vector kernel of Sources/CGemm/softmax.c, the loops below operation for operation.
        if contiguous && rdd_softmax_backward_rows(y + s * n, dy + s * n, dx + s * n, e - s, n, accumulate ? 1 : 0) != 0 { return }
        for a in s..<e { for c in 0..<inner {
            var dot: Float = 0
            for j in 0..<n { let i = (a * n + j) * inner + c; dot += dy[i] * y[i] }
            if !accumulate { for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] = y[i] * (dy[i] - dot) } }
            else { for j in 0..<n { let i = (a * n + j) * inner + c; dx[i] += y[i] * (dy[i] - dot) } }
        } }
    }
}

/// True when the vector kernel (not the Swift loops) computes a softmax over rows of `n` floats on the
/// selected ISA — for tests, so that a silent fallback to the loops cannot pass as the kernel's check.
func vectorSoftmaxHandles(n: Int) -> Bool {
    _ = GemmDispatch.isa
    let x = [Float](repeating: 0, count: max(n, 1))
    var y = x
    return y.withUnsafeMutableBufferPointer { rdd_softmax_rows(x, $0.baseAddress!, 1, n, 1, nil, nil) != 0 }
}
