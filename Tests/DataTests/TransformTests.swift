import Foundation
import XCTest
@testable import Data

/// Padding, bilinear resizing, flips and subsets against hand-computed results.
final class TransformTests: XCTestCase {
    /// One 2×2 single-channel image [[a, b], [c, d]] plus a second image, to check images stay separate.
    func tiny() throws -> ImageDataset {
        try ImageDataset(name: "tiny", source: "test", height: 2, width: 2, channels: 1, classCount: 2,
                         images: [0.0, 0.4, 0.8, -0.4, 1, 1, 1, 1], labels: [0, 1])
    }

    func testAveragePoolAndFitToSmallerSize() throws {
        // tiny(): 2×2 images [0, 0.4; 0.8, −0.4] → one pixel, the mean 0.2.
        let pooled = try tiny().averagePooled(by: 2)
        XCTAssertEqual([pooled.count, pooled.height, pooled.width], [2, 1, 1])
        XCTAssertEqual(pooled.image(0).first!, 0.2, accuracy: 1e-6)
        assertDataError(try tiny().averagePooled(by: 3), field: "factor")
        // 2 → 1 by fitting: no padding needed, the same box mean.
        XCTAssertEqual(try tiny().fitted(to: 1).image(0).first!, 0.2, accuracy: 1e-6)
        // 2 → 3 pads; 2 → 2 is the identity.
        XCTAssertEqual(try tiny().fitted(to: 3).height, 3)
        XCTAssertEqual(try tiny().fitted(to: 2), try tiny())
        // Digits 8×8 → 3: pad to 9 (background −1 on the border), average 3×3 blocks.
        let d = try ImageDataset.digits(.test).first(2)
        let f = try d.fitted(to: 3)
        XCTAssertEqual([f.height, f.width], [3, 3])
        let padded = Array(try d.padded(to: 9).image(1))
        var expect: Float = 0
        for y in 3..<6 { for x in 6..<9 { expect += padded[y * 9 + x] } }
        XCTAssertEqual(f.image(1)[f.image(1).startIndex + 1 * 3 + 2], expect / 9, accuracy: 1e-6)
    }

    func testPadCentresWithBackground() throws {
        let p = try tiny().padded(to: 4)
        XCTAssertEqual([p.count, p.height, p.width], [2, 4, 4])
        XCTAssertEqual(Array(p.image(0)), [-1, -1, -1, -1,
                                           -1, 0.0, 0.4, -1,
                                           -1, 0.8, -0.4, -1,
                                           -1, -1, -1, -1])
        // Odd margins: 2 → 5 puts one row/column before and two after.
        let odd = try tiny().padded(to: 5, value: 0.5)
        XCTAssertEqual(Array(odd.image(1))[6...8], [1, 1, 0.5])
        XCTAssertEqual(Array(odd.image(1)).filter { $0 == 1 }.count, 4)
        XCTAssertEqual(odd.image(1)[odd.image(1).startIndex + 6], 1, "row 1, column 1 holds the first pixel")
        assertDataError(try tiny().padded(to: 1), field: "size")
        // Digits 8×8 → 16×16 keeps every pixel.
        let digits = try ImageDataset.digits(.test).first(3)
        let padded = try digits.padded(to: 16)
        XCTAssertEqual(padded.images.filter { $0 != -1 }.count, digits.images.filter { $0 != -1 }.count)
        XCTAssertEqual(padded.image(2)[padded.image(2).startIndex + 4 * 16 + 4 ..< padded.image(2).startIndex + 4 * 16 + 12],
                       digits.image(2)[digits.image(2).startIndex ..< digits.image(2).startIndex + 8])
    }

