/// Matrix products on OpenBLAS sgemm: 2-D matmul, batched matmul, and Linear (y = x·Wᵀ + b).
///
/// Backward of C = op(A)·op(B): dop(A) = dC·op(B)ᵀ and dop(B) = op(A)ᵀ·dC, written back in each
/// operand's stored orientation; each backward product accumulates (beta = 1), or overwrites
/// (beta = 0) a fresh gradient buffer (`betaA`, `betaB`; see `gradBufferForWrite`).
/// `parallel`: split each product over the threads (`sgemmParallel`); false when the caller already
/// runs one product per thread.
@inline(__always)
func gemmBackward(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                  a: UnsafePointer<Float>, b: UnsafePointer<Float>, dC: UnsafePointer<Float>,
                  dA: UnsafeMutablePointer<Float>?, dB: UnsafeMutablePointer<Float>?, parallel: Bool = true,
                  betaA: Float = 1, betaB: Float = 1) {
    let gemm: (Bool, Bool, Int, Int, Int, UnsafePointer<Float>, UnsafePointer<Float>, Float, UnsafeMutablePointer<Float>) -> Void = {
        ta, tb, m, n, k, a, b, beta, c in
        if parallel { sgemmParallel(transA: ta, transB: tb, m: m, n: n, k: k, a: a, b: b, beta: beta, c: c) }
        else { sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, b: b, beta: beta, c: c) }
    }
    if let dA {
        if !transA { gemm(false, !transB, m, k, n, dC, b, betaA, dA) }
        else { gemm(transB, true, k, m, n, b, dC, betaA, dA) }
    }
    if let dB {
        if !transB { gemm(!transA, false, k, n, m, a, dC, betaB, dB) }
        else { gemm(true, transA, n, k, m, dC, a, betaB, dB) }
    }
}

/// C = op(A)·op(B) for 2-D tensors, or batched over a leading axis for 3-D tensors
/// ((Bt, M, K)·(Bt, K, N) → (Bt, M, N); a 2-D operand is shared by every batch entry).
public func matmul(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false) -> Tensor {
    let op = "matmul"
    guard (a.rank == 2 || a.rank == 3) && (b.rank == 2 || b.rank == 3) else {
        shapeFailure(ShapeError(op, "operands must be 2-D or 3-D, got \(fmt(a.shape)) and \(fmt(b.shape))"))
    }
    let batch = max(a.rank == 3 ? a.shape[0] : 1, b.rank == 3 ? b.shape[0] : 1)
    if a.rank == 3 && b.rank == 3 && a.shape[0] != b.shape[0] {
        shapeFailure(ShapeError(op, "batch sizes differ: \(fmt(a.shape)) and \(fmt(b.shape))"))
    }
    let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
    let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
    let (m, k) = transA ? (ac, ar) : (ar, ac)
    let (k2, n) = transB ? (bc, br) : (br, bc)
    if k != k2 {
        shapeFailure(ShapeError(op, "inner dimensions differ: \(fmt(a.shape))\(transA ? "ᵀ" : "") · \(fmt(b.shape))\(transB ? "ᵀ" : "") (\(k) vs \(k2))"))
    }
    let batched = a.rank == 3 || b.rank == 3
    let out = Tensor(uninitialized: batched ? [batch, m, n] : [m, n])
    let sa = a.rank == 3 ? m * k : 0, sb = b.rank == 3 ? k * n : 0
    let pa = SendablePtr(a.data), pb = SendablePtr(b.data), po = SendablePtr(out.data)
    // Batches of at least one product per thread run one single-threaded product per entry in
    // parallel; otherwise each product is split by rows.
    if batch >= Threads.count && batch > 1 {
        withSingleThreadedBLAS {
            parallelRange(batch, minChunk: 1) { i0, i1 in
                for i in i0..<i1 {
                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: pa.p + i * sa, b: pb.p + i * sb, c: po.p + i * m * n)
                }
            }
        }
    } else {
        for i in 0..<batch {
            sgemmParallel(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data + i * sa, b: b.data + i * sb, c: out.data + i * m * n)
        }
    }
    return out.recording([a, b]) { _, g in
        // A fresh gradient of an operand with its own slice per entry is overwritten (beta 0); an
        // operand shared by every entry (stride 0) accumulates across entries, so it is zero-filled.
        let (dA, freshA) = a.requiresGrad ? (sa == 0 && batched ? (a.gradBuffer(), false) : a.gradBufferForWrite()) : (nil, false)
        let (dB, freshB) = b.requiresGrad ? (sb == 0 && batched ? (b.gradBuffer(), false) : b.gradBufferForWrite()) : (nil, false)
        let (betaA, betaB): (Float, Float) = (freshA ? 0 : 1, freshB ? 0 : 1)
        let pg = SendablePtr(g.data)
        // A gradient of an operand shared by every entry (stride 0) accumulates across entries: it
        // cannot be written by entries in parallel.
        let shared = (dA != nil && sa == 0) || (dB != nil && sb == 0)
        if batch >= Threads.count && batch > 1 && !shared {
            let pdA = dA.map { SendablePtr($0) }, pdB = dB.map { SendablePtr($0) }
            withSingleThreadedBLAS {
                parallelRange(batch, minChunk: 1) { i0, i1 in
                    for i in i0..<i1 {
                        gemmBackward(transA: transA, transB: transB, m: m, n: n, k: k, a: pa.p + i * sa, b: pb.p + i * sb,
                                     dC: pg.p + i * m * n, dA: pdA.map { $0.p + i * sa }, dB: pdB.map { $0.p + i * sb },
                                     parallel: false, betaA: betaA, betaB: betaB)
                    }
                }
            }
        } else {
            for i in 0..<batch {
                gemmBackward(transA: transA, transB: transB, m: m, n: n, k: k, a: a.data + i * sa, b: b.data + i * sb,
                             dC: g.data + i * m * n, dA: dA.map { $0 + i * sa }, dB: dB.map { $0 + i * sb },
                             betaA: betaA, betaB: betaB)
            }
        }
    }
}

