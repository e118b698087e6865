import XCTest
import Foundation
import Data
@testable import Pipeline
import RunModel

/// The validation reference set (Pipeline/ReferenceImages.swift): drawn from the training split's even half (the
/// half the independent evaluator never trains on), as large as the test split, fixed for every trial.
final class ReferenceImagesTests: XCTestCase {
    let data = DataSettings(dataset: "digits", dataRoot: nil, imageSize: 8)

    func testTestReferenceIsTheTestSplit() throws {
        let r = try evaluationReference(data, nil)
        let test = try loadDataset("digits", root: nil, imageSize: 8, split: .test)
        XCTAssertEqual(r.split, "test")
        XCTAssertEqual(r.images.images, test.images)
        XCTAssertEqual(try evaluationReference(data, .test).images.images, test.images)
    }

    /// digits: 1545 training rows (even half 773), 252 test rows (Data/Digits.swift) → 252 validation images, the
    /// same on every call, capped at the even half when more are asked for.
    func testValidationSetHasTheTestSplitsSize() throws {
        let train = try loadDataset("digits", root: nil, imageSize: 8, split: .train)
        let r = try evaluationReference(data, .validation)
        XCTAssertEqual(r.split, "validation")
        XCTAssertEqual(r.images.count, 252)
        XCTAssertTrue(r.images.name.contains("validation"), r.images.name)
        XCTAssertEqual(try validationSet(train: train, size: 252).images, r.images.images, "fixed permutation: the same set every time")
        XCTAssertEqual(try validationSet(train: train, size: 5000).count, 773, "capped at the even half")
        // Its reference statistics never share a cache entry with the test split's.
        let test = try evaluationReference(data, .test)
        XCTAssertNotEqual(ReferenceSet(dataset: "digits", split: r.split, images: r.images).label,
                          ReferenceSet(dataset: "digits", split: test.split, images: test.images).label)
    }

    /// Distinct indices, all even: checked on the index level with a dataset whose pixels are its own index.
    func testValidationIndicesAreDistinctAndEven() throws {
        let n = 101
        let labelled = try ImageDataset(name: "index", source: "synthetic", height: 1, width: 1, channels: 1, classCount: 1,
                                        flipAugmentation: false, images: (0..<n).map(Float.init), labels: [Int](repeating: 0, count: n))
        let v = try validationSet(train: labelled, size: 30)
        let picked = v.images.map { Int($0) }
        XCTAssertEqual(picked.count, 30)
        XCTAssertEqual(Set(picked).count, 30)
        XCTAssertTrue(picked.allSatisfy { $0 % 2 == 0 }, "\(picked)")
        XCTAssertEqual(picked, picked.sorted(), "dataset order kept")
        XCTAssertThrowsError(try validationSet(train: labelled.subset([0]), size: 5))
    }
}
