import Foundation
import XCTest
import Tensor
import Checkpoint

// Reading the PyTorch reference files written by scripts/fixtures/make_torch_fixtures.py and comparing
// tensors against them, llm.c test_gpt2 style: every tensor gets one line with its largest absolute
// difference, and a tensor out of tolerance fails the test naming the element. Used by TensorTests (ops)
// and ModelsTests (networks); each passes its own bundle, where its Fixtures/*.h5 are copied.

/// One fixture file, loaded with checksum verification (the script writes a valid `rdd_checksum`).
public struct TorchFixture {
    public let checkpoint: Checkpoint
    public let name: String

    /// Loads `Fixtures/<resource>.h5` from `bundle` (the test target's `Bundle.module`).
    public init(_ resource: String, in bundle: Bundle) throws {
        let url = try XCTUnwrap(bundle.url(forResource: resource, withExtension: "h5", subdirectory: "Fixtures"),
                                "fixture \(resource).h5 missing; regenerate with python3 scripts/fixtures/make_torch_fixtures.py")
        checkpoint = try Checkpoint.load(from: url.path)
        name = resource
    }

    public func array(_ key: String) throws -> ArrayValue {
        try XCTUnwrap(checkpoint.arrays[key], "\(name).h5 has no array '\(key)'")
    }

    /// A float32 array as a tensor (scalars have shape []).
    public func tensor(_ key: String, requiresGrad: Bool = false) throws -> Tensor {
        let a = try array(key)
        let v = try XCTUnwrap(a.float32Values, "\(name).h5: '\(key)' is \(a.dtype.rawValue), expected float32")
        return Tensor(v, shape: a.shape, requiresGrad: requiresGrad)
    }

    /// An int64 array as Swift integers (timesteps, labels).
    public func ints(_ key: String) throws -> [Int] {
        let a = try array(key)
        return try XCTUnwrap(a.int64Values, "\(name).h5: '\(key)' is \(a.dtype.rawValue), expected int64").map { Int($0) }
    }

    /// Names directly below `prefix` (which ends in "/"), with the prefix removed, sorted.
    public func names(under prefix: String) -> [String] {
        checkpoint.arrays.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }.sorted()
    }

    public func attribute(_ key: String) throws -> AttributeValue {
        try XCTUnwrap(checkpoint.attributes[key], "\(name).h5 has no attribute '\(key)'")
    }
}

/// Elementwise tolerance of `isClose`: |swift − torch| ≤ atol + rtol·max(|swift|, |torch|) (NaN never passes).
public struct Tolerance: CustomStringConvertible {
    public var rtol: Double
    public var atol: Double
    public init(rtol: Double, atol: Double) { self.rtol = rtol; self.atol = atol }
    public var description: String { String(format: "%.0e·max|·| + %.0e", rtol, atol) }
}

/// Outcome of comparing one tensor; `line` is its report line.
public struct TensorComparison {
    public let name: String
    public let maxAbsDiff: Double
    public let maxAbsRef: Double
    /// Largest `closenessRatio` over the elements: ≤ 1 passes.
    public let worstRatio: Double
    public let passed: Bool
    public let line: String
}

/// Compares `got` with the reference `want`, fails the test (naming the worst element, the max
/// difference and the tolerance) when an element is out of tolerance or the shapes differ.
@discardableResult
public func compareTensor(_ name: String, _ got: Tensor?, _ want: Tensor, _ tol: Tolerance,
                          file: StaticString = #filePath, line: UInt = #line) -> TensorComparison {
    guard let got else {
        XCTFail("\(name): no value (missing gradient?)", file: file, line: line)
        return TensorComparison(name: name, maxAbsDiff: .infinity, maxAbsRef: 0, worstRatio: .infinity, passed: false,
                                line: "FAIL \(name): no value")
    }
    guard got.shape == want.shape else {
        XCTFail("\(name): shape \(got.shape), reference \(want.shape)", file: file, line: line)
        return TensorComparison(name: name, maxAbsDiff: .infinity, maxAbsRef: 0, worstRatio: .infinity, passed: false,
                                line: "FAIL \(name): shape \(got.shape) vs \(want.shape)")
    }
    var maxAbs = 0.0, maxRef = 0.0, worst = 0.0, worstAt = 0
    for i in 0..<want.count {
        let a = Double(got.data[i]), b = Double(want.data[i])
        let d = abs(a - b)
        let ratio = closenessRatio(a, b, rtol: tol.rtol, atol: tol.atol)
        if !(d <= maxAbs) { maxAbs = d }
        maxRef = max(maxRef, abs(b))
        if ratio > worst { worst = ratio; worstAt = i }
    }
    let passed = worst <= 1
    let text = String(format: "%@ %@  max|Δ| %.3e  max|ref| %.3e  worst |Δ|/tol %.3f  (tol %@)",
                      passed ? "OK  " : "FAIL", name, maxAbs, maxRef, worst, tol.description)
    if !passed {
        XCTFail(text + String(format: "; element %d is %.8g, reference %.8g", worstAt,
                              Double(got.data[worstAt]), Double(want.data[worstAt])), file: file, line: line)
    }
    return TensorComparison(name: name, maxAbsDiff: maxAbs, maxAbsRef: maxRef, worstRatio: worst, passed: passed, line: text)
}
