/// Layout ops: reshape (shares storage), permute, concat and narrow along an axis, and row gather.
extension Tensor {
    /// Same elements, new shape (one dimension may be −1). Shares storage with `self`.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var s = newShape
        if let i = s.firstIndex(of: -1) {
            let known = s.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            s[i] = known == 0 ? 0 : count / known
        }
        if Shape.count(s) != count {
            shapeFailure(ShapeError("reshape", "cannot view \(fmt(shape)) (\(count) elements) as \(fmt(newShape))"))
        }
        let out = Tensor(shape: s, storage: storage)
        return out.recording([self]) { _, g in
            let (d, fresh) = self.gradBufferForWrite()
            let pd = SendablePtr(d), gp = SendablePtr(g.data)
            if fresh { d.update(from: g.data, count: self.count); return }
            parallelRange(self.count, minChunk: 1 << 15) { s, e in for i in s..<e { pd.p[i] += gp.p[i] } }
        }
    }

    /// Axes permuted: out.shape[i] = shape[perm[i]] (a copy).
    public func permuted(_ perm: [Int]) -> Tensor {
        if perm.sorted() != Array(0..<rank) {
            shapeFailure(ShapeError("permute", "\(perm) is not a permutation of the axes of \(fmt(shape))"))
        }
        let outShape = perm.map { shape[$0] }
        var inStrides = [Int](repeating: 1, count: rank)
        for i in stride(from: rank - 2, through: 0, by: -1) { inStrides[i] = inStrides[i + 1] * shape[i + 1] }
        let srcStrides = perm.map { inStrides[$0] }     // input stride of each output axis
        let out = Tensor(uninitialized: outShape)
        permuteCopy(from: data, to: out.data, outShape: outShape, srcStrides: srcStrides, accumulate: false)
        return out.recording([self]) { _, g in
            // dx[src(i)] += g[i]: walk the same index map.
            permuteScatterAdd(from: g.data, to: self.gradBuffer(), outShape: outShape, srcStrides: srcStrides)
        }
    }

    /// Concatenation along `axis` (channels of NHWC tensors: axis −1, for U-Net skip connections).
    public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
        precondition(!xs.isEmpty, "concat: no tensors")
        let r = xs[0].rank
        let ax = checked { try Shape.axis(axis, rank: r, op: "concat") }
        for x in xs where x.rank != r || (0..<r).contains(where: { $0 != ax && x.shape[$0] != xs[0].shape[$0] }) {
            shapeFailure(ShapeError("concat", "shapes \(xs.map { fmt($0.shape) }.joined(separator: ", ")) differ off axis \(ax)"))
        }
        var outShape = xs[0].shape
        outShape[ax] = xs.map { $0.shape[ax] }.reduce(0, +)
        let (outer, total, inner) = Shape.split(outShape, axis: ax)
        let out = Tensor(uninitialized: outShape)
        var offset = 0
        var offsets: [Int] = []
        for x in xs {
            let w = x.shape[ax] * inner
            offsets.append(offset)
            let src = SendablePtr(x.data), dst = SendablePtr(out.data), o = offset
            parallelRange(outer, minChunk: max(1, 8192 / max(w, 1))) { s, e in
                for a in s..<e { (dst.p + a * total * inner + o).update(from: src.p + a * w, count: w) }
            }
            offset += w
        }
        return out.recording(xs) { _, g in
            // Each input's gradient is its slice of g: copied into a fresh buffer, added otherwise.
            for (x, o) in zip(xs, offsets) where x.requiresGrad {
                let w = x.shape[ax] * inner
                let (d, fresh) = x.gradBufferForWrite()
                let pd = SendablePtr(d), pg = SendablePtr(g.data)
                parallelRange(outer, minChunk: max(1, 8192 / max(w, 1))) { s, e in
                    for a in s..<e {
                        let src = pg.p + a * total * inner + o, dst = pd.p + a * w
                        if fresh { dst.update(from: src, count: w) } else { for j in 0..<w { dst[j] += src[j] } }
                    }
                }
            }
        }
    }

    /// Elements `start ..< start+length` along `axis` (a copy).
    public func narrowed(axis: Int, start: Int, length: Int) -> Tensor {
        let ax = checked { try Shape.axis(axis, rank: rank, op: "narrow") }
        if start < 0 || length < 0 || start + length > shape[ax] {
            shapeFailure(ShapeError("narrow", "range \(start)..<\(start + length) outside axis \(ax) of \(fmt(shape))"))
        }
        let (outer, n, inner) = Shape.split(shape, axis: ax)
        var outShape = shape
        outShape[ax] = length
        let out = Tensor(uninitialized: outShape)
        let w = length * inner
        for a in 0..<outer { (out.data + a * w).update(from: data + (a * n + start) * inner, count: w) }
        return out.recording([self]) { _, g in
            let d = self.gradBuffer()
            for a in 0..<outer {
                let dst = d + (a * n + start) * inner, src = g.data + a * w
                for j in 0..<w { dst[j] += src[j] }
            }
        }
    }

    /// Rows of a 2-D table: out[i, :] = self[indices[i], :]. Backward scatter-adds into the table.
    public func gatherRows(_ indices: [Int]) -> Tensor {
        precondition(rank == 2, "gatherRows: table must be 2-D, got \(fmt(shape))")
        let d = shape[1]
        for i in indices where i < 0 || i >= shape[0] {
            shapeFailure(ShapeError("gatherRows", "index \(i) outside 0..<\(shape[0]) for table \(fmt(shape))"))
        }
        let out = Tensor(uninitialized: [indices.count, d])
        for (r, i) in indices.enumerated() { (out.data + r * d).update(from: data + i * d, count: d) }
        return out.recording([self]) { _, g in
            let gb = self.gradBuffer()
            for (r, i) in indices.enumerated() { for j in 0..<d { gb[i * d + j] += g.data[r * d + j] } }
        }
    }
}

