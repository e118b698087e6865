import XCTest
import Foundation
@testable import Pipeline

/// The perceptual-weights file (docs/losses.md): read and checked in Pipeline, passed to Distill's loss as values.
final class PerceptualWeightsTests: XCTestCase {
    func testReadsTheFileAndRefusesMalformedOnes() throws {
        let json = #"{"format": "rdd-perceptual-weights", "version": 1, "layers": [[0.5, 1, 2], [0, 0.1, 0.2, 0.3, 4]]}"#
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("perceptual-weights-\(getpid()).json")
        try Data(json.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertEqual(try loadPerceptualWeights(from: url), [[0.5, 1, 2], [0, 0.1, 0.2, 0.3, 4]])

        // Each malformed file is refused with a message naming the source and what is wrong.
        let bad: [(String, String)] = [
            (#"{"format": "lpips", "version": 1, "layers": [[1]]}"#, "format is 'lpips'"),
            (#"{"format": "rdd-perceptual-weights", "version": 1, "layers": [[1, -2]]}"#, "layer 0 weight 1 = -2.0"),
            (#"{"format": "rdd-perceptual-weights", "version": 2, "layers": [[1]]}"#, "version 2 is not supported"),
            (#"{"format": "rdd-perceptual-weights", "version": 1, "layers": []}"#, "no layers"),
            ("not json", "is not {"),
        ]
        for (text, expected) in bad {
            XCTAssertThrowsError(try parsePerceptualWeights(Data(text.utf8), source: "w.json")) { e in
                let m = String(describing: e)
                XCTAssertTrue(m.hasPrefix("perceptual weights: w.json"), m)
                XCTAssertTrue(m.contains(expected), "\(m) lacks '\(expected)'")
            }
        }
        XCTAssertThrowsError(try loadPerceptualWeights(from: url.appendingPathExtension("missing"))) { e in
            XCTAssertTrue(String(describing: e).contains("cannot read"), "\(e)")
        }
    }
}
