import XCTest
import TestSupport
import Foundation
import Tensor
import NN
import Models
import Distill
import RunModel

/// The pixel queue (spec §4.4): Q1 pointer sequence, Q3 scramble, torch's linspace indices, both
/// modes' pushes, push order relative to the loss, and the checkpoint state round trip.
final class QueueTests: XCTestCase {

    /// Spec §8 Q1: N_q = 20000, K = 128 from pointer 0: iteration 155 writes [19840, 19968) and the
    /// pointer becomes 19968; iteration 156 writes [19872, 20000) (the last K rows) and resets it to 0;
    /// iteration 157 writes [0, 128).
    func testQ1PointerSequence() {
        let q = PixelQueue(mode: .officialCode, channels: 2, seed: 1)
        XCTAssertEqual([q.size, q.contrastSize, q.updateCount], [20000, 4096, 128])
        let keys = rand([8, 4, 4, 2], seed: 2, 0, 1)          // 8·16 = 128 columns
        for it in 0..<158 {
            q.push(teacherKeys: keys)
            switch it {
            case 0: XCTAssertEqual(q.lastWrittenRows, Array(0..<128)); XCTAssertEqual(q.pointer, 128)
            case 154: XCTAssertEqual(q.lastWrittenRows, Array(19712..<19840)); XCTAssertEqual(q.pointer, 19840)
            case 155: XCTAssertEqual(q.lastWrittenRows, Array(19840..<19968)); XCTAssertEqual(q.pointer, 19968)
            case 156: XCTAssertEqual(q.lastWrittenRows, Array(19872..<20000)); XCTAssertEqual(q.pointer, 0)
            case 157: XCTAssertEqual(q.lastWrittenRows, Array(0..<128)); XCTAssertEqual(q.pointer, 128)
            default: XCTAssertEqual(q.pointer, 128 * (it + 1))
            }
        }
        // K′ = min(#columns, K): a 2×2×2 batch has 8 columns.
        let small = PixelQueue(mode: .officialCode, channels: 2, size: 20, contrastSize: 4, updateCount: 128, seed: 3)
        small.push(teacherKeys: rand([2, 2, 2, 2], seed: 4, 0, 1))
        XCTAssertEqual(small.lastWrittenRows, Array(0..<8)); XCTAssertEqual(small.pointer, 8)
        small.push(teacherKeys: rand([2, 2, 2, 2], seed: 4, 0, 1))
        small.push(teacherKeys: rand([2, 2, 2, 2], seed: 4, 0, 1))  // 16 + 8 ≥ 20: last 8 rows, pointer 0
        XCTAssertEqual(small.lastWrittenRows, Array(12..<20)); XCTAssertEqual(small.pointer, 0)
    }

