import XCTest
import Foundation
@testable import Sweep
import RunModel
import Tensor

/// `JSON.decode` decodes a trial's configuration straight from the spec's JSON tree (`JSONValueDecoder`) and asks
/// Foundation only when that declines: whatever the fast path returns must be what Foundation decodes from the
/// serialized text, and every error still comes from Foundation.
final class JSONValueDecoderTests: XCTestCase {
    /// Replaces each leaf with probability 1/`rate`: a number mostly by another of its kind (integers; decimals with
    /// up to 12 significant digits, where a Float read through a Double could round differently; huge and tiny
    /// magnitudes), now and then by a value of another type, null, or a number out of range, so both the accepted
    /// and the declined paths run.
    static func mutate(_ j: JSON, _ r: inout RNG, rate: Int) -> JSON {
        switch j {
        case .object(let kv): return .object(kv.map { ($0.0, mutate($0.1, &r, rate: rate)) })
        case .array(let a): return .array(a.map { mutate($0, &r, rate: rate) })
        default:
            guard r.int(below: rate) == 0 else { return j }
            switch (j, r.int(below: 12)) {
            case (.int, 0...5): return .int(Int64(r.int(below: 1 << 24)))
            case (.double, 0...5): return .double(Double(r.int(below: 1 << 40)) / pow(10, Double(r.int(below: 12))))
            case (_, 6): return .double(Double(Int64(r.int(below: 1 << 52))) * pow(10, Double(r.int(below: 80)) - 40))
            case (_, 7): return .int(Int64(bitPattern: r.next()))
            case (_, 8): return .string(["rdd", "pd", "ddim", "shared", "x/y", "paper", "official-code"][r.int(below: 7)])
            case (_, 9): return [.bool(r.int(below: 2) == 0), .null, .double(1e39)][r.int(below: 3)]
            case (_, 10): return .double(Double(r.int(below: 1000)))                 // integral: serialized as an integer
            default: return .double(Double(Float(bitPattern: UInt32(truncatingIfNeeded: r.next()) & 0x7F7F_FFFF)))
            }
        }
    }

    func testFastDecodingEqualsFoundationOrDeclines() throws {
        var r = RNG(seed: 2929)   // a fixed seed, so a failure reproduces
        var fast = 0, declined = 0
        for i in 0..<400 {
            var c = try ExperimentConfig.defaults(preset: ["tiny", "small", "paper"][i % 3])
            if i % 2 == 1 { c.evaluation.metrics.append(.fidEvaluator); c.replicate = .chain; c.dataRoot = "/data/c10" }
            var j = try JSON.encode(c)
            j.set(["evaluator"], try JSON.encode(c.evaluator))
            if i >= 20 { j = Self.mutate(j, &r, rate: 20 + r.int(below: 200)) }   // the first 20 unmutated: the common case must take the fast path
            let reference = Result { try JSONDecoder().decode(ExperimentConfig.self, from: Data(j.serialized().utf8)) }
            if let v = try? JSONValueDecoder.decode(ExperimentConfig.self, from: j) {
                fast += 1
                XCTAssertEqual(v, try reference.get(), "case \(i): the fast path decoded what Foundation decodes differently or refuses")
                XCTAssertEqual(canonicalJSON(v), canonicalJSON(try reference.get()))
            } else {
                declined += 1
            }
            // Through `JSON.decode`: Foundation's value, or Foundation's error.
            switch reference {
            case .success(let v): XCTAssertEqual(try j.decode(ExperimentConfig.self), v)
            case .failure(let e): XCTAssertThrowsError(try j.decode(ExperimentConfig.self)) { XCTAssertEqual("\($0)", "\(e)") }
            }
            if i < 20 { XCTAssertEqual(fast, i + 1, "unmutated configuration \(i) was declined") }
        }
        XCTAssertGreaterThan(fast, 20)
        XCTAssertGreaterThan(declined, 20)
    }
}