/// out[i] = src[Σ idx_k · srcStrides_k] over the multi-index of `outShape`.
func permuteCopy(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, outShape: [Int], srcStrides: [Int], accumulate: Bool) {
    let r = outShape.count
    let n = Shape.count(outShape)
    if n == 0 { return }
    if r == 0 { dst[0] = accumulate ? dst[0] + src[0] : src[0]; return }
    let last = outShape[r - 1], ls = srcStrides[r - 1]
    var idx = [Int](repeating: 0, count: r)
    var off = 0
    var o = 0
    while o < n {
        for j in 0..<last { dst[o + j] = accumulate ? dst[o + j] + src[off + j * ls] : src[off + j * ls] }
        o += last
        var ax = r - 2
        while ax >= 0 {
            idx[ax] += 1; off += srcStrides[ax]
            if idx[ax] < outShape[ax] { break }
            off -= srcStrides[ax] * outShape[ax]; idx[ax] = 0
            ax -= 1
        }
    }
}

/// dst[Σ idx_k · srcStrides_k] += g[i]: the adjoint of `permuteCopy`.
func permuteScatterAdd(from g: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, outShape: [Int], srcStrides: [Int]) {
    let r = outShape.count
    let n = Shape.count(outShape)
    if n == 0 { return }
    if r == 0 { dst[0] += g[0]; return }
    let last = outShape[r - 1], ls = srcStrides[r - 1]
    var idx = [Int](repeating: 0, count: r)
    var off = 0
    var o = 0
    while o < n {
        for j in 0..<last { dst[off + j * ls] += g[o + j] }
        o += last
        var ax = r - 2
        while ax >= 0 {
            idx[ax] += 1; off += srcStrides[ax]
            if idx[ax] < outShape[ax] { break }
            off -= srcStrides[ax] * outShape[ax]; idx[ax] = 0
            ax -= 1
        }
    }
}