    /// 2 → 4 with half-pixel centres: source coordinates −0.25 (clamped to 0), 0.25, 0.75, 1.25 (upper tap
    /// clamped), so a row [p, q] becomes [p, 0.75p + 0.25q, 0.25p + 0.75q, q]; the same applies to columns.
    /// These are the numbers torch.nn.functional.interpolate(mode="bilinear", align_corners=False) gives.
    func testBilinearResizeMatchesHandComputedValues() throws {
        let r = try tiny().resized(to: 4)
        let (a, b, c, d): (Float, Float, Float, Float) = (0.0, 0.4, 0.8, -0.4)
        func row(_ p: Float, _ q: Float) -> [Float] { [p, 0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q, q] }
        let top = row(a, b), bottom = row(c, d)
        var expected: [Float] = []
        for w: Float in [0, 0.25, 0.75, 1] { expected += zip(top, bottom).map { (1 - w) * $0 + w * $1 } }
        let got = Array(r.image(0))
        XCTAssertEqual(got.count, 16)
        for (g, e) in zip(got, expected) { XCTAssertEqual(g, e, accuracy: 1e-6) }
        XCTAssertEqual(got[5], 0.75 * 0.75 * a + 0.75 * 0.25 * b + 0.25 * 0.75 * c + 0.25 * 0.25 * d, accuracy: 1e-6)
        XCTAssertEqual(Array(r.image(1)), Array(repeating: 1, count: 16))
        // 4 → 2 samples at 0.5 and 2.5: the mean of each 2×2 block.
        let down = try r.resized(to: 2)
        XCTAssertEqual(down.image(0)[0], (got[0] + got[1] + got[4] + got[5]) / 4, accuracy: 1e-6)
        XCTAssertEqual(down.image(0)[3], (got[10] + got[11] + got[14] + got[15]) / 4, accuracy: 1e-6)
        // Same size is the identity, channels stay independent.
        let rgb = try ImageDataset(name: "rgb", source: "t", height: 1, width: 2, channels: 3, classCount: 1,
                                   images: [1, 2, 3, 4, 5, 6], labels: [0])
        XCTAssertEqual(try rgb.resized(height: 1, width: 2).images, rgb.images)
        XCTAssertEqual(try rgb.resized(height: 1, width: 4).images,
                       [1, 2, 3, 1.75, 2.75, 3.75, 3.25, 4.25, 5.25, 4, 5, 6])
        assertDataError(try rgb.resized(to: 0), field: "size")
    }

    func testHorizontalFlipKeepsChannelsTogether() throws {
        let rgb = try ImageDataset(name: "rgb", source: "t", height: 2, width: 3, channels: 2, classCount: 1,
                                   images: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], labels: [0])
        let f = try rgb.flippedHorizontally()
        XCTAssertEqual(f.images, [5, 6, 3, 4, 1, 2, 11, 12, 9, 10, 7, 8])
        XCTAssertEqual(try f.flippedHorizontally().images, rgb.images)
    }

    func testSubsets() throws {
        // Labels 0,1,2,0,1,2,... with image value = index.
        let n = 12
        let ds = try ImageDataset(name: "s", source: "t", height: 1, width: 1, channels: 1, classCount: 3,
                                  images: (0..<n).map(Float.init), labels: (0..<n).map { $0 % 3 })
        XCTAssertEqual(try ds.first(4).images, [0, 1, 2, 3])
        XCTAssertEqual(try ds.firstPerClass(2).images, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try ds.subset([5, 0]).labels, [2, 0])
        let first = try ds.classBalancedSubset(total: 7)
        XCTAssertEqual(first.images, [0, 1, 2, 3, 4, 5, 6], "3 + 2 + 2, the first of each class, in dataset order")
        let a = try ds.classBalancedSubset(total: 6, seed: 1)
        XCTAssertEqual(a.classCounts, [2, 2, 2])
        XCTAssertEqual(a.images, try ds.classBalancedSubset(total: 6, seed: 1).images)
        XCTAssertEqual(a.images, a.images.sorted(), "dataset order is kept")
        let seeds = (2...6).map { try? ds.classBalancedSubset(total: 6, seed: UInt64($0)).images }
        XCTAssertTrue(seeds.contains { $0 != a.images }, "other seeds pick other images")
        assertDataError(try ds.first(13), field: "n")
        assertDataError(try ds.firstPerClass(5), field: "n", contains: "class 0")
        assertDataError(try ds.subset([12]), field: "index")
        let skewed = try ImageDataset(name: "k", source: "t", height: 1, width: 1, channels: 1, classCount: 2,
                                      images: [0, 0, 0, 0], labels: [0, 0, 0, 1])
        XCTAssertEqual(try skewed.classBalancedSubset(total: 3).labels, [0, 0, 1], "2 + 1 fits")
        assertDataError(try skewed.classBalancedSubset(total: 4), field: "total", contains: "class 1")
    }

    func testDatasetInitValidates() {
        assertDataError(try ImageDataset(name: "x", source: "src", height: 2, width: 2, channels: 1, classCount: 2,
                                         images: [0, 0, 0], labels: [0]), field: "image count", contains: "src")
        assertDataError(try ImageDataset(name: "x", source: "src", height: 1, width: 1, channels: 1, classCount: 2,
                                         images: [0], labels: [2]), field: "label[0]")
    }
}