    /// Spec §8 Q3: keys (2, 3, 1, 2) NCHW filled with 6b + 2c + p. view(3, −1) has rows [0,1,2,3],
    /// [4,5,6,7], [8,9,10,11]; true pixel rows are (0,2,4), (1,3,5), (6,8,10), (7,9,11).
    func testQ3Scramble() {
        var v = [Float](repeating: 0, count: 12)           // NHWC (B=2, H=1, W=2, C=3)
        for b in 0..<2 { for p in 0..<2 { for c in 0..<3 {
            let value: Int = 6 * b + 2 * c + p
            let at: Int = (b * 2 + p) * 3 + c
            v[at] = Float(value)
        } } }
        let keys = Tensor(v, shape: [2, 1, 2, 3])
        XCTAssertEqual(officialColumns(keys), (0..<12).map(Float.init))
        XCTAssertEqual(keys.reshaped([4, 3]).array, [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11])
        // official-code pushes (re-normalised) columns of the view: column 0 = (0, 4, 8).
        let q = PixelQueue(mode: .officialCode, channels: 3, size: 10, contrastSize: 3, updateCount: 4, seed: 5)
        q.push(teacherKeys: keys)
        let columns: [[Float]] = (0..<4).map { (j: Int) -> [Float] in
            let col: [Int] = [j, 4 + j, 8 + j]
            return unit(col.map { Float($0) })
        }
        let written: [[Float]] = q.lastWrittenRows.map { (r: Int) -> [Float] in Array(q.embeddings[(r * 3)..<(r * 3 + 3)]) }
        XCTAssertEqual(written.count, 4)
        for col in columns { XCTAssert(written.contains { approxEqual($0, col) }, "column \(col) not pushed: \(written)") }
        // paper mode pushes (re-normalised) true pixel rows, K per image.
        let p = PixelQueue(mode: .paper, channels: 3, size: 10, contrastSize: 3, updateCount: 2, seed: 6)
        p.push(teacherKeys: keys)
        XCTAssertEqual(p.lastWrittenRows, [0, 1, 2, 3]); XCTAssertEqual(p.pointer, 4)
        let pixelRows: [[Int]] = [[0, 2, 4], [1, 3, 5], [6, 8, 10], [7, 9, 11]]
        let rows: [[Float]] = pixelRows.map { (r: [Int]) -> [Float] in unit(r.map { Float($0) }) }
        let pw: [[Float]] = p.lastWrittenRows.map { (r: Int) -> [Float] in Array(p.embeddings[(r * 3)..<(r * 3 + 3)]) }
        for r in rows { XCTAssert(pw.contains { approxEqual($0, r) }, "pixel row \(r) not pushed: \(pw)") }
        // Image 0's rows come first (slots 0–1), image 1's next.
        XCTAssert(pw[0..<2].allSatisfy { approxEqual($0, rows[0]) || approxEqual($0, rows[1]) })
        // Paper mode wraps around FIFO-style.
        for _ in 0..<2 { p.push(teacherKeys: keys) }
        XCTAssertEqual(p.lastWrittenRows, [8, 9, 0, 1]); XCTAssertEqual(p.pointer, 2)
    }

    /// round(linspace(0, N_q − 1, V)) in Float32 as torch 2.x computes it: sum, a position-weighted checksum,
    /// and entries at near-half values. The pinned sums and checksums were printed by torch 2.x (CPU):
    ///     idx = torch.round(torch.linspace(0, n - 1, v)).long(); idx.sum(), sum(i * idx[i]) % 1000003
    /// Independent check beside them: the exact rational rounding round_half_even(i·(n − 1)/(v − 1)), in integer
    /// arithmetic here, differs from torch's Float32 values only at entries that Float32 puts exactly on a half
    /// (3781 of (20000, 4096): 18465.499… → 18465.5; 1080 of (20000, 2048): 10551.499… → 10551.5), each by +1.
    func testFixedIndicesMatchTorch() {
        let cases: [(Int, Int, Int, Int, Set<Int>)] = [
            (20000, 4096, 40957953, 530813, [3781]), (20000, 2048, 20478977, 717875, [1080]),
            (1000, 333, 166334, 872135, []), (20000, 20000, 199990000, 670626, []), (7, 3, 9, 15, []), (5, 1, 0, 0, [])]
        for (n, v, sum, weighted, halfWay) in cases {
            let idx = torchLinspaceRoundedIndices(count: n, samples: v)
            XCTAssertEqual(idx.count, v)
            XCTAssertEqual(idx.reduce(0, +), sum, "sum for (\(n), \(v))")
            XCTAssertEqual(idx.enumerated().reduce(0) { ($0 + $1.offset * $1.element) % 1_000_003 }, weighted, "checksum for (\(n), \(v))")
            let exact = (0..<v).map { i -> Int in
                guard v > 1 else { return 0 }
                let (q, r) = (i * (n - 1)).quotientAndRemainder(dividingBy: v - 1)
                return 2 * r > v - 1 || (2 * r == v - 1 && q % 2 == 1) ? q + 1 : q
            }
            let differing = Set((0..<v).filter { idx[$0] != exact[$0] })
            XCTAssertEqual(differing, halfWay, "(\(n), \(v)): entries where Float32 differs from exact rounding")
            XCTAssertTrue(differing.allSatisfy { idx[$0] == exact[$0] + 1 })
            XCTAssertEqual(exact.reduce(0, +) + halfWay.count, sum, "(\(n), \(v)): pinned sum vs exact rounding")
        }
        let idx = torchLinspaceRoundedIndices(count: 20000, samples: 4096)
        XCTAssertEqual(idx[3781], 18466)   // exactly 18465.5 in Float32: half to even
        XCTAssertEqual(idx[2026], 9894)    // 9894.499
        XCTAssertEqual(idx[2069], 10105)   // 10104.501
        XCTAssertEqual(PixelQueue(mode: .officialCode, channels: 1, size: 20000, contrastSize: 4096, seed: 0).fixedIndices, idx)
    }

