import Tensor
import RunModel

// The samplers an evaluation can run, behind one protocol and one registry (docs/samplers.md, "Sampler
// registry"). Evaluation dispatches through it, configuration validation asks it which step counts a sampler
// can run, and reports take its display names, so a sampler's name is written down once: its `SamplerKind` case.

/// The registry: each `SamplerKind` (RunModel: the names configurations, stage names and records hold) to its
/// implementation. Adding a sampler is a type conforming to `Sampler` (its own file), a case of `SamplerKind` and
/// its line here; the compiler finds every switch.
extension SamplerKind {
    /// The implementation of this sampler.
    public var sampler: any Sampler {
        switch self {
        case .ddim: return DDIMSampler()
        case .dpmSolver: return DPMSolverSampler()
        case .pndm: return PNDMSampler()
        }
    }

    /// The sampler of a name, or an error that lists the valid names.
    public init(parsing name: String) throws {
        guard let k = SamplerKind(rawValue: name) else { throw SamplerError.unknownSampler(name) }
        self = k
    }
}

/// A sampler as evaluation runs it: from noise x_T to images, with the settings the harness evaluates with
/// (each conformer's doc comment names them and where they come from).
public protocol Sampler: Sendable {
    var kind: SamplerKind { get }
    /// Why `steps` cannot be run on a model whose step grid has T = `modelSteps` steps (1024 for a base model,
    /// T of a PD student), or nil when it can. Validation calls this before any stage runs, so a bad
    /// "KIND:STEPS" fails at `plan` instead of in a worker.
    func stepsProblem(steps: Int, modelSteps: Int) -> String?
    /// Network evaluations per image for `steps` on a model with T = `modelSteps` (valid steps only).
    func numberOfModelEvaluations(steps: Int, modelSteps: Int) -> Int
    /// Samples from `xT` (B, H, W, C) with `steps` steps on a model with step grid `grid`; `labels` for a
    /// class-conditional model. Throws `SamplerError.invalidSteps` where `stepsProblem` would say why.
    func sample(model: Denoiser, steps: Int, grid: StepGrid, xT: Tensor, labels: [Int]?) throws -> SamplerResult
}

extension Sampler {
    /// Throws what `stepsProblem` says, if anything.
    func checkSteps(_ steps: Int, modelSteps: Int) throws {
        if let p = stepsProblem(steps: steps, modelSteps: modelSteps) {
            throw SamplerError.invalidSteps(sampler: kind, steps: steps, problem: p)
        }
    }
}

/// A sampler that cannot run as asked.
public enum SamplerError: Error, CustomStringConvertible, Equatable {
    case unknownSampler(String)
    case invalidSteps(sampler: SamplerKind, steps: Int, problem: String)

    public var description: String {
        switch self {
        case .unknownSampler(let name):
            return "unknown sampler '\(name)'; available: \(SamplerKind.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .invalidSteps(sampler, steps, problem):
            return "\(sampler.displayName) cannot run \(steps) steps: \(problem)"
        }
    }
}

/// DDIM (spec §1.7, `ddimSample`) on the model's own grid: `steps` must divide T, stride T/steps; NFE = steps.
public struct DDIMSampler: Sampler {
    public init() {}
    public var kind: SamplerKind { .ddim }

    public func stepsProblem(steps: Int, modelSteps: Int) -> String? {
        steps >= 1 && modelSteps % steps == 0 ? nil : "DDIM on a model with T = \(modelSteps) needs a step count dividing \(modelSteps) (the stride T/steps)"
    }

    public func numberOfModelEvaluations(steps: Int, modelSteps: Int) -> Int { steps }

    public func sample(model: Denoiser, steps: Int, grid: StepGrid, xT: Tensor, labels: [Int]?) throws -> SamplerResult {
        try checkSteps(steps, modelSteps: grid.steps)
        return ddimSample(model: model, indices: try grid.samplingIndices(stride: grid.steps / steps), xT: xT, labels: labels)
    }
}

/// DPM-Solver++ as the evaluation runs it: the official DPM-Solver examples for CIFAR-10 / cosine ImageNet-64,
/// multistep order 3, steps uniform in logSNR from the λ = −5.1 cut-off (index 1019 here), data prediction
/// (`dpmSolverSample`'s defaults; docs/samplers.md "Defaults"). On the continuous 1025-level grid whatever the
/// model's T. NFE = the time steps after rounding to the grid, which must be at least the order (3).
public struct DPMSolverSampler: Sampler {
    public init() {}
    public var kind: SamplerKind { .dpmSolver }
    /// The multistep order the evaluation runs.
    public static let order = 3

    public func stepsProblem(steps: Int, modelSteps: Int) -> String? {
        guard (1...CosineSchedule.maxIndex).contains(steps) else { return "the step count must be in 1…\(CosineSchedule.maxIndex)" }
        let nfe = dpmSolverNumberOfModelEvaluations(steps: steps)
        return nfe >= Self.order ? nil : "order \(Self.order) needs at least \(Self.order) time steps, \(steps) give \(nfe)"
    }

    public func numberOfModelEvaluations(steps: Int, modelSteps: Int) -> Int { dpmSolverNumberOfModelEvaluations(steps: steps) }

    public func sample(model: Denoiser, steps: Int, grid: StepGrid, xT: Tensor, labels: [Int]?) throws -> SamplerResult {
        try checkSteps(steps, modelSteps: grid.steps)
        return dpmSolverSample(model: model, steps: steps, order: Self.order, xT: xT, labels: labels, skipType: .logSNR,
                               startIndex: dpmSolverLambdaClipStartIndex())
    }
}

/// F-PNDM as in the authors' code (`pndmSample`'s defaults): `steps` transfers from
/// `pndmDefaultStartIndex(steps:)` down to 0 (the Runge–Kutta warm-up makes 19 network calls for 10 steps).
/// On the continuous 1025-level grid whatever the model's T. The start index needs steps ≥ 2, and the steps
/// must be whole grid intervals (start ≥ steps, so 2…1023).
public struct PNDMSampler: Sampler {
    public init() {}
    public var kind: SamplerKind { .pndm }

    public func stepsProblem(steps: Int, modelSteps: Int) -> String? {
        guard steps >= 2 else { return "the default start index (k = 1024·(steps − 1)/steps) needs at least 2 steps" }
        let start = pndmDefaultStartIndex(steps: steps)
        return start >= steps ? nil : "\(steps) steps are not whole grid intervals between the start index \(start) and 0 (at most 1023 steps)"
    }

    public func numberOfModelEvaluations(steps: Int, modelSteps: Int) -> Int { pndmNumberOfModelEvaluations(steps: steps) }

    public func sample(model: Denoiser, steps: Int, grid: StepGrid, xT: Tensor, labels: [Int]?) throws -> SamplerResult {
        try checkSteps(steps, modelSteps: grid.steps)
        return pndmSample(model: model, steps: steps, xT: xT, labels: labels)
    }
}
