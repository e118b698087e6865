import XCTest
import Data

final class DataSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
