import XCTest
import TestSupport
import Tensor

/// Test helpers in the tinygrad style: one line per op compares the Swift op's forward with an
/// independent Float64 reference and its backward with central finite differences.

/// Deterministic random input with values in [lo, hi).
func rand(_ shape: [Int], seed: UInt64, _ lo: Float = -1, _ hi: Float = 1, grad: Bool = true) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, lo, hi, rng: &rng, requiresGrad: grad)
}

/// Compares forward values with a Float64 reference (TestSupport's `assertClose`, its default tolerances).
func checkForward(_ y: Tensor, _ ref: [Double], rtol: Double = defaultRelativeTolerance, atol: Double = defaultAbsoluteTolerance, _ what: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    assertClose(y.array, ref, rtol: rtol, atol: atol, "\(what) forward", file: file, line: line)
}

/// Central finite differences of L = Σ w ⊙ f(inputs) (fixed random w) against the analytic gradient
/// of every input that requires one. Differences are taken on the Float32 op with step `eps` and the
/// sum is accumulated in Float64; tolerance atol + rtol·max|grad| covers Float32 round-off.
func checkGradients(_ inputs: [Tensor], eps: Float = 1e-2, rtol: Double = 2e-2, atol: Double = 2e-3, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) -> Tensor) {
    for x in inputs { x.grad = nil }
    let y = f(inputs)
    let w = rand(y.shape, seed: 991, grad: false)
    func weighted(_ t: Tensor) -> Double {
        var s = 0.0
        for i in 0..<t.count { s += Double(t.data[i]) * Double(w.data[i]) }
        return s
    }
    (y * w).sum().backward()
    for (n, x) in inputs.enumerated() where x.requiresGrad {
        guard let g = x.grad else { XCTFail("\(what): input \(n) got no gradient", file: file, line: line); continue }
        var fd = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let old = x.data[i]
            x.data[i] = old + eps
            let lp = Autograd.noGrad { weighted(f(inputs)) }
            x.data[i] = old - eps
            let lm = Autograd.noGrad { weighted(f(inputs)) }
            x.data[i] = old
            fd[i] = (lp - lm) / (2 * Double(eps))
        }
        let scale = fd.map { abs($0) }.max() ?? 0
        assertClose(g.array, fd, rtol: 0, atol: atol + rtol * scale, "\(what) gradient of input \(n)", file: file, line: line)
    }
}

/// Float64 copy of a tensor's values.
func f64(_ t: Tensor) -> [Double] { t.array.map(Double.init) }
