import Foundation
import XCTest
import Tensor
import Distill
import Models
import Pipeline

/// Issue 11's checks: a term that is zero by construction has share 0; terms with opposite gradients
/// have cosine −1; a uniform softmax row has relative entropy 1.
final class DiagnosticsTests: XCTestCase {
    func testZeroTermHasZeroShareAndOppositeTermsHaveCosineMinusOne() throws {
        var rng = RNG(seed: 1)
        let w = Tensor.randn([3, 2], rng: &rng, requiresGrad: true)          // "student parameters"
        let x = Tensor.randn([4, 3], rng: &rng)
        let img = matmul(x, w).retainGrad()                                   // "student image"
        // Student = teacher with τ = 1: the IS_P2P term is exactly zero, CFD (τ = 0.9) is not.
        let feat = img.reshaped([4, 1, 2, 1]).exp()
        var obj = DistillObjective(method: .cfdIS)
        obj.tauCFD = 0.9
        let inputs = DistillInputs(teacherMap: feat.detached(), teacherPooled: img.detached(), studentMap: feat, studentPooled: img)
        let values = try obj.evaluate(inputs)
        let d = TermDiagnostics(every: 1, tauIS: 1).measure(values: values, studentImage: img, parameters: [w], inputs: inputs)
        let m = Dictionary(uniqueKeysWithValues: d)
        XCTAssertEqual(m["diag/is_p2p/share"]!, 0, accuracy: 1e-7)
        XCTAssertEqual(m["diag/cfd/share"]!, 1, accuracy: 1e-7)
        XCTAssertEqual(m["diag/is_p2p/value"]!, 0, accuracy: 1e-7)
        XCTAssertNil(w.grad.map { g in g.array.first { $0 != 0 } } ?? nil, "diagnostics leave the gradients zeroed")

        // Two terms built with opposite gradients: L_a = +Σ a·θ-ish, L_b = −L_a.
        let la = (img * Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [4, 2])).sum()
        let lb = la.scaled(-1)
        let opposite = DistillLossValues(terms: [(.cfd, la, 1), (.isP2P, lb, 1)])
        let d2 = Dictionary(uniqueKeysWithValues: TermDiagnostics(every: 1, tauIS: 1).measure(values: opposite, studentImage: img, parameters: [w], inputs: DistillInputs()))
        XCTAssertEqual(d2["diag/cos/cfd|is_p2p"]!, -1, accuracy: 1e-6)
        XCTAssertEqual(d2["diag/cfd/share"]!, 0.5, accuracy: 1e-6)
    }

    /// M_P2P's relation entropy: the diagnostics report H/log V of softmax(P/τ_kd) rows for teacher and
    /// student, where P = norm(pixels)·Eᵀ/τ_c — checked against a Float64 recomputation from the queue.
    func testMP2PRelationEntropyMatchesFloat64() throws {
        var rng = RNG(seed: 3)
        let (b, h, w, c) = (2, 2, 2, 4)
        let tmap = Tensor.randn([b, h, w, c], rng: &rng), smap = Tensor.randn([b, h, w, c], rng: &rng, requiresGrad: true)
        let queue = PixelQueue(mode: .officialCode, channels: c, size: 12, contrastSize: 6, updateCount: 4, seed: 4)
        let head = ProjectionHead(channels: c, seed: 5)
        var obj = DistillObjective(method: .cfdM)
        obj.tauContrast = 0.5
        let inputs = DistillInputs(teacherMap: tmap, teacherPooled: tmap.mean(axis: 1).mean(axis: 1),
                                   studentMap: smap, studentPooled: smap.mean(axis: 1).mean(axis: 1))
        let values = try obj.evaluate(inputs, head: head, queue: queue)
        let rel = try XCTUnwrap(values.mP2PRelations)
        XCTAssertEqual(rel.teacher.shape, [b * h * w, 6])
        // Float64 reference for the teacher side: E as read after the push (official-code pushes first).
        let e = queue.contrastEmbeddings().array.map(Double.init)
        let t = tmap.array.map(Double.init)
        var ref = 0.0
        for r in 0..<(b * h * w) {
            let row = Array(t[(r * c)..<(r * c + c)])
            let nrm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            let logits = (0..<6).map { v in (0..<c).map { row[$0] / nrm * e[v * c + $0] }.reduce(0, +) / 0.5 }
            let m = logits.max()!
            let z = logits.map { Foundation.exp($0 - m) }.reduce(0, +)
            ref -= logits.map { Foundation.exp($0 - m) / z }.map { $0 * Foundation.log($0) }.reduce(0, +) / Foundation.log(6.0)
        }
        ref /= Double(b * h * w)
        let d = Dictionary(uniqueKeysWithValues: TermDiagnostics(every: 1, tauIS: 1).measure(values: values, studentImage: smap, parameters: head.namedParameters().map(\.1), inputs: inputs))
        XCTAssertEqual(d["diag/m_p2p/entropy_teacher"]!, ref, accuracy: 1e-5)
        let s = d["diag/m_p2p/entropy_student"]!
        XCTAssertTrue(s > 0 && s <= 1, "student entropy \(s)")
    }

    func testUniformRowsReadOne() {
        XCTAssertEqual(normalizedRowEntropy(Tensor(zeros: [3, 7])), 1, accuracy: 1e-12)
        XCTAssertLessThan(normalizedRowEntropy(Tensor([10, 0, 0, 0], shape: [1, 4])), 0.01)
        // Identical pixels in every sample: every relation logit equal → uniform rows.
        let flat = Tensor(repeating: 1, shape: [2, 2, 2, 3])
        XCTAssertEqual(relationEntropy(flat, tau: 1), 1, accuracy: 1e-9)
    }

    /// The IS/II relation entropy is that of the loss's softmax at τ_IS (Float64 reference), not at τ = 1.
    func testISRelationEntropyUsesTauIS() throws {
        var rng = RNG(seed: 8)
        let (b, h, w, c) = (2, 2, 2, 3)
        let tmap = Tensor.randn([b, h, w, c], rng: &rng), smap = Tensor.randn([b, h, w, c], rng: &rng, requiresGrad: true)
        let (a, x) = (h * w, tmap.array.map(Double.init))
        func ref(_ tau: Double) -> Double {
            let u = (0..<(b * a)).map { r -> [Double] in
                let row = Array(x[(r * c)..<(r * c + c)]); let n = row.map { $0 * $0 }.reduce(0, +).squareRoot()
                return row.map { $0 / n }
            }
            var total = 0.0
            for r in 0..<(b * a) { for j in 0..<b {
                let logits = (0..<a).map { k in zip(u[r], u[j * a + k]).map { $0 * $1 }.reduce(0, +) / tau }
                let m = logits.max()!, z = logits.map { Foundation.exp($0 - m) }.reduce(0, +)
                total -= logits.map { Foundation.exp($0 - m) / z }.map { $0 * Foundation.log($0) }.reduce(0, +) / Foundation.log(Double(a))
            } }
            return total / Double(b * a * b)
        }
        var obj = DistillObjective(method: .cfdIS)
        obj.tauIS = 0.25
        let inputs = DistillInputs(teacherMap: tmap, teacherPooled: tmap.mean(axis: 1).mean(axis: 1),
                                   studentMap: smap, studentPooled: smap.mean(axis: 1).mean(axis: 1))
        let values = try obj.evaluate(inputs, head: nil, queue: nil)
        let d = Dictionary(uniqueKeysWithValues: TermDiagnostics(every: 1, tauIS: 0.25).measure(values: values, studentImage: smap, parameters: [], inputs: inputs))
        XCTAssertEqual(d["diag/is_p2p/entropy_teacher"]!, ref(0.25), accuracy: 1e-5)
        XCTAssertLessThan(ref(0.25), ref(1) - 1e-3, "a lower temperature sharpens the rows")
    }
}
