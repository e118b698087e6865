import Foundation
import XCTest
@testable import Metrics

/// The IS formula of spec §5 and check E1 of §8.
final class InceptionScoreTests: XCTestCase {
    func matrix(_ v: [Double], _ n: Int, _ k: Int) throws -> FeatureMatrix<Double> {
        try FeatureMatrix(rows: n, columns: k, values: v)
    }

    /// E1: 20 images alternating (0.9, 0.1) / (0.1, 0.9), one split: IS = 1.4449348112.
    func testE1() throws {
        var p: [Double] = []
        for i in 0..<20 { p += i % 2 == 0 ? [0.9, 0.1] : [0.1, 0.9] }
        let r = try inceptionScore(probabilities: matrix(p, 20, 2), splits: 1, network: .inceptionV3)
        XCTAssertEqual(r.mean, 1.4449348112, accuracy: 5e-11)
        // Independent closed form: exp(0.9 ln 1.8 + 0.1 ln 0.2).
        XCTAssertEqual(r.mean, exp(0.9 * log(1.8) + 0.1 * log(0.2)), accuracy: 1e-14)
        XCTAssertEqual(r.standardDeviation, 0)
        XCTAssertEqual(r.splitScores.count, 1)
    }

    /// E1: identical predictions give IS = 1 (p(y|x) = p̄(y), KL = 0), for every split count.
    func testIdenticalPredictionsGiveOne() throws {
        let row = [0.5, 0.2, 0.3]
        let p = Array((0..<30).map { _ in row }.joined())
        for splits in [1, 3, 10] {
            let r = try inceptionScore(probabilities: matrix(p, 30, 3), splits: splits, network: .inceptionV3)
            XCTAssertEqual(r.mean, 1, accuracy: 1e-15)
            XCTAssertEqual(r.standardDeviation, 0, accuracy: 1e-15)
        }
    }

    /// One-hot predictions spread evenly over K classes in each split give IS = K (KL = ln K);
    /// zeros contribute 0 (the p ln p limit).
    func testOneHotEvenClassesGiveK() throws {
        let k = 4, n = 40
        var p = [Double](repeating: 0, count: n * k)
        for i in 0..<n { p[i * k + i % k] = 1 }
        let r = try inceptionScore(probabilities: matrix(p, n, k), splits: 10, network: .classifier(name: "toy"))
        XCTAssertEqual(r.mean, 4, accuracy: 1e-13)
        XCTAssertEqual(r.splitScores.count, 10)
    }

    /// Against pytorch-ddpm's numpy code (scripts/fid_reference.py), including N = 53 (unequal splits
    /// at ⌊i·N/10⌋).
    func testAgainstReferenceFixture() throws {
        let fixture = try ReferenceFixture.load()
        XCTAssertEqual(fixture.inception_score.count, 2)
        for c in fixture.inception_score {
            let p = c.probability_bits.map { Float(bitPattern: $0) }
            let r = try inceptionScore(probabilities: FeatureMatrix(rows: c.n, columns: c.k, values: p),
                                       splits: c.splits, network: .inceptionV3)
            for (a, b) in zip(r.splitScores, c.split_scores) { assertRelative(a, b, 1e-12, "\(c.name) split") }
            assertRelative(r.mean, c.mean, 1e-12, "\(c.name) mean")
            assertRelative(r.standardDeviation, c.std, 1e-9, "\(c.name) std")
        }
    }

    func testNaming() throws {
        let p = try matrix([1, 0, 0, 1], 2, 2)
        XCTAssertEqual(try inceptionScore(probabilities: p, splits: 1, network: .inceptionV3).name, "Inception Score")
        let named = try inceptionScore(probabilities: p, splits: 1, network: .classifier(name: "densenet201-cifar10"))
        XCTAssertEqual(named.name, "classifier score (densenet201-cifar10)")
        XCTAssertFalse(named.name.contains("Inception"))
    }

    func testBadInputsThrowNamingTheValue() throws {
        XCTAssertThrowsError(try inceptionScore(probabilities: matrix([0.5, 0.6, 0.5, 0.5], 2, 2), splits: 1,
                                                network: .inceptionV3)) { error in
            guard case .probabilitiesDoNotSumToOne(let row, let sum)? = error as? MetricsError else { return XCTFail("\(error)") }
            XCTAssertEqual(row, 0)
            XCTAssertEqual(sum, 1.1, accuracy: 1e-12)
        }
        XCTAssertThrowsError(try inceptionScore(probabilities: matrix([1.5, -0.5, 0.5, 0.5], 2, 2), splits: 1,
                                                network: .inceptionV3)) { error in
            XCTAssertEqual(error as? MetricsError, .invalidProbability(row: 0, column: 0, value: 1.5))
        }
        XCTAssertThrowsError(try inceptionScore(probabilities: matrix([1, 0, 0, 1], 2, 2), splits: 3,
                                                network: .inceptionV3)) { error in
            XCTAssertEqual(error as? MetricsError, .tooFewRows(what: "probabilities for 3 splits", rows: 2, minimum: 3))
        }
        XCTAssertThrowsError(try inceptionScore(probabilities: matrix([1, 0], 1, 2), splits: 0, network: .inceptionV3))
    }
}
