import XCTest
import Checkpoint

final class CheckpointSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
