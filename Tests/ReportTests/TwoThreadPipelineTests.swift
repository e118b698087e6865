import XCTest
import Foundation
@testable import Report

/// `TwoThreadPipeline` (the report export's reading and writing threads): the consumer sees exactly the producer's
/// sequence, `finish` runs once after it, and an error on either side stops both and is the one rethrown.
final class TwoThreadPipelineTests: XCTestCase {
    struct Failure: Error, Equatable { let at: Int }

    func testOrderIsKeptAndFinishRunsLast() throws {
        for (batch, depth, n) in [(16, 4, 10_000), (1, 1, 257), (7, 2, 0), (3, 64, 5)] {
            var seen: [Int] = [], finished = 0, seenAtFinish = -1
            let producer = Thread.current
            var onProducerThread = 0
            try TwoThreadPipeline.run(batch: batch, depth: depth, produce: { emit in
                for i in 0..<n { try emit(i) }
            }, consume: { i in
                if Thread.current == producer { onProducerThread += 1 }
                seen.append(i)
            }, finish: { finished += 1; seenAtFinish = seen.count })
            XCTAssertEqual(seen, Array(0..<n), "batch \(batch), depth \(depth)")
            XCTAssertEqual(finished, 1)
            XCTAssertEqual(seenAtFinish, n)
            XCTAssertEqual(onProducerThread, 0, "the consumer runs on its own thread")
        }
    }

    func testAProducerErrorStopsTheConsumerWithoutFinishing() {
        var seen: [Int] = [], finished = false
        XCTAssertThrowsError(try TwoThreadPipeline.run(batch: 4, depth: 2, produce: { emit in
            for i in 0..<100 { if i == 50 { throw Failure(at: i) }; try emit(i) }
        }, consume: { seen.append($0) }, finish: { finished = true })) { XCTAssertEqual($0 as? Failure, Failure(at: 50)) }
        XCTAssertFalse(finished, "an export whose reading failed must not be closed as if complete")
        XCTAssertEqual(seen, Array(seen.indices), "what was consumed is a prefix, in order")
        XCTAssertLessThanOrEqual(seen.count, 50)
    }

    func testAConsumerErrorStopsTheProducer() {
        var produced = 0, finished = false
        XCTAssertThrowsError(try TwoThreadPipeline.run(batch: 4, depth: 2, produce: { emit in
            for i in 0..<1_000_000 { produced += 1; try emit(i) }
        }, consume: { i in if i == 10 { throw Failure(at: i) } }, finish: { finished = true })) { XCTAssertEqual($0 as? Failure, Failure(at: 10)) }
        XCTAssertFalse(finished)
        // The producer stops at its next hand-over once the queue (2 batches of 4) is full: far before the end.
        XCTAssertLessThan(produced, 1_000)
    }
}
