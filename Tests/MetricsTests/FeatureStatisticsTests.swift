import XCTest
@testable import Metrics

/// μ and Σ as np.cov(rowvar=False) in Float64 (spec §5 "FID").
final class FeatureStatisticsTests: XCTestCase {
    func stats<S: FeatureScalar>(_ m: FeatureMatrix<S>, network: String = "net", preprocessing: String = "p",
                                 chunkRows: Int = 1024) throws -> FeatureStatistics {
        try FeatureStatistics(features: m, featureNetwork: network, dataset: "d", preprocessing: preprocessing,
                              chunkRows: chunkRows)
    }

    func testMatchesNaiveLoopsForEveryChunking() throws {
        var rng = TestRNG(1)
        let n = 37, d = 9
        let x = rng.normals(n * d, mean: 0.5, scale: 2)
        let (mu, cov) = naiveMeanCovariance(x, rows: n, cols: d)
        for chunk in [1, 2, 7, 36, 37, 1000] {
            let s = try stats(FeatureMatrix(rows: n, columns: d, values: x), chunkRows: chunk)
            XCTAssertEqual(s.count, n)
            XCTAssertEqual(s.dimension, d)
            for j in 0..<d { assertRelative(s.mean[j], mu[j], 1e-13, "mean[\(j)] chunk \(chunk)") }
            let scale = cov.map(abs).max()!
            for i in 0..<(d * d) {
                XCTAssertEqual(s.covariance[i], cov[i], accuracy: 1e-13 * scale, "cov[\(i)] chunk \(chunk)")
            }
            for i in 0..<d { for j in 0..<d { XCTAssertEqual(s.covariance[i * d + j], s.covariance[j * d + i]) } }
        }
    }

    func testFloat32InputIsWidenedExactly() throws {
        var rng = TestRNG(2)
        let n = 20, d = 5
        let xf = rng.normals(n * d).map { Float($0) }
        let s32 = try stats(FeatureMatrix(rows: n, columns: d, values: xf))
        let s64 = try stats(FeatureMatrix(rows: n, columns: d, values: xf.map { Double($0) }))
        XCTAssertEqual(s32, s64)
    }

    /// Centring before the product: a large common offset (1e6) with unit spread still gives the
    /// right covariance (E[xxᵀ] − μμᵀ would lose ~12 of 16 digits here).
    func testLargeOffsetIsStable() throws {
        var rng = TestRNG(3)
        let n = 50, d = 3
        let base = rng.normals(n * d)
        let shifted = base.map { $0 + 1e6 }
        let (_, cov) = naiveMeanCovariance(base, rows: n, cols: d)
        let s = try stats(FeatureMatrix(rows: n, columns: d, values: shifted), chunkRows: 8)
        for i in 0..<(d * d) { XCTAssertEqual(s.covariance[i], cov[i], accuracy: 1e-9) }
    }

    /// Against numpy's np.mean / np.cov on the fixture's features.
    func testMatchesNumpyCov() throws {
        let fixture = try ReferenceFixture.load()
        var checked = 0
        for c in fixture.fid {
            guard let mu1 = c.mu1, let s1 = c.sigma1, let mu2 = c.mu2, let s2 = c.sigma2 else { continue }
            for (features, n, mu, sigma) in [(c.features1, c.n1, mu1, s1), (c.features2, c.n2, mu2, s2)] {
                let s = try stats(float32Matrix(features, rows: n, cols: c.d), chunkRows: 16)
                let scale = sigma.map(abs).max()!
                for j in 0..<c.d { XCTAssertEqual(s.mean[j], mu[j], accuracy: 1e-14 * max(1, abs(mu[j]))) }
                for i in 0..<(c.d * c.d) { XCTAssertEqual(s.covariance[i], sigma[i], accuracy: 1e-13 * scale, "\(c.name)[\(i)]") }
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 4)
    }

    /// "Refused, not compared": different feature network, preprocessing or dimension throws naming both.
    func testIncomparableStatisticsAreRefused() throws {
        var rng = TestRNG(4)
        let m4 = try FeatureMatrix(rows: 10, columns: 4, values: rng.normals(40))
        let m5 = try FeatureMatrix(rows: 10, columns: 5, values: rng.normals(50))
        let a = try stats(m4, network: "inception-v3-pool3", preprocessing: "bilinear299")
        let b = try stats(m4, network: "densenet201-cifar", preprocessing: "bilinear299")
        let c = try stats(m4, network: "inception-v3-pool3", preprocessing: "uint8-bilinear299")
        let e = try stats(m5, network: "inception-v3-pool3", preprocessing: "bilinear299")
        XCTAssertThrowsError(try frechetDistance(a, b)) { error in
            XCTAssertEqual(error as? MetricsError,
                           .incompatible(field: "feature network", first: "inception-v3-pool3", second: "densenet201-cifar"))
            let text = "\(error)"
            XCTAssertTrue(text.contains("inception-v3-pool3") && text.contains("densenet201-cifar"), text)
        }
        XCTAssertThrowsError(try frechetDistance(a, c)) { error in
            XCTAssertEqual(error as? MetricsError,
                           .incompatible(field: "preprocessing", first: "bilinear299", second: "uint8-bilinear299"))
        }
        XCTAssertThrowsError(try frechetDistance(a, e)) { error in
            XCTAssertEqual(error as? MetricsError, .incompatible(field: "feature dimension", first: "4", second: "5"))
        }
        // Different datasets are the normal case and are compared.
        let other = try FeatureStatistics(mean: a.mean, covariance: a.covariance, count: 10,
                                          featureNetwork: a.featureNetwork, dataset: "cifar10-train",
                                          preprocessing: a.preprocessing)
        XCTAssertEqual(try frechetDistance(a, other).value, 0, accuracy: 1e-10)
    }

    func testBadInputsThrowNamingTheValue() throws {
        XCTAssertThrowsError(try FeatureMatrix<Float>(rows: 3, columns: 2, values: [1, 2, 3])) { error in
            XCTAssertEqual(error as? MetricsError, .shapeMismatch(what: "feature matrix (3×2)", expected: 6, actual: 3))
        }
        XCTAssertThrowsError(try FeatureMatrix<Double>(rows: 2, columns: 2, values: [1, .nan, 3, 4])) { error in
            guard case .nonFinite(_, let index, _)? = error as? MetricsError else { return XCTFail("\(error)") }
            XCTAssertEqual(index, 1)
        }
        let one = try FeatureMatrix<Double>(rows: 1, columns: 2, values: [1, 2])
        XCTAssertThrowsError(try stats(one)) { error in
            XCTAssertEqual(error as? MetricsError, .tooFewRows(what: "features for a covariance", rows: 1, minimum: 2))
        }
        XCTAssertThrowsError(try FeatureStatistics(mean: [0, 0], covariance: [1, 0.5, 0.4, 1], count: 5,
                                                   featureNetwork: "n", dataset: "d", preprocessing: "p")) { error in
            XCTAssertTrue("\(error)".contains("0.5 vs 0.4"), "\(error)")
        }
        XCTAssertThrowsError(try FeatureStatistics(mean: [0, 0], covariance: [1, 0, 0], count: 5,
                                                   featureNetwork: "n", dataset: "d", preprocessing: "p"))
    }
}
