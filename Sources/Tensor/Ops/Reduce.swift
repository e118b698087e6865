/// Sum and mean reductions: over everything, or over one axis.
///
/// Sums accumulate in Float64 per output element so that results do not depend on the thread count
/// and stay accurate for large counts (50k×2048 feature matrices, batch losses).
extension Tensor {
    /// Σ of all elements, as a scalar tensor.
    public func sum() -> Tensor {
        let n = count, p = data
        var acc = 0.0
        for i in 0..<n { acc += Double(p[i]) }
        let out = Tensor(scalar: Float(acc))
        return out.recording([self]) { _, g in
            let d = self.gradBuffer(), gv = g.data[0]
            for i in 0..<n { d[i] += gv }
        }
    }

    /// Mean of all elements, as a scalar tensor.
    public func mean() -> Tensor { sum().scaled(1 / Float(max(count, 1))) }

    /// Σ over `axis`; the axis is removed unless `keepDims`.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = checked { try Shape.axis(axis, rank: rank, op: "sum(axis:)") }
        let (outer, n, inner) = Shape.split(shape, axis: ax)
        var newShape = shape
        if keepDims { newShape[ax] = 1 } else { newShape.remove(at: ax) }
        let out = Tensor(uninitialized: newShape)
        let p = data, o = out.data
        for a in 0..<outer {
            for c in 0..<inner {
                var acc = 0.0
                for j in 0..<n { acc += Double(p[(a * n + j) * inner + c]) }
                o[a * inner + c] = Float(acc)
            }
        }
        return out.recording([self]) { _, g in
            let d = self.gradBuffer(), gp = g.data
            for a in 0..<outer { for j in 0..<n { for c in 0..<inner { d[(a * n + j) * inner + c] += gp[a * inner + c] } } }
        }
    }

    /// Mean over `axis`.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor {
        let ax = checked { try Shape.axis(axis, rank: rank, op: "mean(axis:)") }
        return sum(axis: ax, keepDims: keepDims).scaled(1 / Float(shape[ax]))
    }
}
