import XCTest
import Tensor
@testable import Inception

/// Bilinear resizing and input scaling against PyTorch's F.interpolate (fixtures) and a Float64 formula.
final class PreprocessTests: XCTestCase {
    func testResizeMatchesTorch() throws {
        let ref = try Fixtures.checkpoint("resize_reference.h5")
        for (name, h, w) in [("up", 29, 23), ("down", 15, 15)] {
            let x = try Fixtures.tensor(ref, "\(name)_input")
            let want = try Fixtures.tensor(ref, "\(name)_output")
            let y = InceptionPreprocess.resize(x, height: h, width: w)
            XCTAssertEqual(y.shape, want.shape)
            let d = maxAbsDiff(y.array, want.array)
            XCTAssertLessThan(d, 1e-6, "\(name)sample vs F.interpolate: max |diff| \(d)")
        }
    }

    /// The align_corners=False source coordinate in Float64, clamped at 0: the taps must agree.
    func testTapsFormula() {
        for (n, m) in [(32, 299), (28, 299), (299, 299), (300, 299), (5, 3)] {
            for (i, t) in InceptionPreprocess.taps(input: n, output: m).enumerated() {
                let s = max(0, (Double(i) + 0.5) * Double(n) / Double(m) - 0.5)
                let i0 = min(Int(s), n - 1)
                XCTAssertEqual(t.0, i0, "n \(n) m \(m) i \(i)")
                XCTAssertEqual(t.1, min(i0 + 1, n - 1))
                // λ is computed in Float32 like PyTorch: allow a few ulps of the source coordinate.
                XCTAssertEqual(Double(t.2), s - Double(i0), accuracy: 4 * Double(Float(max(s, 1)).ulp))
            }
        }
        let x = randomTensor([1, 6, 5, 3], seed: 1)
        XCTAssertEqual(InceptionPreprocess.resize(x, height: 6, width: 5).array, x.array, "same-size resize must be the identity")
    }

    /// The full preprocessing of a grey [−1, 1] image (resize to 299, repeat to RGB, both scalings) vs torch,
    /// on every 10th pixel (the fixture keeps a subsample). Needs no weights.
    func testNetworkInputMatchesTorch() throws {
        let ref = try Fixtures.checkpoint("inception_reference.h5")
        let grey = try Fixtures.tensor(ref, "grey_input")
        for (norm, name) in [(InceptionFID.Normalization.tensorflow, "tensorflow"), (.pytorchFID, "pytorchFID")] {
            let x = try InceptionFID.preprocess(grey, range: .minusOneOne, normalization: norm)
            XCTAssertEqual(x.shape, [1, 299, 299, 3])
            var sub: [Float] = []
            for y in stride(from: 0, to: 299, by: 10) { for xx in stride(from: 0, to: 299, by: 10) {
                for c in 0..<3 { sub.append(x.data[(y * 299 + xx) * 3 + c]) }
            } }
            let want = try Fixtures.tensor(ref, "grey_network_input_\(name)")
            let d = maxAbsDiff(sub, want.array)
            XCTAssertLessThan(d, 2e-6, "\(name) network input vs torch: max |diff| \(d)")
        }
        XCTAssertThrowsError(try InceptionFID.preprocess(Tensor(zeros: [1, 4, 4, 2]), range: .zeroOne)) { e in
            XCTAssertTrue("\(e)".contains("[1, 4, 4, 2]"), "\(e)")
        }
    }
}
