import XCTest
import Foundation
@testable import Sweep
import Pipeline
import RunModel

/// Spec parsing, validation messages, expansion and stage identities (no stage runs here).
final class SpecTests: XCTestCase {
    func parse(_ text: String, file: String = "specs/test.json") throws -> SweepSpec { try SweepSpec.parse(text, file: file) }

    /// All messages of a spec that must fail (at parse or expansion).
    func problems(_ text: String, file: String = "specs/bad.json") -> [String] {
        do {
            let s = try parse(text, file: file)
            _ = try s.expand()
            XCTFail("expected the spec to be rejected")
            return []
        } catch let e as SpecError {
            for m in e.messages { XCTAssertTrue(m.hasPrefix(file), "message names the file: \(m)") }
            return e.messages
        } catch {
            XCTFail("unexpected error \(error)")
            return []
        }
    }

    func assertOne(_ msgs: [String], contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(msgs.contains { m in parts.allSatisfy { m.contains($0) } }, "no message contains \(parts): \(msgs)", file: file, line: line)
    }

    func testSHA256Vectors() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(String(repeating: "a", count: 1000)),
                       "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    /// The streaming hasher (the spec hash is fed trial by trial) equals the one-shot digest whatever the pieces:
    /// lengths around the 55/56/64-byte padding boundaries, pieces of 1, 7, 64 and 100 bytes.
    func testSHA256StreamingEqualsOneShot() {
        for n in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let whole = SHA256.digest(bytes)
            for piece in [1, 7, 64, 100] {
                var h = SHA256.Hasher()
                for start in stride(from: 0, to: n, by: piece) { h.update(bytes[start..<min(n, start + piece)]) }
                XCTAssertEqual(h.finalize(), whole, "\(n) bytes in pieces of \(piece)")
            }
        }
        var h = SHA256.Hasher()
        h.update("a"); h.update("bc")
        XCTAssertEqual(SHA256.hex(digest: h.finalize()), SHA256.hex("abc"))
    }

    func testJSONParserKeepsOrderAndTypes() throws {
        let (v, lines) = try JSONParser.parse("{\n \"b\": 1,\n \"a\": [2.5, \"x\", true, null],\n \"c\": {\"d\": -3}\n}")
        XCTAssertEqual(v.objectPairs?.map(\.0), ["b", "a", "c"])
        XCTAssertEqual(v["b"], .int(1))
        XCTAssertEqual(v["a"], .array([.double(2.5), .string("x"), .bool(true), .null]))
        XCTAssertEqual(lines["a"], 3)
        XCTAssertEqual(lines["c.d"], 4)
        XCTAssertEqual(v.serialized(sortedKeys: true), "{\"a\":[2.5,\"x\",true,null],\"b\":1,\"c\":{\"d\":-3}}")
        XCTAssertThrowsError(try JSONParser.parse("{\"a\": 1, \"a\": 2}"))
        XCTAssertThrowsError(try JSONParser.parse("{\"a\": }")) { e in XCTAssertTrue("\(e)".contains("line 1"), "\(e)") }
    }

    // MARK: validation: each kind of error names file, JSON path and value

    func testUnknownConfigKeyInBaseSuggestsClosest() {
        let m = problems(#"{"name": "t", "preset": "tiny", "base": {"distill": {"alpah": 2}}}"#)
        assertOne(m, contains: ["specs/bad.json:1", "base.distill.alpah", "= 2", "unknown key 'alpah'", "did you mean 'alpha'"])
    }

    func testUnknownAxisPathSuggestsClosest() {
        let m = problems("""
            {"name": "t", "preset": "tiny",
             "grid": {"distill.qeue.size": [64, 128]}}
            """)
        assertOne(m, contains: ["specs/bad.json:2", "grid.distill.qeue.size", "= 64", "unknown key 'distill.qeue'", "did you mean 'distill.queue'"])
        let m2 = problems(#"{"name": "t", "preset": "tiny", "trials": [{"alpha": 2}]}"#)
        assertOne(m2, contains: ["trials[0].alpha", "= 2", "did you mean 'distill.alpha'"])
    }

    func testUnknownTopLevelKeyAndBadPreset() {
        let m = problems(#"{"name": "t", "preset": "tinny", "seed": [0, 1]}"#)
        assertOne(m, contains: ["seed = [0,1]", "unknown top-level key 'seed'", "did you mean 'seeds'"])
        assertOne(m, contains: ["preset = \"tinny\"", "did you mean 'tiny'"])
    }

    func testWrongTypes() {
        let m = problems("""
            {"name": "t", "preset": "tiny",
             "base": {"distill": {"includePD": "yes"}},
             "grid": {"distill.queue.size": [64, 2.5], "distill.method": [3]},
             "seeds": [0, -1]}
            """)
        assertOne(m, contains: ["specs/bad.json:2", "base.distill.includePD", "= \"yes\"", "expected true or false, got a string"])
        assertOne(m, contains: ["specs/bad.json:3", "grid.distill.queue.size[1]", "= 2.5", "non-integer"])
        assertOne(m, contains: ["grid.distill.method[0]", "distill.method = 3", "expected one of pd, pd_perceptual", "got an integer"])
        assertOne(m, contains: ["seeds[1]", "seed = -1", "non-negative integer"])
    }

    func testOutOfRangeValuesPerTrial() {
        let m = problems("""
            {"name": "t", "preset": "tiny", "grid": {"distill.alpha": [1, -0.5]}, "seeds": [0]}
            """)
        assertOne(m, contains: ["specs/bad.json", "trial 1", "distill.alpha=-0.5", "distill.alpha = -0.5", "must be ≥ 0"])
        XCTAssertFalse(m.contains { $0.contains("trial 0") }, "trial 0 is valid: \(m)")
        // A problem every trial shares is reported once.
        let all = problems(#"{"name": "t", "preset": "tiny", "base": {"distill": {"queue": {"contrastSize": 100000}}}, "seeds": [0, 1]}"#)
        XCTAssertEqual(all.count, 1, "\(all)")
        assertOne(all, contains: ["all 2 trials", "distill.queue.contrastSize = 100000"])
    }

    func testStructuralErrors() {
        let zip = problems(#"{"name": "t", "preset": "tiny", "zip": [{"distill.alpha": [1, 2], "distill.beta": [0.1]}]}"#)
        assertOne(zip, contains: ["zip[0].distill.beta", "1 values", "equally long"])
        let twice = problems(#"{"name": "t", "preset": "tiny", "grid": {"seed": [0, 1]}, "seeds": [0]}"#)
        assertOne(twice, contains: ["seed is swept by both grid and seeds"])
        let noName = problems(#"{"preset": "tiny"}"#)
        assertOne(noName, contains: ["missing 'name'"])
        let dupTrials = problems(#"{"name": "t", "preset": "tiny", "trials": [{"distill.method": "pd"}, {"distill.method": "pd"}]}"#)
        assertOne(dupTrials, contains: ["trial 1", "repeats trial 0"])
        let notJSON = problems("{\"name\": \"t\",\n \"preset\": tiny}")
        assertOne(notJSON, contains: ["specs/bad.json:2:", "not valid JSON"])
        let presetInBase = problems(#"{"name": "t", "preset": "tiny", "base": {"preset": "paper"}}"#)
        assertOne(presetInBase, contains: ["base.preset", "top-level 'preset'"])
    }

    // MARK: expansion

    func testGridZipTrialsSeedsExpansion() throws {
        let s = try parse("""
            {"name": "t", "preset": "tiny",
             "base": {"distill": {"beta": 0.5, "queue": {"contrastSize": 32}}},
             "trials": [{"distill.method": "pd"}, {"distill.method": "rdd", "distill.includePD": true}],
             "grid": {"distill.batchSize": [8, 16], "distill.queue.size": [64, 128, 256]},
             "zip": [{"distill.alpha": [1, 2], "distill.tauKD": [0.5, 4]}],
             "seeds": [0, 1]}
            """)
        XCTAssertEqual(s.axisPaths, ["distill.method", "distill.includePD", "distill.batchSize", "distill.queue.size", "distill.alpha", "distill.tauKD", "seed"])
        let t = try s.expand()
        XCTAssertEqual(t.count, 2 * 2 * 3 * 2 * 2)
        XCTAssertEqual(t.map(\.index), Array(0..<48))
        // Nesting: trials slowest, then grid (last key fastest), zip, seeds innermost.
        XCTAssertEqual(t[0].axesSummary, "distill.method=pd distill.batchSize=8 distill.queue.size=64 distill.alpha=1 distill.tauKD=0.5 seed=0")
        XCTAssertEqual(t[1].config.seed, 1)
        XCTAssertEqual(t[2].config.distill.alpha, 2)
        XCTAssertEqual(t[2].config.distill.tauKD, 4)
        XCTAssertEqual(t[4].config.distill.queue.size, 128)
        XCTAssertEqual(t[4].config.distill.queue.contrastSize, 32, "a dotted axis keeps the other queue keys")
        XCTAssertEqual(t[12].config.distill.batchSize, 16)
        XCTAssertEqual(t[24].config.distill.method, .rdd)
        XCTAssertTrue(t[24].config.distill.includePD)
        XCTAssertFalse(t[0].config.distill.includePD)
        XCTAssertTrue(t.allSatisfy { $0.config.distill.beta == 0.5 })
        XCTAssertEqual(Set(t.map(\.key)).count, 48)
        XCTAssertEqual(t[1].key, #"{"distill.alpha":1,"distill.batchSize":8,"distill.method":"pd","distill.queue.size":64,"distill.tauKD":0.5,"seed":1}"#)
        // Object-valued axes merge into the preset's object.
        let o = try parse(#"{"name": "t", "preset": "tiny", "grid": {"distill.queue": [{"size": 64, "contrastSize": 32}]}}"#).expand()
        XCTAssertEqual(o[0].config.distill.queue.size, 64)
        XCTAssertEqual(o[0].config.distill.queue.mode, .officialCode)
    }

    func testSpecHashIgnoresFormattingAndDescription() throws {
        let a = try SweepPlan.make(parse(#"{"name": "t", "preset": "tiny", "grid": {"distill.method": ["pd", "rdd"]}, "seeds": [0]}"#))
        let b = try SweepPlan.make(parse("""
            {"description": "same trials", "seeds": [0], "preset": "tiny",
             "name": "t", "grid": {"distill.method": ["pd", "rdd"]}, "execution": {"checkpointEvery": 5}}
            """))
        XCTAssertEqual(a.specHash, b.specHash)
        let c = try SweepPlan.make(parse(#"{"name": "t", "preset": "tiny", "grid": {"distill.method": ["pd", "rdd"]}, "seeds": [0, 1]}"#))
        XCTAssertNotEqual(a.specHash, c.specHash)
    }

    /// Every example spec in experiments/ parses, validates and expands.
    func testExampleSpecsAreValid() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = repo.appendingPathComponent("experiments").path
        let files = (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertTrue(files.contains("tiny/ablation.json"), "\(files)")
        for f in files {
            let plan = try SweepPlan.make(SweepSpec.load(path: dir + "/" + f))
            XCTAssertFalse(plan.trials.isEmpty, f)
        }
        let ablation = try SweepPlan.make(SweepSpec.load(path: dir + "/tiny/ablation.json"))
        XCTAssertEqual(Set(ablation.trials.map(\.config.distill.method.rawValue)), ["pd", "rcfd", "cfd+ii_p2p", "cfd+is_p2p", "cfd+m_p2p", "rdd"])
        XCTAssertEqual(Set(ablation.trials.map(\.config.seed)).count, 2, "tiny specs use two seeds (scripts/experiments/make_specs.py)")
        XCTAssertTrue(ablation.trials.allSatisfy { $0.config.evaluation.studentSteps == [1] })
        // The reproduction specs (small preset, top level): at least three seeds each.
        for name in ["table1", "table2", "ablation", "fig6", "fig7", "fig8", "fig9"] {
            let plan = try SweepPlan.make(SweepSpec.load(path: dir + "/\(name).json"))
            XCTAssertGreaterThanOrEqual(Set(plan.trials.map(\.config.seed)).count, 3, name)
            XCTAssertTrue(plan.trials.allSatisfy { $0.config.preset == "small" }, name)
        }
    }

    /// The JSON Schema lists exactly the configuration keys the validator knows.
    func testJSONSchemaCoversEveryConfigKey() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOfFile: repo.appendingPathComponent("schemas/sweep-spec.schema.json").path, encoding: .utf8)
        let schema = try JSONParser.parse(text).value
        func paths(_ j: JSON?, _ prefix: String) -> [String] {
            guard let props = j?["properties"]?.objectPairs else { return [] }
            return props.flatMap { k, v in [prefix + k] + paths(v, prefix + k + ".") }
        }
        let fromSchema = Set(paths(schema["$defs"]?["experimentConfig"], ""))
        let fromConfig = Set(KeySchema.of(try ExperimentConfig.defaults(preset: "tiny")).allPaths().filter { $0 != "preset" })
        XCTAssertEqual(fromSchema.subtracting(fromConfig), [], "in the schema but not in ExperimentConfig")
        XCTAssertEqual(fromConfig.subtracting(fromSchema), [], "in ExperimentConfig but not in the schema")
        XCTAssertEqual(Set(schema["properties"]?.objectPairs?.map(\.0) ?? []), Set(SweepSpec.topLevelKeys))
    }

    // MARK: stage identities

    func testStageIdentities() throws {
        let plan = try SweepPlan.make(parse(#"{"name": "t", "preset": "tiny", "grid": {"distill.method": ["pd", "rdd"]}, "seeds": [0, 1]}"#))
        // One classifier, one teacher and one PD chain shared by all four trials.
        let teacher = plan.stages.filter { $0.kind == .teacher }
        XCTAssertEqual(teacher.count, 1)
        XCTAssertEqual(teacher[0].trials, [0, 1, 2, 3])
        XCTAssertEqual(plan.stages.filter { $0.kind == .pd }.count, 7)
        XCTAssertEqual(plan.stages.filter { $0.kind == .classifier }.count, 1)
        XCTAssertEqual(plan.stages.filter { $0.kind == .distill }.count, 4 * 3)
        XCTAssertEqual(plan.stages.filter { $0.kind == .eval }.count, 4)
        // Same configuration, same identity; recomputing gives the same hashes.
        let again = try SweepPlan.make(parse(#"{"name": "other", "preset": "tiny", "trials": [{"distill.method": "rdd", "seed": 1}]}"#))
        let rddSeed1 = plan.links[3]!.map(\.identity)
        XCTAssertEqual(again.links[0]!.map(\.identity), rddSeed1)
        // Any upstream change changes every downstream identity, and nothing upstream of it.
        let changed = try SweepPlan.make(parse(#"{"name": "x", "preset": "tiny", "base": {"pd": {"lr": 1e-4}}, "trials": [{"distill.method": "rdd", "seed": 1}]}"#))
        let a = Dictionary(uniqueKeysWithValues: again.links[0]!.map { ($0.name, $0.identity) })
        let b = Dictionary(uniqueKeysWithValues: changed.links[0]!.map { ($0.name, $0.identity) })
        XCTAssertEqual(a["teacher"], b["teacher"])
        XCTAssertEqual(a["classifier"], b["classifier"])
        for name in a.keys where name != "teacher" && name != "classifier" { XCTAssertNotEqual(a[name], b[name], name) }
        // A change to the teacher changes the PD chain through the input identities only.
        let t2 = try SweepPlan.make(parse(#"{"name": "x", "preset": "tiny", "base": {"teacher": {"steps": 401}}, "trials": [{"distill.method": "rdd", "seed": 1}]}"#))
        let c = Dictionary(uniqueKeysWithValues: t2.links[0]!.map { ($0.name, $0.identity) })
        XCTAssertNotEqual(a["pd512"], c["pd512"])
        XCTAssertEqual(again.stages.first { $0.identity == a["pd512"] }?.config, t2.stages.first { $0.identity == c["pd512"] }?.config,
                       "pd512's own configuration is unchanged; only its input identity differs")
        // The code version is part of the identity.
        let s = plan.stages[0]
        XCTAssertEqual(stageIdentity(kind: s.kind, config: s.config, inputs: s.inputs), s.identity)
        XCTAssertNotEqual(stageIdentity(kind: s.kind, config: s.config, inputs: s.inputs, codeVersion: CodeVersion.string + "+1"), s.identity)
        XCTAssertNotEqual(stageIdentity(kind: .pd, config: "{}", inputs: ["teacher": "a"]), stageIdentity(kind: .pd, config: "{}", inputs: ["teacher": "b"]))
        XCTAssertEqual(s.identity.count, 64)
        // Eval roles name what was measured.
        XCTAssertEqual(plan.links[0]!.filter { $0.name.hasPrefix("eval") }.map(\.role), ["student@1"])
    }
}