    func testInitialRowsAreUnitAndModesParse() throws {
        XCTAssert(PixelQueue.defaults(.paper) == (20000, 2048, 1))
        XCTAssert(PixelQueue.defaults(.officialCode) == (20000, 4096, 128))
        let q = PixelQueue(mode: .paper, channels: 5, size: 30, contrastSize: 10, seed: 7)
        XCTAssertEqual([q.contrastSize, q.updateCount], [10, 1])
        for r in 0..<30 {
            let n = (0..<5).map { Double(q.embeddings[r * 5 + $0]) }.map { $0 * $0 }.reduce(0, +)
            XCTAssertEqual(n, 1, accuracy: 1e-5)
        }
        XCTAssertEqual(try PixelQueueMode(parsing: "official-code"), .officialCode)
        XCTAssertEqual(try PixelQueueMode(parsing: "paper"), .paper)
        XCTAssertThrowsError(try PixelQueueMode(parsing: "code")) { e in
            XCTAssert("\(e)".contains("'code'") && "\(e)".contains("official-code") && "\(e)".contains("paper"), "\(e)")
        }
    }

    /// official-code contrasts against fixed slots; paper draws V distinct random slots per call.
    func testContrastEmbeddings() {
        let o = PixelQueue(mode: .officialCode, channels: 3, size: 50, contrastSize: 8, updateCount: 4, seed: 8)
        let e1 = o.contrastEmbeddings(), e2 = o.contrastEmbeddings()
        XCTAssertEqual(e1.shape, [8, 3]); XCTAssertEqual(e1.array, e2.array)
        XCTAssertEqual(Array(e1.array[0..<3]), Array(o.embeddings[0..<3]))           // slot 0
        XCTAssertEqual(Array(e1.array[21..<24]), Array(o.embeddings[147..<150]))     // slot 49
        let p = PixelQueue(mode: .paper, channels: 3, size: 50, contrastSize: 50, updateCount: 1, seed: 9)
        let all = p.contrastEmbeddings().array
        let asRows = Set((0..<50).map { r in all[r * 3 ..< r * 3 + 3].map { $0.bitPattern } })
        XCTAssertEqual(asRows.count, 50, "V = N_q draws every slot exactly once")
        let a = p.contrastEmbeddings().array, b = p.contrastEmbeddings().array
        XCTAssertNotEqual(a, b, "a new draw every call")
    }

