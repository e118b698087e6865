import XCTest
import RunModel

/// The run model's contracts: one decoder per stage, typed names that round-trip, stage settings narrowed so
/// trials share what they agree on, and enum labels that read as their JSON values.
final class RunModelTests: XCTestCase {
    func config(_ preset: String = "tiny", _ edit: (inout ExperimentConfig) -> Void = { _ in }) throws -> ExperimentConfig {
        var c = try ExperimentConfig.defaults(preset: preset)
        c.evaluation.baselines = ["ddim:8", "pd:8", "dpm_solver:12", "pndm:10"]
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

    /// The paper preset's objective is the paper's (spec §4): the one place these defaults live.
    func testPaperObjectiveDefaults() throws {
        let d = try ExperimentConfig.defaults(preset: "paper").distill
        XCTAssertEqual(d, DistillSettings.paper)
        XCTAssertEqual([d.alpha, d.beta, d.tauIS, d.tauContrast, d.tauKD], [1, 0.1, 1, 0.1, 1])
        XCTAssertEqual(d.tauCFD, [0.9, 1.0, 0.85])
        XCTAssertEqual([d.queue.size, d.queue.contrastSize, d.queue.updateCount], [20000, 4096, 128])
    }
}
