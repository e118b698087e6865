import XCTest
import Foundation
import Pipeline
import RunModel

/// `evaluation.baselines` is validated by Diffusion's sampler registry (docs/samplers.md, "Sampler registry"):
/// the names are the registry's plus `pd` (checked when a baseline is decoded: RunModelTests), and a step count is
/// refused where the sampler cannot run it.
final class BaselineValidationTests: XCTestCase {
    func testBaselinesAreCheckedByTheRegistry() throws {
        var c = try ExperimentConfig.defaults(preset: "tiny")
        c.evaluation.baselines = try ["ddim:8", "ddim:1024", "dpm_solver:12", "dpm_solver:3", "pndm:10", "pndm:2", "pd:8"].map(Baseline.init(parsing:))
        XCTAssertEqual(c.validationErrors().filter { $0.hasPrefix("evaluation.baselines") }, [])

        // Each of these passed validation before the registry except ddim:3; the sampler functions stop on a
        // precondition for dpm_solver:2 (order 3 needs 3 time steps) and pndm:1 (no default start index).
        c.evaluation.baselines = try ["ddim:3", "dpm_solver:2", "pndm:1", "pndm:1024", "pd:4", "pd:1024"].map(Baseline.init(parsing:))
        let errors = c.validationErrors().filter { $0.hasPrefix("evaluation.baselines") }
        XCTAssertEqual(errors.count, 6, "\(errors)")
        let expected = ["evaluation.baselines[0] = ddim:3: DDIM on a model with T = 1024 needs a step count dividing 1024",
                        "evaluation.baselines[1] = dpm_solver:2: order 3 needs at least 3 time steps",
                        "evaluation.baselines[2] = pndm:1: the default start index",
                        "evaluation.baselines[3] = pndm:1024: 1024 steps are not whole grid intervals",
                        "evaluation.baselines[4] = pd:4: a PD model exists only for powers of two from pd.downTo = 8 to 512",
                        "evaluation.baselines[5] = pd:1024: a PD model exists only for powers of two from pd.downTo = 8 to 512"]
        for (e, prefix) in zip(errors, expected) { XCTAssertTrue(e.hasPrefix(prefix), "\(e) does not start with \(prefix)") }
    }
}
