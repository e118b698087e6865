import XCTest
import Foundation
import Tensor
import NN
import Models
import Distill
import RunModel

/// The objective by name: parsing, term lists and weights, the spec §8 overall sanity checks, the
/// non-finite and missing-input errors, an end-to-end step through a small DenseNet, and the IS_P2P
/// memory report.
final class ObjectiveTests: XCTestCase {

    func testMethodParsing() throws {
        XCTAssertEqual(try DistillMethod(parsing: "rdd"), .rdd)
        XCTAssertEqual(try DistillMethod(parsing: "cfd+is_p2p+m_p2p"), .cfdISM)
        XCTAssertEqual(try DistillObjective(method: "pd_perceptual").method, .pdPerceptual)
        XCTAssertEqual(DistillMethod.allCases.map(\.rawValue),
                       ["pd", "pd_perceptual", "rcfd", "rdd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "cfd+is_p2p+m_p2p"])
        XCTAssertThrowsError(try DistillObjective(method: "rdd+lpips")) { e in
            let m = "\(e)"
            XCTAssert(m.contains("'rdd+lpips'"), m)
            for v in DistillMethod.allCases { XCTAssert(m.contains(v.rawValue), "\(m) lacks \(v.rawValue)") }
        }
        XCTAssertEqual(DistillMethod.rdd.terms, [.cfd, .isP2P, .mP2P])
        XCTAssertEqual(DistillMethod.cfdII.terms, [.cfd, .iiP2P])
        XCTAssertEqual(DistillMethod.pdPerceptual.terms, [.pd, .perceptual])
        XCTAssertEqual(DistillTerm.allCases.map(\.rawValue), ["pd", "perceptual", "cfd", "ii_p2p", "is_p2p", "m_p2p"])
        var o = DistillObjective(method: .rdd)
        XCTAssertEqual([o.alpha, o.beta, o.tauCFD, o.tauIS, o.tauContrast, o.tauKD], [1, 0.1, 0.9, 1, 0.1, 1])
        o.includePD = true
        XCTAssertEqual(o.terms, [.pd, .cfd, .isP2P, .mP2P])
    }

    /// Spec §8 overall: with student = teacher, an identity head and τ_CFD = 1 all three RDD terms are
    /// 0; with τ_CFD ≠ 1 only L_CFD stays positive.
    func testAllTermsZeroSanityCheck() throws {
        let c = 6
        let map = rand([3, 2, 2, c], seed: 1, 0, 1)
        let pooled = map.mean(axis: 1).mean(axis: 1)
        let head = identityHead(channels: c, input: map)
        let q = PixelQueue(mode: .officialCode, channels: c, size: 40, contrastSize: 16, updateCount: 8, seed: 2)
        let x = DistillInputs(teacherMap: map, teacherPooled: pooled, studentMap: map.detached(), studentPooled: pooled.detached())
        var o = DistillObjective(method: .rdd)
        o.tauCFD = 1
        let v = try o.evaluate(x, head: head, queue: q)
        XCTAssertEqual(v.terms.map(\.term), [.cfd, .isP2P, .mP2P])
        for (t, val, _) in v.terms { XCTAssertEqual(val.item, 0, accuracy: 1e-6, "\(t)") }
        XCTAssertEqual(v.total.item, 0, accuracy: 1e-6)
        o.tauCFD = 0.9
        let v2 = try o.evaluate(x, head: head, queue: q)
        XCTAssertGreaterThan(v2.value(.cfd)!.item, 1e-5)
        XCTAssertEqual(v2.value(.isP2P)!.item, 0, accuracy: 1e-6)
        XCTAssertEqual(v2.value(.mP2P)!.item, 0, accuracy: 1e-6)
        // II (ablation) is 0 as well.
        var ii = DistillObjective(method: .cfdII); ii.tauCFD = 1
        XCTAssertEqual(try ii.evaluate(x).total.item, 0, accuracy: 1e-6)
    }

    /// total = Σ weight·term, per-term values are unweighted, and gradients reach the student tensors.
    func testWeightedTotalAndGradients() throws {
        let c = 4
        let tmap = rand([2, 2, 2, c], seed: 3, 0, 1), smap = rand([2, 2, 2, c], seed: 4, 0, 1, grad: true)
        let tp = rand([2, c], seed: 5), sp = rand([2, c], seed: 6, grad: true)
        let head = ProjectionHead(channels: c, seed: 7)
        let q = PixelQueue(mode: .paper, channels: c, size: 30, contrastSize: 10, updateCount: 2, seed: 8)
        var o = DistillObjective(method: .rdd)
        o.alpha = 0.8; o.beta = 0.3; o.tauCFD = 0.85; o.tauIS = 0.7; o.tauContrast = 0.4; o.tauKD = 2
        let copy = try PixelQueue(state: q.state())
        let v = try o.evaluate(DistillInputs(teacherMap: tmap, teacherPooled: tp, studentMap: smap, studentPooled: sp), head: head, queue: q)
        let cfd = cfdLoss(teacherPooled: tp, studentPooled: sp, tau: 0.85).item
        let isv = isP2PLoss(teacher: tmap, student: smap, tau: 0.7).item
        let m = mP2PLoss(teacher: tmap, student: smap, head: head, queue: copy, tauContrast: 0.4, tauKD: 2).item
        XCTAssertEqual(v.value(.cfd)!.item, cfd, accuracy: 1e-6)
        XCTAssertEqual(v.value(.isP2P)!.item, isv, accuracy: 1e-6)
        XCTAssertEqual(v.value(.mP2P)!.item, m, accuracy: 1e-5)
        XCTAssertEqual(v.terms.map(\.weight), [1, 0.8, 0.3])
        XCTAssertEqual(v.total.item, cfd + 0.8 * isv + 0.3 * m, accuracy: 1e-5)
        XCTAssertEqual(Set(v.scalars.keys), ["cfd", "is_p2p", "m_p2p", "total"])
        v.total.backward()
        XCTAssertNotNil(smap.grad); XCTAssertNotNil(sp.grad)
        XCTAssert(head.parameters.allSatisfy { $0.grad != nil })
    }

    func testPDAndPerceptualMethods() throws {
        let img = rand([2, 4, 4, 3], seed: 9), target = rand([2, 4, 4, 3], seed: 10)
        let tmap = rand([2, 2, 2, 5], seed: 11, 0, 1), smap = rand([2, 2, 2, 5], seed: 12, 0, 1)
        var o = DistillObjective(method: .pdPerceptual)
        o.perceptualWeight = 0.5
        let x = DistillInputs(teacherMap: tmap, studentMap: smap, studentImage: img, teacherImage: target, gridIndices: [256, 1024])
        let v = try o.evaluate(x)
        let pd = pdMSELoss(studentPrediction: img, target: target, gridIndices: [256, 1024]).item
        let per = classifierPerceptualLoss(teacherFeatures: [tmap], studentFeatures: [smap]).item
        XCTAssertEqual(v.value(.pd)!.item, pd); XCTAssertEqual(v.value(.perceptual)!.item, per)
        XCTAssertEqual(v.total.item, pd + 0.5 * per, accuracy: 1e-6)
        XCTAssertEqual(try DistillObjective(method: .pd).evaluate(x).total.item, pd)
    }

    func testMissingInputAndNonFiniteErrors() {
        let map = rand([2, 2, 2, 3], seed: 13, 0, 1), pooled = rand([2, 3], seed: 14)
        let x = DistillInputs(teacherMap: map, teacherPooled: pooled, studentMap: map, studentPooled: pooled)
        XCTAssertThrowsError(try DistillObjective(method: .rdd).evaluate(x)) { e in
            XCTAssertEqual(e as? DistillError, .missingInput(term: "m_p2p", what: "a projection head"))
        }
        XCTAssertThrowsError(try DistillObjective(method: .pd).evaluate(x)) { e in
            guard case DistillError.missingInput(let term, _)? = e as? DistillError else { return XCTFail("\(e)") }
            XCTAssertEqual(term, "pd")
        }
        let bad = pooled.detached(); bad.data[1] = .nan
        XCTAssertThrowsError(try DistillObjective(method: .cfdIS).evaluate(
            DistillInputs(teacherMap: map, teacherPooled: pooled, studentMap: map, studentPooled: bad))) { e in
            guard case DistillError.nonFinite(let term, _)? = e as? DistillError else { return XCTFail("\(e)") }
            XCTAssertEqual(term, "cfd")
            XCTAssert("\(e)".contains("'cfd'"))
        }
        let badMap = map.detached(); badMap.data[0] = .infinity
        XCTAssertThrowsError(try DistillObjective(method: .cfdIS).evaluate(
            DistillInputs(teacherMap: map, teacherPooled: pooled, studentMap: badMap, studentPooled: pooled))) { e in
            guard case DistillError.nonFinite(let term, _)? = e as? DistillError else { return XCTFail("\(e)") }
            XCTAssertEqual(term, "is_p2p")
        }
    }

    /// One RDD step through a small DenseNet (eval-mode BN, frozen weights): the teacher under noGrad,
    /// the gradient of the total reaches the student image and the head; the queue advanced.
    func testEndToEndThroughSmallDenseNet() throws {
        let cfg = DenseNetConfig(growthRate: 4, blockConfig: [2, 2], initFeatures: 8)
        let net = DenseNet(cfg, seed: 15)
        net.train(false); net.setRequiresGrad(false)
        let xt = rand([2, 8, 8, 3], seed: 16), xs = rand([2, 8, 8, 3], seed: 17, grad: true)
        let teacher = Autograd.noGrad { net(xt) }
        let student = net(xs)
        XCTAssertEqual(student.featureMap.shape, [2, 4, 4, cfg.featureChannels])
        let head = ProjectionHead(channels: cfg.featureChannels, seed: 18)
        let q = PixelQueue(mode: .officialCode, channels: cfg.featureChannels, size: 64, contrastSize: 32, updateCount: 16, seed: 19)
        let v = try DistillObjective(method: .rdd).evaluate(DistillInputs(teacher: teacher, student: student), head: head, queue: q)
        XCTAssertEqual(q.pointer, 16)
        for (t, val, _) in v.terms { XCTAssertGreaterThan(val.item, 0, "\(t)") }
        v.total.backward()
        let g = xs.grad!.array
        XCTAssert(g.contains { $0 != 0 } && g.allSatisfy { $0.isFinite })
        XCTAssert(head.parameters.allSatisfy { $0.grad != nil })
        XCTAssert(net.parameters.allSatisfy { $0.grad == nil }, "the frozen classifier gets no gradient")
    }

    /// The counted bytes of docs/losses.md "IS_P2P without the B×B×A×A relation tensor", re-derived here from the
    /// buffers each form allocates (float32 = 4 bytes, float64 = 8; n = B·A relation rows):
    ///   direct  = 2·4BAC (normalised maps) + 2·4n² (R^T, R^S) + 2·8n² (Float64 log-probabilities) + 8B²A (row KLs)
    ///             + 4n² (∂L/∂R^S) + 2·4BAC (backward)                 = 16·BAC + 28·(BA)² + 8·B²A
    ///   blocked = 2·4BAC + 2·4·(bA)·n (one block of relations) + 4BAC (stored ∂L/∂F̄^S) + 2·4BAC
    ///                                                                 = 20·BAC + 8·b·B·A²
    /// so the direct form grows as B² and the blocked one has no B² term (linear in B at fixed A, C, b).
    /// (The measured columns: Pipeline's ISP2PMemoryReportTests.)
    func testISP2PCountedBytes() {
        let (a, c) = (16.0, 64.0)
        let rows = [16, 64].map { ($0, isP2PCountedBytes(batchSize: $0, pixels: 16, channels: 64, blockSize: 1)) }
        for (b, r) in rows {
            let bb = Double(b), n = bb * a
            XCTAssertEqual(r.direct, 16 * bb * a * c + 28 * n * n + 8 * bb * bb * a, accuracy: 1e-6, "B = \(b)")
            XCTAssertEqual(r.blocked, 20 * bb * a * c + 8 * 1 * bb * a * a, accuracy: 1e-6, "B = \(b)")
        }
        // 4× the batch: the blocked count grows exactly 4× (flat in B²); the direct count 14.5× (from the formula:
        // its B² terms are 87% of it at B = 16 and would give 16×, the 16·BAC term 4×).
        XCTAssertEqual(rows[1].1.blocked / rows[0].1.blocked, 4, accuracy: 1e-12)
        XCTAssertEqual(rows[1].1.direct / rows[0].1.direct, 14.52, accuracy: 0.01)
        // A block larger than the batch counts as the batch.
        XCTAssertEqual(isP2PCountedBytes(batchSize: 4, pixels: 16, channels: 64, blockSize: 9).blocked,
                       isP2PCountedBytes(batchSize: 4, pixels: 16, channels: 64, blockSize: 4).blocked)
    }
}
