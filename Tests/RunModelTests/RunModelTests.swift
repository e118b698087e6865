import XCTest
import RunModel

/// The run model's contracts: one decoder per stage, typed names that round-trip, stage settings narrowed so
/// trials share what they agree on, and enum labels that read as their JSON values.
final class RunModelTests: XCTestCase {
    func config(_ preset: String = "tiny", _ edit: (inout ExperimentConfig) -> Void = { _ in }) throws -> ExperimentConfig {
        var c = try ExperimentConfig.defaults(preset: preset)
        c.evaluation.baselines = try ["ddim:8", "pd:8", "dpm_solver:12", "pndm:10"].map(Baseline.init(parsing:))
        c.evaluation.studentSteps = [1, 2, 4]
        c.evaluation.metrics = [.fidClassifier, .fidEvaluator]
        edit(&c)
        return c
    }

    /// Every node's settings survive the trip through their canonical JSON (what workers receive), and every
    /// node's inputs are planned nodes of the same trial, under unique names.
    func testStageSettingsAndNamesRoundTrip() throws {
        for preset in ["tiny", "small", "paper"] {
            for method in DistillMethod.allCases {
                let nodes = StagePlan.plan(try config(preset) { $0.distill.method = method })
                XCTAssertEqual(nodes.filter { $0.kind == .distill }.count, 3, "\(preset) \(method): 8→4→2→1")
                for n in nodes {
                    XCTAssertEqual(try StageSettings.decode(kind: n.kind, json: n.config), n.settings, "\(n.name)")
                    for src in n.inputs.values { XCTAssertTrue(nodes.contains { $0.name == src }, "\(n.name) reads \(src), which is planned") }
                }
                XCTAssertEqual(Set(nodes.map(\.name)).count, nodes.count, "names are unique within a trial")
            }
        }
    }

    /// A distillation stage receives the trial's `distill` whole, narrowed to that stage: its τ_CFD and step count,
    /// `from` = T and `to` = T/2. Trials that differ only in a later stage's values share the earlier stages.
    func testDistillStageReceivesItsSettingsWhole() throws {
        let c = try config { $0.distill.tauCFD = [0.9, 1.0, 0.85]; $0.distill.steps = [5, 6, 7]; $0.distill.tauIS = 0.25 }
        let stages = StagePlan.plan(c).compactMap { n -> DistillStageConfig? in if case .distill(let d) = n.settings { return d }; return nil }
        XCTAssertEqual(stages.map(\.teacherSteps), [8, 4, 2])
        XCTAssertEqual(stages.map(\.steps), [5, 6, 7])
        XCTAssertEqual(stages.map { $0.settings.tauCFD }, [[0.9], [1.0], [0.85]])
        for s in stages {
            var expected = c.distill
            expected.from = s.teacherSteps; expected.to = s.teacherSteps / 2
            expected.tauCFD = s.settings.tauCFD; expected.steps = s.settings.steps
            XCTAssertEqual(s.settings, expected, "every other field is the trial's own")
            XCTAssertEqual(s.settings.tauIS, 0.25)
        }
        // Another 2→1 τ and step count, and a stop at 4 steps: the 8→4 stage is the same stage.
        let other = try config { $0.distill.tauCFD = [0.9, 1.0, 0.5]; $0.distill.steps = [5, 6, 9]; $0.distill.tauIS = 0.25 }
        let first = { (c: ExperimentConfig) in StagePlan.plan(c).first { $0.kind == .distill }!.config }
        XCTAssertEqual(first(c), first(other))
        XCTAssertNotEqual(StagePlan.plan(c).last { $0.kind == .distill }!.config, StagePlan.plan(other).last { $0.kind == .distill }!.config)
    }

    /// Baselines plan the sampler the registry names, on the model the baseline names.
    func testBaselinesAndSamplers() throws {
        let nodes = StagePlan.plan(try config())
        func eval(_ name: String) -> (EvalStageConfig, StageName?)? {
            guard let n = nodes.first(where: { $0.name.description == name }), case .eval(let e) = n.settings else { return nil }
            return (e, n.inputs["model"])
        }
        XCTAssertEqual(eval("eval-ddim-8")?.0.sampler, .ddim)
        XCTAssertEqual(eval("eval-ddim-8")?.1, .teacher)
        XCTAssertEqual(eval("eval-pd-8")?.0.sampler, .ddim)
        XCTAssertEqual(eval("eval-pd-8")?.1, .pd(steps: 8))
        XCTAssertEqual(eval("eval-dpm_solver-12")?.0.sampler, .dpmSolver)
        XCTAssertEqual(eval("eval-pndm-10")?.0.sampler, .pndm)
        XCTAssertEqual(eval("eval-rdd-2")?.1, .distill(method: .rdd, steps: 2))
        XCTAssertEqual(BaselineSampler.allCases, [.pd] + SamplerKind.allCases.map { .sampler($0) })
    }

