import XCTest
import Foundation
@testable import Sweep
import Pipeline

/// A stage trained with the direct 3×3 kernels (`RDD_CONV=direct`) computes other numbers than one trained with
/// the default Winograd convolutions, so it must have another identity: otherwise a root that cached Winograd
/// stages would hand them to a direct run (and the reverse) under the same name. `CodeVersion.string` carries
/// the non-default algorithm ("rdd-0.5.0+direct") into every identity, checkpoint and provenance record.
final class ConvAlgorithmIdentityTests: XCTestCase {
    /// `rdd-sweep plan SPEC --root ROOT` with `RDD_CONV` set to `conv` (nil: unset).
    func plan(_ spec: String, root: String, conv: String?) throws -> String {
        var env = ProcessInfo.processInfo.environment
        env["RDD_CONV"] = conv
        let (status, text) = try ExitCodeTests.runTool(["plan", spec, "--root", root], environment: env)
        XCTAssertEqual(status, 0, text)
        return text
    }

    /// The identity column of `plan`'s stage table (10 hex digits after the stage name).
    func identities(_ planText: String) -> [String] {
        planText.split(separator: "\n").compactMap { line in
            let cols = line.split(separator: " ", omittingEmptySubsequences: true)
            guard cols.count >= 3, ["classifier", "teacher", "pd", "distill", "eval"].contains(String(cols[0])),
                  cols[2].count == 10, cols[2].allSatisfy(\.isHexDigit) else { return nil }
            return String(cols[2])
        }
    }

    func testDirectKernelStagesHaveTheirOwnIdentities() throws {
        let root = NSTemporaryDirectory() + "rdd-conv-id-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let spec = root + "/s.json"
        try SchedulerTests.fastSpec(name: "s", methods: ["rcfd"], seeds: [0]).write(toFile: spec, atomically: true, encoding: .utf8)

        let winograd = try plan(spec, root: root, conv: nil)
        let explicit = try plan(spec, root: root, conv: "winograd")
        let direct = try plan(spec, root: root, conv: "direct")
        XCTAssertTrue(winograd.contains("code \(CodeVersion.numerics)\n"), winograd)
        XCTAssertTrue(direct.contains("code \(CodeVersion.numerics)+direct\n"), direct)
        let (d, w) = (identities(direct), identities(winograd))
        XCTAssertFalse(w.isEmpty, "no stage table in\n\(winograd)")
        XCTAssertEqual(w, identities(explicit), "RDD_CONV=winograd is the default: the same identities")
        XCTAssertEqual(d.count, w.count)
        XCTAssertTrue(Set(d).isDisjoint(with: w), "a direct-kernel stage shares an identity with a Winograd one:\n\(direct)\n\(winograd)")
    }
}
