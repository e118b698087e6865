import Foundation
import Diffusion
import RunModel

extension ExperimentConfig {
    /// Every problem with the configuration, each naming its JSON path and value (empty when valid), with the
    /// baselines' step counts checked by Diffusion's sampler registry.
    public func validationErrors() -> [String] {
        validationErrors(samplerStepsProblem: { kind, steps, modelSteps in kind.sampler.stepsProblem(steps: steps, modelSteps: modelSteps) })
    }
}
