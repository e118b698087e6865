import XCTest
import Foundation
import Checkpoint
import Tensor

/// Fixture access and comparison helpers for the Inception tests.
enum Fixtures {
    static func url(_ name: String) throws -> URL {
        guard let u = Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil) else {
            throw NSError(domain: "InceptionTests", code: 1, userInfo: [NSLocalizedDescriptionKey: "fixture \(name) missing; run scripts/inception/make_fixture.py"])
        }
        return u
    }
    static func checkpoint(_ name: String) throws -> Checkpoint { try Checkpoint.load(from: try url(name).path) }
    static func tensor(_ c: Checkpoint, _ name: String) throws -> Tensor {
        let v = try c.array(name, dtype: .float32)
        return Tensor(v.float32Values!, shape: v.shape)
    }
}

/// max |a − b| over all elements (a and b must have the same count).
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
    var m = 0.0
    for i in 0..<a.count {
        let d = abs(Double(a[i]) - Double(b[i]))
        if d.isNaN { return .infinity }
        m = max(m, d)
    }
    return m
}

func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "maxAbsDiff: \(a.count) vs \(b.count) values")
    var m = 0.0
    for i in 0..<a.count {
        let d = abs(Double(a[i]) - b[i])
        if d.isNaN { return .infinity }
        m = max(m, d)
    }
    return m
}

/// Deterministic values in [lo, hi).
func randomTensor(_ shape: [Int], seed: UInt64, _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, lo, hi, rng: &rng)
}