/// Linear layer y = x·Wᵀ + b over the last axis: x (…, in), W (out, in) as in PyTorch, b (out).
public func linear(_ x: Tensor, weight w: Tensor, bias b: Tensor?) -> Tensor {
    let inF = w.shape[1], outF = w.shape[0]
    guard w.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == inF, b == nil || b!.shape == [outF] else {
        shapeFailure(ShapeError("linear", "input \(fmt(x.shape)), weight \(fmt(w.shape)), bias \(b.map { fmt($0.shape) } ?? "none")"))
    }
    let rows = x.count / inF
    var outShape = x.shape
    outShape[outShape.count - 1] = outF
    let out = Tensor(uninitialized: outShape)
    if let b {
        for r in 0..<rows { (out.data + r * outF).update(from: b.data, count: outF) }
    }
    sgemmParallel(transA: false, transB: true, m: rows, n: outF, k: inF, a: x.data, b: w.data, beta: b == nil ? 0 : 1, c: out.data)
    return out.recording([x, w] + (b.map { [$0] } ?? [])) { _, g in
        gemmBackward(transA: false, transB: true, m: rows, n: outF, k: inF, a: x.data, b: w.data, dC: g.data,
                     dA: x.requiresGrad ? x.gradBuffer() : nil, dB: w.requiresGrad ? w.gradBuffer() : nil)
        if let b, b.requiresGrad {
            let db = b.gradBuffer()
            columnSums(g.data, rows: rows, cols: outF, into: db)
        }
    }
}

/// dst[c] += Σ_r src[r, c], accumulated in Float64 per column block for accuracy.
public func columnSums(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
    var acc = [Double](repeating: 0, count: cols)
    acc.withUnsafeMutableBufferPointer { a in
        for r in 0..<rows {
            let row = src + r * cols
            for c in 0..<cols { a[c] += Double(row[c]) }
        }
        for c in 0..<cols { dst[c] += Float(a[c]) }
    }
}
