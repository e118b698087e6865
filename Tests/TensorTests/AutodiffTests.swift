import XCTest
import Tensor

final class AutodiffTests: XCTestCase {
    func testDiamondGraphAccumulates() {
        // y = x·x + x → dy/dx = 2x + 1; x used along two paths.
        let x = Tensor([1.5, -2], shape: [2], requiresGrad: true)
        ((x * x) + x).sum().backward()
        XCTAssertEqual(x.grad!.array, [4, -3])
    }

    func testGradientsAccumulateAcrossBackwardCalls() {
        let x = Tensor([3], shape: [1], requiresGrad: true)
        x.square().sum().backward()
        x.square().sum().backward()
        XCTAssertEqual(x.grad!.array, [12], "two backward passes add 6 + 6")
    }

    func testNoGradRecordsNothing() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        let y = Autograd.noGrad { x.square() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
    }

    func testFrozenWeightsPassGradientToInput() {
        // A frozen layer (weights without requiresGrad) still carries the gradient to its input.
        let w = Tensor([2, 0, 0, 3], shape: [2, 2])
        let x = Tensor([1, 1], shape: [1, 2], requiresGrad: true)
        linear(x, weight: w, bias: nil).sum().backward()
        XCTAssertEqual(x.grad!.array, [2, 3])
        XCTAssertNil(w.grad)
    }

    func testRetainGradAndRetainGraph() {
        let x = Tensor([1, 2], shape: [2], requiresGrad: true)
        let h = x.scaled(3).retainGrad()
        let loss = h.square().sum()
        loss.backward(retainGraph: true)
        XCTAssertEqual(h.grad!.array, [6, 12], "∂(h²)/∂h = 2h kept on a non-leaf")
        XCTAssertEqual(x.grad!.array, [18, 36])
        loss.backward()
        XCTAssertEqual(x.grad!.array, [36, 72], "second pass over the retained graph")
        XCTAssertEqual(h.grad!.array, [12, 24], "a retained gradient accumulates across passes like a leaf's")
    }

    func testShapeErrorsNameOpAndShapes() {
        XCTAssertThrowsError(try Shape.broadcast([2, 3], [4, 3], op: "add")) { e in
            XCTAssertEqual("\(e)", "add: shapes [2, 3] and [4, 3] do not broadcast (axis 0: 2 vs 4)")
        }
        XCTAssertThrowsError(try Shape.same([2], [3], op: "mseLoss")) { e in
            XCTAssertTrue("\(e)".contains("[2]") && "\(e)".contains("[3]") && "\(e)".hasPrefix("mseLoss"))
        }
        XCTAssertThrowsError(try Shape.axis(3, rank: 2, op: "softmax"))
    }

    func testRNGIsReproducibleAndRestorable() {
        var a = RNG(seed: 42)
        _ = a.normals(3)                         // leaves a spare Box–Muller value
        var b = RNG(stateWords: a.stateWords)
        XCTAssertEqual(a.normals(5), b.normals(5))
        XCTAssertEqual(a.permutation(10), b.permutation(10))
        var c = RNG(seed: 42), d = RNG(seed: 43)
        XCTAssertNotEqual(c.uniforms(4), d.uniforms(4))
        var e = RNG(seed: 1)
        let xs = e.normals(20000)
        let mean = xs.reduce(0, +) / 20000, varr = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20000
        XCTAssertEqual(mean, 0, accuracy: 0.03); XCTAssertEqual(varr, 1, accuracy: 0.04)
    }
}