    /// state() → init(state:) restores everything: the restored queue draws and writes exactly what
    /// the original does afterwards (both modes); malformed states are refused.
    func testStateRoundTrip() throws {
        for mode in PixelQueueMode.allCases {
            let q = PixelQueue(mode: mode, channels: 4, size: 40, contrastSize: 6, updateCount: 3, seed: 10)
            let keys = rand([3, 2, 2, 4], seed: 11, 0, 1)
            for _ in 0..<5 { q.push(teacherKeys: keys) }
            _ = q.contrastEmbeddings()
            let st = q.state()
            XCTAssertEqual(Set(st.keys), Set(PixelQueue.stateKeys))
            XCTAssertEqual(st["teacher_pixel_queue"]!.shape, [40, 4])
            let r = try PixelQueue(state: st)
            XCTAssertEqual(r.mode, mode); XCTAssertEqual(r.pointer, q.pointer); XCTAssertEqual(r.embeddings, q.embeddings)
            XCTAssertEqual(r.rng.stateWords, q.rng.stateWords)
            XCTAssertEqual([r.size, r.contrastSize, r.updateCount, r.channels], [40, 6, 3, 4])
            for _ in 0..<3 {
                q.push(teacherKeys: keys); r.push(teacherKeys: keys)
                XCTAssertEqual(q.contrastEmbeddings().array, r.contrastEmbeddings().array)
            }
            XCTAssertEqual(r.embeddings, q.embeddings); XCTAssertEqual(r.pointer, q.pointer)
        }
        let good = PixelQueue(mode: .paper, channels: 2, size: 10, contrastSize: 4, updateCount: 1, seed: 12).state()
        var missing = good; missing["rng_state"] = nil
        var badPtr = good; badPtr["pixel_queue_ptr"] = ([1], [10])
        var badLimb = good; var limbs = good["rng_state"]!.values; limbs[0] = 70000; badLimb["rng_state"] = ([5, 4], limbs)
        var badShape = good; badShape["teacher_pixel_queue"] = ([11, 2], [Float](repeating: 0, count: 22))
        for (name, s) in [("missing", missing), ("pointer", badPtr), ("limb", badLimb), ("shape", badShape)] {
            XCTAssertThrowsError(try PixelQueue(state: s), name) { e in
                guard case DistillError.invalidState = e else { return XCTFail("\(name): unexpected \(e)") }
            }
        }
    }

    // MARK: M_P2P with head and queue

    /// official-code pushes before reading E, paper after: mP2PLoss equals the formula applied by hand
    /// to a restored copy of the queue in the stated order.
    func testMP2PPushOrder() throws {
        let c = 4
        let head = ProjectionHead(channels: c, seed: 13)
        let t = rand([2, 2, 2, c], seed: 14, 0, 1), s = rand([2, 2, 2, c], seed: 15, 0, 1, grad: true)
        for mode in PixelQueueMode.allCases {
            let q = PixelQueue(mode: mode, channels: c, size: 16, contrastSize: 16, updateCount: 8, seed: 16)
            let copy = try PixelQueue(state: q.state())
            let l = mP2PLoss(teacher: t, student: s, head: head, queue: q, tauContrast: 0.2, tauKD: 1.5, factor: 0.3)
            let tn = t.l2Normalized(axis: -1)
            if mode == .officialCode { copy.push(teacherKeys: tn) }
            let e = copy.contrastEmbeddings()
            let ref = mP2PLogitLoss(teacherPixels: t.reshaped([8, c]), studentPixels: head(s).reshaped([8, c]), embeddings: e,
                                    tauContrast: 0.2, tauKD: 1.5, factor: 0.3)
            if mode == .paper { copy.push(teacherKeys: tn) }
            XCTAssertEqual(l.item, ref.item, accuracy: 1e-6 * max(1, abs(ref.item)), "\(mode)")
            XCTAssertEqual(q.embeddings, copy.embeddings, "\(mode): same queue contents afterwards")
            XCTAssertEqual(q.pointer, copy.pointer)
        }
    }

