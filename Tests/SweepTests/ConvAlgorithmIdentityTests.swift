import XCTest
import Foundation
@testable import Sweep
import Pipeline

/// A stage trained with Winograd convolutions (`RDD_CONV=winograd`) computes other numbers than one trained
/// with the direct kernels, so it must have another identity: otherwise a root that cached direct-kernel
/// stages would hand them to a Winograd run (and the reverse) under the same name. `CodeVersion.string`
/// carries the algorithm ("rdd-0.4.0+winograd") into every identity, checkpoint and provenance record.
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

    func testWinogradStagesHaveTheirOwnIdentities() throws {
        let root = NSTemporaryDirectory() + "rdd-conv-id-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let spec = root + "/s.json"
        try SchedulerTests.fastSpec(name: "s", methods: ["rcfd"], seeds: [0]).write(toFile: spec, atomically: true, encoding: .utf8)

        let direct = try plan(spec, root: root, conv: nil)
        let explicit = try plan(spec, root: root, conv: "direct")
        let winograd = try plan(spec, root: root, conv: "winograd")
        XCTAssertTrue(direct.contains("code \(CodeVersion.numerics)\n"), direct)
        XCTAssertTrue(winograd.contains("code \(CodeVersion.numerics)+winograd\n"), winograd)
        let (d, w) = (identities(direct), identities(winograd))
        XCTAssertFalse(d.isEmpty, "no stage table in\n\(direct)")
        XCTAssertEqual(d, identities(explicit), "RDD_CONV=direct is the default: the same identities")
        XCTAssertEqual(d.count, w.count)
        XCTAssertTrue(Set(d).isDisjoint(with: w), "a Winograd stage shares an identity with a direct one:\n\(direct)\n\(winograd)")
    }
}
