import XCTest
import Tensor
@testable import Diffusion
import RunModel

/// The sampler registry (docs/samplers.md, "Sampler registry"): names, dispatch, the uniform result, and the
/// step counts validation accepts being exactly those the samplers run.
final class SamplerRegistryTests: XCTestCase {
    /// The raw values are in configurations, stage names and result records: they must not change.
    func testNamesAreTheConfigurationValues() throws {
        XCTAssertEqual(SamplerKind.allCases.map(\.rawValue), ["ddim", "dpm_solver", "pndm"])
        XCTAssertEqual(SamplerKind.allCases.map(\.displayName), ["DDIM", "DPM-Solver", "PNDM"])
        for k in SamplerKind.allCases { XCTAssertEqual(k.sampler.kind, k, "the registry maps \(k) to its own sampler") }
        XCTAssertEqual(try SamplerKind(parsing: "dpm_solver"), .dpmSolver)
        XCTAssertThrowsError(try SamplerKind(parsing: "dpm-solver")) { e in
            XCTAssertEqual("\(e)", "unknown sampler 'dpm-solver'; available: ddim, dpm_solver, pndm")
        }
    }

    /// Through the protocol each sampler gives bit for bit what its function gives with the evaluation's
    /// settings (DDIM: stride T/steps; DPM-Solver++: order 3, logSNR from 1019; F-PNDM), and the NFE it predicts.
    func testDispatchEqualsTheSamplerFunctions() throws {
        var rng = RNG(seed: 11)
        let xT = Tensor.randn([16, 1, 1, 1], rng: &rng)
        let grid = try StepGrid(steps: 1024)
        func run(_ kind: SamplerKind, _ steps: Int) throws -> (SamplerResult, [Int]) {
            let g = SamplerTests.Gaussian(mu: 0.1, s: 0.2)
            let r = try kind.sampler.sample(model: g.denoiser, steps: steps, grid: grid, xT: xT, labels: nil)
            return (r, g.calls)
        }
        let (ddim, ddimCalls) = try run(.ddim, 8)
        let direct = ddimSample(model: SamplerTests.Gaussian(mu: 0.1, s: 0.2).denoiser, indices: try grid.samplingIndices(stride: 128), xT: xT)
        XCTAssertEqual(ddim.sample.array, direct.sample.array)
        XCTAssertEqual(ddim.indices, [1024, 896, 768, 640, 512, 384, 256, 128, 0])
        XCTAssertEqual(ddim.modelIndices, ddimCalls)
        XCTAssertEqual(ddim.numberOfModelEvaluations, 8)

        let (dpm, dpmCalls) = try run(.dpmSolver, 12)
        let dpmDirect = dpmSolverSample(model: SamplerTests.Gaussian(mu: 0.1, s: 0.2).denoiser, steps: 12, order: 3, xT: xT,
                                        skipType: .logSNR, startIndex: 1019)
        XCTAssertEqual(dpm.sample.array, dpmDirect.sample.array)
        XCTAssertEqual(dpm.modelIndices, dpmCalls)

        let (pndm, pndmCalls) = try run(.pndm, 10)
        XCTAssertEqual(pndm.sample.array, pndmSample(model: SamplerTests.Gaussian(mu: 0.1, s: 0.2).denoiser, steps: 10, xT: xT).sample.array)
        XCTAssertEqual(pndm.modelIndices, pndmCalls)

        // NFE as predicted without sampling (docs/samplers.md "NFE per sampler": 8, 12, 19).
        for (kind, steps, r, nfe) in [(SamplerKind.ddim, 8, ddim, 8), (.dpmSolver, 12, dpm, 12), (.pndm, 10, pndm, 19)] {
            XCTAssertEqual(r.numberOfModelEvaluations, nfe, "\(kind)")
            XCTAssertEqual(kind.sampler.numberOfModelEvaluations(steps: steps, modelSteps: 1024), nfe, "\(kind)")
        }
    }

    /// What `stepsProblem` accepts runs (the samplers' preconditions would stop the test otherwise), and what it
    /// refuses would not: DDIM needs steps dividing T; DPM-Solver++ of order 3 at least 3 time steps after
    /// rounding; PNDM a default start index (≥ 2 steps) with whole grid intervals below it (≤ 1023 steps).
    func testValidStepCountsAreExactlyTheRunnableOnes() throws {
        let ddim = SamplerKind.ddim.sampler, dpm = SamplerKind.dpmSolver.sampler, pndm = SamplerKind.pndm.sampler
        XCTAssertNil(ddim.stepsProblem(steps: 8, modelSteps: 1024))
        XCTAssertNil(ddim.stepsProblem(steps: 2, modelSteps: 4), "a PD student with T = 4")
        XCTAssertNotNil(ddim.stepsProblem(steps: 3, modelSteps: 1024))
        XCTAssertNotNil(ddim.stepsProblem(steps: 8, modelSteps: 4), "more steps than the student's grid")
        XCTAssertNotNil(ddim.stepsProblem(steps: 0, modelSteps: 1024))
        XCTAssertThrowsError(try ddim.sample(model: { z, _, _ in z }, steps: 3, grid: try StepGrid(steps: 1024), xT: Tensor(zeros: [1, 1, 1, 1]), labels: nil)) { e in
            XCTAssertEqual(e as? SamplerError, .invalidSteps(sampler: .ddim, steps: 3, problem: ddim.stepsProblem(steps: 3, modelSteps: 1024)!))
        }
        // DPM-Solver's time steps cost O(steps) each: the small counts where order 3 decides, and the top of the range.
        for steps in Array(0...40) + [300, 1023, 1024, 1025] {
            let dpmOK = dpm.stepsProblem(steps: steps, modelSteps: 1024) == nil
            XCTAssertEqual(dpmOK, (1...1024).contains(steps) && dpmSolverTimeSteps(steps: steps).count - 1 >= 3, "dpm_solver:\(steps)")
            if dpmOK { XCTAssertGreaterThanOrEqual(steps, 3) }
        }
        for steps in 0...1025 {
            let pndmOK = pndm.stepsProblem(steps: steps, modelSteps: 1024) == nil
            XCTAssertEqual(pndmOK, (2...1023).contains(steps), "pndm:\(steps)")
            if pndmOK { XCTAssertEqual(pndmIndices(steps: steps).count, steps + 1, "pndm:\(steps) runs") }
        }
        XCTAssertNotNil(dpm.stepsProblem(steps: 2, modelSteps: 1024), "order 3 with 2 steps")
        XCTAssertNil(dpm.stepsProblem(steps: 3, modelSteps: 1024))
    }
}