    /// Spec §8: with an identity projection head, student = teacher gives L_M = 0; the random head at
    /// step 0 gives L_M > 0. Gradients reach the student map and the head's parameters.
    func testMP2PIdentityHeadZeroRandomHeadPositive() {
        let c = 5
        let t = rand([3, 2, 2, c], seed: 17, 0, 1)
        let q = PixelQueue(mode: .officialCode, channels: c, size: 32, contrastSize: 12, updateCount: 6, seed: 18)
        let head = identityHead(channels: c, input: t)
        let l0 = mP2PLoss(teacher: t, student: t.detached(), head: head, queue: q, tauContrast: 0.1, tauKD: 1)
        XCTAssertEqual(l0.item, 0, accuracy: 1e-6)
        let random = ProjectionHead(channels: c, seed: 19)
        let s = t.detached(); s.requiresGrad = true
        let l1 = mP2PLoss(teacher: t, student: s, head: random, queue: q, tauContrast: 0.1, tauKD: 1)
        XCTAssertGreaterThan(l1.item, 1e-4)
        l1.backward()
        XCTAssertNotNil(s.grad)
        XCTAssert(random.parameters.allSatisfy { $0.grad != nil }, "every head parameter gets a gradient")
    }

    /// Finite differences of L_M through the head with respect to the student map.
    func testMP2PGradientThroughHead() {
        let c = 3
        let head = ProjectionHead(channels: c, seed: 20)
        let t = rand([2, 1, 3, c], seed: 21, 0, 1), s = rand([2, 1, 3, c], seed: 22, 0, 1, grad: true)
        let q = PixelQueue(mode: .officialCode, channels: c, size: 20, contrastSize: 7, updateCount: 2, seed: 23)
        for _ in 0..<3 { q.push(teacherKeys: rand([2, 1, 3, c], seed: 24, 0, 1)) }
        func loss(_ x: Tensor) -> Tensor {
            let copy = try! PixelQueue(state: q.state())       // the same E every evaluation
            return mP2PLoss(teacher: t, student: x, head: head, queue: copy, tauContrast: 0.5, tauKD: 1)
        }
        loss(s).backward()
        let g = s.grad!.array
        let h: Float = 1e-2
        var fd = [Double](repeating: 0, count: s.count)
        for i in 0..<s.count {
            let old = s.data[i]
            s.data[i] = old + h; let lp = Double(Autograd.noGrad { loss(s).item })
            s.data[i] = old - h; let lm = Double(Autograd.noGrad { loss(s).item })
            s.data[i] = old
            fd[i] = (lp - lm) / (2 * Double(h))
        }
        let scale = fd.map { abs($0) }.max()!
        XCTAssertGreaterThan(scale, 0)
        assertClose(g, fd, rtol: 0, atol: 2e-2 * scale, "M_P2P through the head")
    }
}

/// A projection head that is the identity on `input` (non-negative maps): both 1×1 convs are the
/// identity matrix and BatchNorm (batch statistics) undoes its own normalisation with γ = √(var + eps),
/// β = mean of this batch.
func identityHead(channels c: Int, input: Tensor) -> ProjectionHead {
    let head = ProjectionHead(channels: c, seed: 0)
    let p = Dictionary(uniqueKeysWithValues: head.namedParameters())
    for name in ["0.weight", "3.weight"] {
        let w = p[name]!
        XCTAssertEqual(w.shape, [c, c, 1, 1])
        for i in 0..<c { for j in 0..<c { w.data[i * c + j] = i == j ? 1 : 0 } }
    }
    let rows = input.count / c
    for k in 0..<c {
        var s1 = 0.0, s2 = 0.0
        for r in 0..<rows { let v = Double(input.data[r * c + k]); s1 += v; s2 += v * v }
        let m = s1 / Double(rows), v = s2 / Double(rows) - m * m
        p["1.weight"]!.data[k] = Float((v + 1e-5).squareRoot())
        p["1.bias"]!.data[k] = Float(m)
    }
    return head
}

func unit(_ v: [Float]) -> [Float] {
    let n = max(v.map { $0 * $0 }.reduce(0, +).squareRoot(), 1e-12)
    return v.map { $0 / n }
}

func approxEqual(_ a: [Float], _ b: [Float], tol: Float = 1e-6) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tol }
}
