import XCTest
@testable import Tensor
import TestSupport

/// The shared kernel-path switching of the bit-identity tests (Sources/TestSupport/KernelPaths.swift) puts the
/// process-wide selection back: a leak would run every later test on the wrong path without failing any.
final class KernelPathsHelperTests: XCTestCase {
    struct Thrown: Error {}

    func testWithKernelPathSelectsAndRestores() throws {
        let paths = supportedKernelPaths(emulated: true)
        XCTAssertEqual(paths.first, .portable, "the reference path is compared first")
        XCTAssertTrue(paths.allSatisfy(\.isSupported))
        let before = (GemmDispatch.isa, Threads.count)
        for isa in paths {
            let inside = try withKernelPath(isa, threads: before.1 == 1 ? 2 : 1) { (GemmDispatch.isa, Threads.count) }
            XCTAssertEqual(inside.0, isa)
            XCTAssertEqual(inside.1, before.1 == 1 ? 2 : 1)
            XCTAssertEqual(GemmDispatch.isa, before.0, "restored after \(isa)")
            XCTAssertEqual(Threads.count, before.1)
            XCTAssertThrowsError(try withKernelPath(isa, threads: 3) { throw Thrown() })
            XCTAssertEqual(GemmDispatch.isa, before.0, "restored after \(isa) threw")
            XCTAssertEqual(Threads.count, before.1)
        }
    }
}
