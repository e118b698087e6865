import Foundation
import XCTest
@testable import Data

/// Shuffling, drop_last, random flips and resuming of `BatchIterator`.
final class BatchIteratorTests: XCTestCase {
    /// 10 images of 1×2×1 whose pixels are (i, −i) and whose label is i mod 3: a batch shows which rows it
    /// holds and whether each was flipped.
    func rows() throws -> ImageDataset {
        try ImageDataset(name: "rows", source: "t", height: 1, width: 2, channels: 1, classCount: 3,
                         images: (0..<10).flatMap { [Float($0), -Float($0)] }, labels: (0..<10).map { $0 % 3 })
    }

    func take(_ it: inout BatchIterator, _ n: Int) -> [Batch] { (0..<n).map { _ in it.nextBatch() } }

    func testShuffleIsSeededAndDropsTheLastBatch() throws {
        var a = try BatchIterator(dataset: rows(), batchSize: 3, seed: 42)
        var b = try BatchIterator(dataset: rows(), batchSize: 3, seed: 42)
        var c = try BatchIterator(dataset: rows(), batchSize: 3, seed: 43)
        XCTAssertEqual(a.batchesPerEpoch, 3)
        let ba = take(&a, 9), bb = take(&b, 9), bc = take(&c, 9)
        XCTAssertEqual(ba, bb, "same seed, same batches")
        XCTAssertNotEqual(ba.map(\.indices), bc.map(\.indices), "another seed, another order")
        for epoch in 0..<3 {
            let rows = ba[(3 * epoch)..<(3 * epoch + 3)].flatMap(\.indices)
            XCTAssertEqual(rows.count, 9, "one incomplete batch dropped")
            XCTAssertEqual(Set(rows).count, 9, "no repeats within an epoch")
        }
        let epochOrders = (0..<3).map { e in ba[(3 * e)..<(3 * e + 3)].flatMap(\.indices) }
        XCTAssertNotEqual(epochOrders[0], epochOrders[1], "each epoch reshuffles")
        XCTAssertEqual(a.position, BatchPosition(seed: 42, epoch: 3, cursor: 0))
        // Images and labels follow the indices.
        for batch in ba {
            XCTAssertEqual(batch.images, batch.indices.flatMap { [Float($0), -Float($0)] })
            XCTAssertEqual(batch.labels, batch.indices.map { $0 % 3 })
            XCTAssertEqual(batch.flipped, [false, false, false])
        }
    }

    func testWithoutShuffleTheOrderIsTheDatasetOrder() throws {
        var it = try BatchIterator(dataset: rows(), batchSize: 4, seed: 1, shuffle: false)
        XCTAssertEqual(take(&it, 3).map(\.indices), [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3]])
    }

    func testRandomFlipsAreSeededAndMirrorTheImages() throws {
        var a = try BatchIterator(dataset: rows(), batchSize: 5, seed: 7, randomFlip: true)
        var b = try BatchIterator(dataset: rows(), batchSize: 5, seed: 7, randomFlip: true)
        let ba = take(&a, 40)
        XCTAssertEqual(ba, take(&b, 40))
        let flips = ba.flatMap(\.flipped)
        let share = Double(flips.filter { $0 }.count) / Double(flips.count)
        XCTAssertEqual(share, 0.5, accuracy: 0.1, "p = ½ (200 draws)")
        for batch in ba {
            for (k, row) in batch.indices.enumerated() {
                let pixels = Array(batch.images[(2 * k)..<(2 * k + 2)])
                XCTAssertEqual(pixels, batch.flipped[k] ? [-Float(row), Float(row)] : [Float(row), -Float(row)])
            }
        }
        var other = try BatchIterator(dataset: rows(), batchSize: 5, seed: 8, randomFlip: true)
        XCTAssertNotEqual(take(&other, 40).flatMap(\.flipped), flips)
    }

    func testResumeFromSavedPositionGivesTheSameBatches() throws {
        for flip in [false, true] {
            var full = try BatchIterator(dataset: rows(), batchSize: 3, seed: 2024, randomFlip: flip)
            _ = take(&full, 7)  // into the third epoch (3 batches per epoch)
            let saved = full.position
            XCTAssertEqual(saved, BatchPosition(seed: 2024, epoch: 2, cursor: 1))
            let rest = take(&full, 8)
            // Round-trip the position through JSON, as a checkpoint would store it.
            let json = try JSONEncoder().encode(saved)
            let loaded = try JSONDecoder().decode(BatchPosition.self, from: json)
            var resumed = try BatchIterator(dataset: rows(), batchSize: 3, seed: 0, randomFlip: flip, start: loaded)
            XCTAssertEqual(take(&resumed, 8), rest, "flip \(flip)")
        }
        // A cursor at the end of an epoch is the start of the next one.
        var end = try BatchIterator(dataset: rows(), batchSize: 3, seed: 5, start: BatchPosition(seed: 5, epoch: 0, cursor: 3))
        var next = try BatchIterator(dataset: rows(), batchSize: 3, seed: 5, start: BatchPosition(seed: 5, epoch: 1))
        XCTAssertEqual(end.nextBatch(), next.nextBatch())
    }

    func testBadArgumentsAreRefused() throws {
        assertDataError(try BatchIterator(dataset: rows(), batchSize: 0, seed: 1), field: "batchSize")
        assertDataError(try BatchIterator(dataset: rows(), batchSize: 11, seed: 1), field: "batchSize", contains: "10")
        assertDataError(try BatchIterator(dataset: rows(), batchSize: 3, seed: 1,
                                          start: BatchPosition(seed: 1, epoch: 0, cursor: 4)), field: "start")
        assertDataError(try BatchIterator(dataset: rows(), batchSize: 3, seed: 1,
                                          start: BatchPosition(seed: 1, epoch: -1)), field: "start")
    }

    /// Neighbouring seeds and epochs must not give shifted copies of one stream (the reason for `mix`).
    func testEpochSeedsAreUnrelated() {
        let s = (0..<4).flatMap { seed in (0..<4).map { BatchIterator.mix(UInt64(seed), UInt64($0), 0) } }
        XCTAssertEqual(Set(s).count, 16)
        XCTAssertNotEqual(BatchIterator.mix(1, 2, 0), BatchIterator.mix(1, 2, 1))
        XCTAssertNotEqual(BatchIterator.mix(1, 2, 0), BatchIterator.mix(2, 1, 0))
    }
}