    /// Labels and messages show an enum's JSON value ("dpm_solver"), not its Swift case name ("dpmSolver").
    func testEnumsReadAsTheirJSONValues() {
        XCTAssertEqual("\(SamplerKind.dpmSolver)", "dpm_solver")
        XCTAssertEqual("\(DistillMethod.cfdISM)", "cfd+is_p2p+m_p2p")
        XCTAssertEqual("\(EvaluationMetric.fidInception)", "fid_inception")
        XCTAssertEqual("\(PixelQueueMode.officialCode)", "official-code")
        XCTAssertEqual(SamplerKind.validNames, ["ddim", "dpm_solver", "pndm"])
        let e = ConfigValueError(field: "distillation method", value: "rddd", valid: DistillMethod.validNames)
        XCTAssertTrue(e.description.contains("did you mean 'rdd'?"), e.description)
    }

    /// `evaluation.baselines` holds `Baseline`s, decoded once from "KIND:STEPS" and encoded back to the same strings (so
    /// canonical JSON and stage identities are those of the string field it replaced); a malformed string is refused
    /// when decoded, saying what is wrong (with "did you mean"), at its JSON path.
    func testBaselinesDecodeOnceAndEncodeAsTheirStrings() throws {
        let c = try config()
        XCTAssertEqual(c.evaluation.baselines.map(\.description), ["ddim:8", "pd:8", "dpm_solver:12", "pndm:10"])
        XCTAssertEqual(c.evaluation.baselines[1], Baseline(.pd, steps: 8))
        XCTAssertEqual(c.evaluation.baselines[2], Baseline(.sampler(.dpmSolver), steps: 12))
        let json = canonicalJSON(c)
        XCTAssertTrue(json.contains(#""baselines":["ddim:8","pd:8","dpm_solver:12","pndm:10"]"#), json)
        let back = try JSONDecoder().decode(ExperimentConfig.self, from: Data(json.utf8))
        XCTAssertEqual(back, c)
        XCTAssertEqual(canonicalJSON(back), json)
        XCTAssertNil(Baseline.problem("pd:8"))

        let refused: [(String, String)] = [
            ("dpm-solver:12", "unknown sampler 'dpm-solver': must be one of pd, ddim, dpm_solver, pndm; did you mean 'dpm_solver'?"),
            ("ddmi:8", "did you mean 'ddim'?"),
            ("ddim", "must be KIND:STEPS with KIND one of pd, ddim, dpm_solver, pndm (e.g. ddim:8, pd:8)"),
            ("ddim:8:2", "must be KIND:STEPS"),
            ("ddim:eight", "STEPS 'eight' must be an integer"),
            ("ddim:08", "STEPS '08' must be an integer written in plain digits"),
            ("ddim:", "STEPS ''"),
        ]
        for (text, fragment) in refused {
            XCTAssertThrowsError(try Baseline(parsing: text), text) { XCTAssertTrue("\($0)".contains(fragment), "\(text): \($0)") }
            XCTAssertEqual(Baseline.problem(text)?.contains(fragment), true, text)
            let bad = json.replacingOccurrences(of: #""pd:8""#, with: "\"\(text)\"")
            XCTAssertThrowsError(try JSONDecoder().decode(ExperimentConfig.self, from: Data(bad.utf8)), text) { e in
                guard case DecodingError.dataCorrupted(let ctx) = e else { return XCTFail("\(text): \(e)") }
                XCTAssertEqual(ctx.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }, ["evaluation", "baselines", "1"], text)
                XCTAssertTrue(ctx.debugDescription.contains("\"\(text)\": ") && ctx.debugDescription.contains(fragment), ctx.debugDescription)
            }
        }
    }

    /// Measurements (timings, memory) are told apart from computed series in one place: the identity tests leave them
    /// out, and the status line, the dashboard and the learning curves show only the loss and its terms.
    func testMeasuredSeriesAreNamedOnce() {
        XCTAssertEqual(SeriesName.measurements, ["seconds_per_step", "seconds_per_image", "memory/loss_peak_bytes"])
        for name in ["total", "loss", "cfd", "is_p2p", "m_p2p", "test_accuracy"] { XCTAssertTrue(SeriesName.isLoss(name), name) }
        for name in ["lr", "grad_norm", "seconds_per_step", "seconds_per_image", "memory/loss_peak_bytes", "queue/refills", "diag/cfd/share"] {
            XCTAssertFalse(SeriesName.isLoss(name), name)
        }
        XCTAssertTrue(SeriesName.isComputed(SeriesName.queueRefills), "the refill count is computed: it reproduces")
        XCTAssertFalse(SeriesName.isComputed(SeriesName.lossPeakBytes))
    }

    /// The paper preset's objective is the paper's (spec §4): the one place these defaults live.
    func testPaperObjectiveDefaults() throws {
        let d = try ExperimentConfig.defaults(preset: "paper").distill
        XCTAssertEqual(d, DistillSettings.paper)
        XCTAssertEqual([d.alpha, d.beta, d.tauIS, d.tauContrast, d.tauKD], [1, 0.1, 1, 0.1, 1])
        XCTAssertEqual(d.tauCFD, [0.9, 1.0, 0.85])
        XCTAssertEqual([d.queue.size, d.queue.contrastSize, d.queue.updateCount], [20000, 4096, 128])
    }
}
