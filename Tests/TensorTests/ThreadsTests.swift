import XCTest
import Foundation
@testable import Tensor

/// `Threads.availableCores()` (sched_getaffinity) against the kernel's own list of allowed CPUs.
final class ThreadsTests: XCTestCase {
    /// Counts the CPUs of `Cpus_allowed_list` in /proc/self/status, e.g. "0-3,6" → 5.
    static func allowedFromProc() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let list = line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
        return try list.split(separator: ",").reduce(0) { n, part in
            let ends = try part.split(separator: "-").map { try XCTUnwrap(Int($0)) }
            return n + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
        }
    }

    func testAvailableCoresIsTheAffinityMask() throws {
        #if os(Linux)
        XCTAssertEqual(Threads.availableCores(), try Self.allowedFromProc())
        #endif
        XCTAssertGreaterThanOrEqual(Threads.availableCores(), 1)
    }
}
