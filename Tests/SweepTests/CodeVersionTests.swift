import XCTest
import Foundation
@testable import Sweep
import Pipeline

/// The code version cannot go stale: `numerics.manifest` holds the SHA-256 of every source file that
/// can change a stage's numbers, keyed to `CodeVersion.numerics`. When any of them changes, this test
/// fails until `scripts/numerics-manifest.sh` is run, which makes the author say whether the numbers
/// changed (`--bumped`, after bumping the version, so every cached stage reruns) or not
/// (`--unchanged "REASON"`, recorded in the manifest for review).
final class CodeVersionTests: XCTestCase {
    /// Keep in sync with DIRS in scripts/numerics-manifest.sh.
    static let numericsDirectories = ["Sources/RunModel", "Sources/Tensor", "Sources/CGemm", "Sources/CLinearAlgebra", "Sources/CBLAS", "Sources/NN", "Sources/Models", "Sources/Diffusion",
                                      "Sources/Distill", "Sources/Data", "Sources/Metrics", "Sources/Inception", "Sources/Checkpoint",
                                      "Sources/CHDF5", "Sources/CZlib", "Sources/Pipeline"]
    static let extensions = [".swift", ".c", ".h", ".modulemap"]

    func testNumericsSourcesMatchTheManifestOfThisCodeVersion() throws {
        let repo = SchedulerTests.repo
        let text = try String(contentsOfFile: repo + "/numerics.manifest", encoding: .utf8)
        let fix = "run scripts/numerics-manifest.sh --bumped after bumping CodeVersion.numerics (Sources/Pipeline/TrainingState.swift) "
            + "if numbers change, else scripts/numerics-manifest.sh --unchanged \"REASON\""
        let version = text.split(separator: "\n").first { $0.hasPrefix("version ") }.map { String($0.dropFirst(8)) }
        XCTAssertEqual(version, CodeVersion.numerics, "numerics.manifest is for another code version: \(fix)")
        var recorded: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("version ") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2 else { XCTFail("bad manifest line: \(line)"); continue }
            recorded[parts[1].trimmingCharacters(in: .whitespaces)] = String(parts[0])
        }
        var current: [String: String] = [:]
        let fm = FileManager.default
        for dir in Self.numericsDirectories {
            guard let e = fm.enumerator(atPath: repo + "/" + dir) else { continue }
            while let rel = e.nextObject() as? String {
                let path = dir + "/" + rel
                guard Self.extensions.contains(where: { rel.hasSuffix($0) }), let data = fm.contents(atPath: repo + "/" + path) else { continue }
                current[path] = SHA256.digest([UInt8](data)).map { String(format: "%02x", $0) }.joined()
            }
        }
        XCTAssertGreaterThan(current.count, 50, "found the numerics sources under \(repo)")
        let changed = current.keys.filter { recorded[$0] != nil && recorded[$0] != current[$0] }.sorted()
        let added = current.keys.filter { recorded[$0] == nil }.sorted()
        let removed = recorded.keys.filter { current[$0] == nil }.sorted()
        XCTAssertTrue(changed.isEmpty && added.isEmpty && removed.isEmpty,
                      "sources that affect numbers differ from numerics.manifest (\(CodeVersion.numerics)): changed \(changed), added \(added), removed \(removed); \(fix)")
    }
}
