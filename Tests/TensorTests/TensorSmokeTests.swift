import XCTest
import Tensor

final class TensorSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
