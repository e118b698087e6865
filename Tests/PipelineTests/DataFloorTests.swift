import XCTest
import Foundation
import Tensor
import Models
import Data
import Metrics
import Pipeline
import RunModel

/// The data-vs-data floor: disjoint train subsets against the evaluation's reference statistics.
final class DataFloorTests: XCTestCase {
    func testSubsetsAreDisjointAndSeeded() throws {
        let s = try disjointSubsets(count: 100, n: 30, repeats: 3, seed: 4)
        XCTAssertEqual(s.map(\.count), [30, 30, 30])
        XCTAssertEqual(Set(s.flatMap { $0 }).count, 90, "no index in two subsets")
        XCTAssertTrue(s.allSatisfy { $0 == $0.sorted() && $0.allSatisfy { (0..<100).contains($0) } })
        XCTAssertEqual(try disjointSubsets(count: 100, n: 30, repeats: 3, seed: 4), s, "same seed, same subsets")
        XCTAssertNotEqual(try disjointSubsets(count: 100, n: 30, repeats: 3, seed: 5), s)
        XCTAssertThrowsError(try disjointSubsets(count: 100, n: 30, repeats: 4, seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("need 120 training images; the split has 100"), "\(e)")
        }
    }

    /// An untrained tiny DenseNet as the classifier: the floor is the FID of each train subset against the cached
    /// test statistics (checked against a direct computation), far below the FID of noise, and reuses the cache.
    func testClassifierFloorOnDigits() throws {
        let c = try ExperimentConfig.defaults(preset: "tiny")
        let clf = ClassifierExtractor(net: DenseNet(c.classifier.network, seed: 1), config: c.classifier.network, weightsDigest: "untrained-seed-1")
        clf.net.train(false)
        let dir = NSTemporaryDirectory() + "rdd-floor-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let cache = ReferenceStatisticsCache(directory: dir)
        let train = try ImageDataset.digits(.train), test = try ImageDataset.digits(.test)
        let ref = ReferenceSet(dataset: "digits", split: "test", images: test)
        let f = try dataFloor(train: train, reference: ref, samples: 256, repeats: 3, seed: 0, extractor: clf, cache: cache)
        XCTAssertEqual(f.values.count, 3)
        XCTAssertFalse(f.referenceCached)
        XCTAssertEqual(f.reference, "digits test split (252 images)")
        XCTAssertEqual(f.featureKind, "classifier")
        XCTAssertEqual(f.mean, f.values.reduce(0, +) / 3, accuracy: 1e-12)
        XCTAssertNotNil(f.standardDeviation)
        // Subset 0 by hand.
        let idx = try disjointSubsets(count: train.count, n: 256, repeats: 3, seed: 0)[0]
        let part = try train.subset(idx)
        let s = try FeatureStatistics(features: try clf.features(Tensor(part.images, shape: [256, 8, 8, 1])), featureNetwork: clf.featureNetwork,
                                      dataset: "x", preprocessing: clf.preprocessing(height: 8, width: 8, channels: 1))
        let r = try FeatureStatistics(features: try clf.features(ref.tensor), featureNetwork: clf.featureNetwork,
                                      dataset: "y", preprocessing: clf.preprocessing(height: 8, width: 8, channels: 1))
        XCTAssertEqual(f.values[0], try frechetDistance(s, r).value, accuracy: 1e-9 * max(1, f.values[0]))
        // Noise images score far above the floor.
        var rng = RNG(seed: 3)
        let noise = try FeatureStatistics(features: try clf.features(Tensor.uniform([256, 8, 8, 1], -1, 1, rng: &rng)), featureNetwork: clf.featureNetwork,
                                          dataset: "noise", preprocessing: clf.preprocessing(height: 8, width: 8, channels: 1))
        let noiseFID = try frechetDistance(noise, r).value
        print("DataFloorTests: untrained-classifier floor \(f.line); noise \(noiseFID)")
        XCTAssertLessThan(f.values.max()!, 0.5 * noiseFID)
        // A second floor (another seed) reads the same reference entry.
        let g = try dataFloor(train: train, reference: ref, samples: 256, repeats: 1, seed: 1, extractor: clf, cache: cache)
        XCTAssertTrue(g.referenceCached)
        XCTAssertTrue(g.line.contains("N=256 train images vs digits test split (252 images)"), g.line)
    }

    func testFloorRefusesImagesOfAnotherSize() throws {
        let clf = ClassifierExtractor(net: DenseNet(try ExperimentConfig.defaults(preset: "tiny").classifier.network, seed: 1),
                                      config: try ExperimentConfig.defaults(preset: "tiny").classifier.network, weightsDigest: "x")
        let ref = ReferenceSet(dataset: "digits", split: "test", images: try ImageDataset.digits(.test).padded(to: 10))
        XCTAssertThrowsError(try dataFloor(train: try ImageDataset.digits(.train), reference: ref, samples: 8, repeats: 1, seed: 0, extractor: clf,
                                           cache: ReferenceStatisticsCache(directory: NSTemporaryDirectory() + "rdd-floor-never"))) { e in
            XCTAssertTrue("\(e)".contains("8×8×1 differ from the reference's 10×10×1"), "\(e)")
        }
    }
}
