import XCTest
import Foundation
import Pipeline
import RunModel

/// `evaluation.baselines` is validated by Diffusion's sampler registry (docs/samplers.md, "Sampler registry"):
/// the names are the registry's plus `pd`, and a step count is refused where the sampler cannot run it.
final class BaselineValidationTests: XCTestCase {
    func testBaselinesAreCheckedByTheRegistry() throws {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        c.evaluation.baselines = ["ddim:8", "ddim:1024", "dpm_solver:12", "dpm_solver:3", "pndm:10", "pndm:2", "pd:8"]
        XCTAssertEqual(c.validationErrors().filter { $0.hasPrefix("evaluation.baselines") }, [])

        // Each of these passed validation before the registry except ddim:3; the sampler functions stop on a
        // precondition for dpm_solver:2 (order 3 needs 3 time steps) and pndm:1 (no default start index).
        c.evaluation.baselines = ["ddim:3", "dpm_solver:2", "pndm:1", "pndm:1024", "dpm-solver:12"]
        let errors = c.validationErrors().filter { $0.hasPrefix("evaluation.baselines") }
        XCTAssertEqual(errors.count, 5, "\(errors)")
        let expected = ["evaluation.baselines[0] = ddim:3: DDIM on a model with T = 1024 needs a step count dividing 1024",
                        "evaluation.baselines[1] = dpm_solver:2: order 3 needs at least 3 time steps",
                        "evaluation.baselines[2] = pndm:1: the default start index",
                        "evaluation.baselines[3] = pndm:1024: 1024 steps are not whole grid intervals",
                        "evaluation.baselines[4] = dpm-solver:12: must be KIND:STEPS with KIND one of pd, ddim, dpm_solver, pndm"]
        for (e, prefix) in zip(errors, expected) { XCTAssertTrue(e.hasPrefix(prefix), "\(e) does not start with \(prefix)") }
        XCTAssertTrue(errors[4].contains("did you mean 'dpm_solver'"), errors[4])
    }
}
