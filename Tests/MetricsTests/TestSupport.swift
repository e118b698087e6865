import Foundation
import XCTest
import TestSupport
@testable import Metrics

/// |a − b| ≤ tol · max(|a|, |b|): relative and scale-invariant; fails on NaN (TestSupport's rule, atol 0).
func assertRelative(_ a: Double, _ b: Double, _ tol: Double, _ what: @autoclosure () -> String = "",
                    file: StaticString = #filePath, line: UInt = #line) {
    assertClose(a, b, rtol: tol, atol: 0, what(), file: file, line: line)
}

/// A seeded test generator (SplitMix64 + Box–Muller), independent of the code under test's generator use.
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }
    mutating func normal() -> Double {
        (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
    }
    /// rows × cols matrix of N(mean, scale²) values, row-major.
    mutating func normals(_ count: Int, mean: Double = 0, scale: Double = 1) -> [Double] {
        (0..<count).map { _ in mean + scale * normal() }
    }
}

/// Obviously-correct reference: np.cov(rowvar=False) by loops, Float64.
func naiveMeanCovariance(_ x: [Double], rows n: Int, cols d: Int) -> ([Double], [Double]) {
    var mu = [Double](repeating: 0, count: d)
    for r in 0..<n { for j in 0..<d { mu[j] += x[r * d + j] } }
    for j in 0..<d { mu[j] /= Double(n) }
    var c = [Double](repeating: 0, count: d * d)
    for i in 0..<d { for j in 0..<d {
        var s = 0.0
        for r in 0..<n { s += (x[r * d + i] - mu[i]) * (x[r * d + j] - mu[j]) }
        c[i * d + j] = s / Double(n - 1)
    } }
    return (mu, c)
}

// MARK: - The fixture written by scripts/fid_reference.py

struct ReferenceFixture: Decodable {
    struct FIDCase: Decodable {
        let name: String
        let n1: Int, n2: Int, d: Int
        let features1: [Double], features2: [Double]
        let rank1: Int, rank2: Int
        let fid_reference_pipeline: Double
        let fid_exact: Double
        let fid_numpy_eigvals: Double
        let trace_sigma1: Double, trace_sigma2: Double
        let mu1: [Double]?, mu2: [Double]?, sigma1: [Double]?, sigma2: [Double]?
    }
    struct KIDCase: Decodable {
        let name: String
        let n1: Int, n2: Int, d: Int
        let features1: [Double], features2: [Double]
        let mmd2_whole_sets: Double
        let mmd2_first_with_itself: Double
        let subset_rows1: [[Int]], subset_rows2: [[Int]]
        let subset_values: [Double]
        let kid_mean: Double, kid_std: Double
    }
    struct ISCase: Decodable {
        let name: String
        let n: Int, k: Int, splits: Int
        let probability_bits: [UInt32]
        let split_scores: [Double]
        let mean: Double, std: Double
    }
    let fid: [FIDCase]
    let kid: [KIDCase]
    let inception_score: [ISCase]

    static func load() throws -> ReferenceFixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "metrics_reference", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        return try JSONDecoder().decode(ReferenceFixture.self, from: Data(contentsOf: url))
    }
}

/// Float32 features from fixture doubles (the fixture stores exactly representable float32 values).
func float32Matrix(_ values: [Double], rows: Int, cols: Int) throws -> FeatureMatrix<Float> {
    let f = values.map { Float($0) }
    for (a, b) in zip(f, values) where Double(a) != b { XCTFail("fixture value \(b) is not a float32") }
    return try FeatureMatrix(rows: rows, columns: cols, values: f)
}
