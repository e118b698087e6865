import XCTest
import Diffusion

final class DiffusionSmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
