import Foundation
import Tensor

// DPM-Solver++ multistep (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion
// Probabilistic Models"), data-prediction form, on the discrete cosine schedule of spec §1.1 with the
// x-prediction network of §1.3. Follows the official `dpm_solver_pytorch.py` (`DPM_Solver.sample` with
// method='multistep', algorithm_type='dpmsolver++', solver_type='dpmsolver'); see docs/samplers.md.

/// How the solver's time steps are spaced (`skip_type` of the official code).
public enum DPMSolverSkipType: String, Sendable, CaseIterable {
    /// Uniform in the official continuous time t, i.e. uniform in the grid index (the official signature default;
    /// not the default here, see `dpmSolverSample`).
    case timeUniform = "time_uniform"
    /// Uniform in λ = log(α/σ) (the official "logSNR", recommended there for low-resolution images).
    case logSNR = "logSNR"
    /// Uniform in √t (the official "time_quadratic", DDIM's low-resolution spacing).
    case timeQuadratic = "time_quadratic"
}

/// λ_k = log α_k − log σ_k (half the log-SNR; Float64 tables of spec §1.1).
public func dpmSolverLambda(_ k: Int, schedule: CosineSchedule = .shared) -> Double {
    precondition((0...CosineSchedule.maxIndex).contains(k), "dpmSolverLambda: index \(k) outside 0...1024")
    return DetMath.log(schedule.alphas[k]) - DetMath.log(schedule.sigmas[k])
}

/// The official discrete wrapper's continuous time of grid index k: t_k = (k + 1)/N with N = 1025 levels.
public func dpmSolverContinuousTime(ofIndex k: Int) -> Double {
    Double(k + 1) / Double(CosineSchedule.levels)
}

/// The grid index of a continuous time: the official model input (t − 1/N)·N (the official code writes
/// ·1000 for 1000-level models), rounded to the nearest integer index (halves away from zero).
public func dpmSolverIndex(ofContinuousTime t: Double) -> Int {
    let k = nearestIndex((t - 1 / Double(CosineSchedule.levels)) * Double(CosineSchedule.levels))
    return min(max(k, 0), CosineSchedule.maxIndex)
}

/// The official `NoiseScheduleVP.inverse_lambda` for a discrete schedule: the continuous time whose
/// log α, linearly interpolated in t between grid points, equals −½·log(1 + e^{−2λ}).
public func dpmSolverInverseLambda(_ lambda: Double, schedule: CosineSchedule = .shared) -> Double {
    // log α as a function of λ (logaddexp(0, −2λ) evaluated stably).
    let m = -2 * lambda
    let logAlpha = -0.5 * (max(0, m) + DetMath.log1p(DetMath.exp(-abs(m))))
    let logAlphas = schedule.alphas.map { DetMath.log($0) }            // decreasing in k
    let n = logAlphas.count
    if logAlpha >= logAlphas[0] { return dpmSolverContinuousTime(ofIndex: 0) }
    if logAlpha <= logAlphas[n - 1] { return dpmSolverContinuousTime(ofIndex: n - 1) }
    var lo = 0, hi = n - 1                                      // logAlphas[lo] > logAlpha ≥ logAlphas[hi]
    while hi - lo > 1 {
        let mid = (lo + hi) / 2
        if logAlphas[mid] > logAlpha { lo = mid } else { hi = mid }
    }
    let w = (logAlphas[lo] - logAlpha) / (logAlphas[lo] - logAlphas[hi])
    return dpmSolverContinuousTime(ofIndex: lo) + w * (dpmSolverContinuousTime(ofIndex: hi) - dpmSolverContinuousTime(ofIndex: lo))
}

/// The start index the official `NoiseScheduleVP('discrete')` would use on this schedule: it drops the tail
/// of the table where λ < −5.1 (`numerical_clip_alpha`, a fix for cosine schedules), so its T = 1 is the
/// largest index with λ ≥ −5.1. On the 1025-level cosine grid that is 1019 (λ_1020 = −5.102).
public func dpmSolverLambdaClipStartIndex(clippedLambda: Double = -5.1, schedule: CosineSchedule = .shared) -> Int {
    var k = CosineSchedule.maxIndex
    while k > 0 && dpmSolverLambda(k, schedule: schedule) < clippedLambda { k -= 1 }
    return k
}

/// The solver's time steps as grid indices (`get_time_steps`, then mapped to the grid):
///
/// - the official continuous interval is t_T = (start + 1)/1025 → t_0 = (end + 1)/1025 (for the defaults,
///   t_T = 1 and t_0 = 1/N exactly as the official discrete wrapper);
/// - `steps + 1` continuous times are spaced as `skipType` says, each is mapped to the nearest grid index
///   with `dpmSolverIndex(ofContinuousTime:)`, the ends are pinned to `start` and `end`;
/// - repeats created by rounding are dropped, so the result is strictly decreasing and may have fewer than
///   `steps + 1` entries (only `.logSNR` near index 1024 does this on this grid).
///
/// The defaults are those of `dpmSolverSample`. Default with 12 steps (logSNR from 1019):
/// [1019, 1013, 998, 964, 889, 731, 478, 241, 105, 41, 14, 3, 0]. Time-uniform from 1024 with 12 steps:
/// [1024, 939, 853, 768, 683, 597, 512, 427, 341, 256, 171, 85, 0].
public func dpmSolverTimeSteps(steps: Int, skipType: DPMSolverSkipType = .logSNR,
                               startIndex: Int = dpmSolverLambdaClipStartIndex(), endIndex: Int = 0,
                               schedule: CosineSchedule = .shared) -> [Int] {
    precondition(steps >= 1, "dpmSolverTimeSteps: steps must be ≥ 1, got \(steps)")
    precondition(0 <= endIndex && endIndex < startIndex && startIndex <= CosineSchedule.maxIndex,
                 "dpmSolverTimeSteps: need 0 ≤ end < start ≤ 1024, got start \(startIndex), end \(endIndex)")
    let tT = dpmSolverContinuousTime(ofIndex: startIndex), t0 = dpmSolverContinuousTime(ofIndex: endIndex)
    func linspace(_ a: Double, _ b: Double) -> [Double] {
        (0...steps).map { i in a + (b - a) * Double(i) / Double(steps) }
    }
    let times: [Double]
    switch skipType {
    case .timeUniform:
        times = linspace(tT, t0)
    case .logSNR:
        times = linspace(dpmSolverLambda(startIndex, schedule: schedule), dpmSolverLambda(endIndex, schedule: schedule))
            .map { dpmSolverInverseLambda($0, schedule: schedule) }
    case .timeQuadratic:
        times = linspace(tT.squareRoot(), t0.squareRoot()).map { $0 * $0 }
    }
    var ks = times.map(dpmSolverIndex(ofContinuousTime:))
    ks[0] = startIndex
    ks[ks.count - 1] = endIndex
    var out: [Int] = []
    for k in ks where out.isEmpty || k < out[out.count - 1] { out.append(k) }
    return out
}

/// NFE of `dpmSolverSample` with these settings: one network call per time step except the last
/// (the multistep solver reuses every earlier x̂), i.e. `dpmSolverTimeSteps(…).count − 1`.
public func dpmSolverNumberOfModelEvaluations(steps: Int, skipType: DPMSolverSkipType = .logSNR,
                                              startIndex: Int = dpmSolverLambdaClipStartIndex(), endIndex: Int = 0) -> Int {
    dpmSolverTimeSteps(steps: steps, skipType: skipType, startIndex: startIndex, endIndex: endIndex).count - 1
}

/// DPM-Solver++ multistep of order 1, 2 (DPM-Solver++(2M)) or 3 (3M, the default) on the x-prediction network.
///
/// **Defaults** are the official low-resolution recipe (`examples/ddpm_and_guided-diffusion/sample.sh`, CIFAR-10
/// and cosine ImageNet-64): order 3, steps uniform in λ (`.logSNR`), x_T at the λ = −5.1 cut-off of the
/// official `NoiseScheduleVP('discrete')` (index 1019, `dpmSolverLambdaClipStartIndex()`). It is also what the
/// evaluation stage runs (it passes these values explicitly). On the analytic Gaussian model of
/// docs/samplers.md it is within 4.4% of the exact ODE's output scale at 12 steps. The official *signature*
/// defaults (order 2, time-uniform, from index 1024) are not the defaults here: on this schedule their last
/// 12-step interval 85 → 0 spans λ 1.94 → 5.06, and the output scale overshoots by 32.5%.
///
/// Starting from x_T (pure noise, placed at `startIndex`) it visits `dpmSolverTimeSteps(…)` and returns
/// clip(z, −1, 1) at `endIndex` (index 0: like DDIM here, the output is z at index 0, not a final x̂).
/// With λ = log(α/σ), h = λ_t − λ_s and the data predictions m = x̂ of the last `order` points, one step is
///
///     order 1: z_t = (σ_t/σ_s) z_s − α_t·expm1(−h)·m₀
///     order 2: z_t = (σ_t/σ_s) z_s − α_t·expm1(−h)·m₀ − ½·α_t·expm1(−h)·D₁,   D₁ = (m₀ − m₁)/r₀, r₀ = h₀/h
///     order 3: the official `multistep_dpm_solver_third_update` (D₁, D₂ from three points, φ₁, φ₂, φ₃).
///
/// The first `order − 1` steps use the lower orders 1, 2 (warm-up, as the official code). With
/// `lowerOrderFinal` the official rule applies: when the number of steps is below 10, the last steps drop
/// to order min(order, steps + 1 − step); at 12 steps it changes nothing.
///
/// NFE = number of steps (`SamplerResult.numberOfModelEvaluations`). The network is called on Float32
/// tensors; the solver state is Float64. Runs without recording gradients.
///
/// - Parameters:
///   - model: the x-prediction network θ(z, k, y).
///   - steps: requested number of solver steps (= NFE unless `.logSNR` rounding merges steps).
///   - order: 1, 2 or 3 (default 3).
///   - xT: the initial noise, (B, …).
///   - correction: applied to every x̂ (`.none` is the official default for DPM-Solver++).
///   - skipType: the spacing of the time steps (default `.logSNR`).
///   - startIndex: where x_T is placed; by default `dpmSolverLambdaClipStartIndex()` (1019), what the current
///     official `NoiseScheduleVP('discrete')` would use on this schedule. 1024 is the top of the grid.
///   - recordTrajectory: keep z after every step in `SamplerResult.trajectory`.
public func dpmSolverSample(model: Denoiser, steps: Int = 12, order: Int = 3, xT: Tensor, labels: [Int]? = nil,
                           skipType: DPMSolverSkipType = .logSNR, lowerOrderFinal: Bool = true,
                           correction: DataPredictionCorrection = .none,
                           startIndex: Int = dpmSolverLambdaClipStartIndex(), endIndex: Int = 0,
                           recordTrajectory: Bool = false, schedule: CosineSchedule = .shared) -> SamplerResult {
    precondition((1...3).contains(order), "dpmSolverSample: order must be 1, 2 or 3, got \(order)")
    let ks = dpmSolverTimeSteps(steps: steps, skipType: skipType, startIndex: startIndex, endIndex: endIndex,
                                schedule: schedule)
    let n = ks.count - 1                               // the steps actually taken
    precondition(n >= order, "dpmSolverSample: \(n) time steps (\(ks)) are fewer than the order \(order)")
    let alpha = schedule.alphas, sigma = schedule.sigmas
    let lambda = { (k: Int) in dpmSolverLambda(k, schedule: schedule) }

    return Autograd.noGrad {
        var net = SolverModel(shape: xT.shape, labels: labels, correction: correction)
        var x = xT.array.map { Double($0) }
        var trajectory: [Tensor] = []

        /// One multistep update from tPrev.last to t with the given order (official `multistep_dpm_solver_update`).
        func update(_ x: [Double], _ m: [[Double]], _ tPrev: [Int], _ t: Int, _ stepOrder: Int) -> [Double] {
            let s = tPrev[tPrev.count - 1]
            let h = lambda(t) - lambda(s)
            let phi1 = DetMath.expm1(-h)
            let ratio = sigma[t] / sigma[s], a = alpha[t]
            let m0 = m[m.count - 1]
            switch stepOrder {
            case 1:
                return combine([(ratio, x), (-a * phi1, m0)])
            case 2:
                let m1 = m[m.count - 2]
                let h0 = lambda(s) - lambda(tPrev[tPrev.count - 2])
                let r0 = h0 / h
                let d1 = combine([(1 / r0, m0), (-1 / r0, m1)])
                return combine([(ratio, x), (-a * phi1, m0), (-0.5 * a * phi1, d1)])
            default:
                let m1 = m[m.count - 2], m2 = m[m.count - 3]
                let l0 = lambda(s), l1 = lambda(tPrev[tPrev.count - 2]), l2 = lambda(tPrev[tPrev.count - 3])
                let h1 = l1 - l2, h0 = l0 - l1
                let r0 = h0 / h, r1 = h1 / h
                let d10 = combine([(1 / r0, m0), (-1 / r0, m1)])
                let d11 = combine([(1 / r1, m1), (-1 / r1, m2)])
                let diff = combine([(1, d10), (-1, d11)])
                let d1 = combine([(1, d10), (r0 / (r0 + r1), diff)])
                let d2 = combine([(1 / (r0 + r1), diff)])
                let phi2 = phi1 / h + 1
                let phi3 = phi2 / h - 0.5
                return combine([(ratio, x), (-a * phi1, m0), (a * phi2, d1), (-a * phi3, d2)])
            }
        }

        var tPrev = [ks[0]]
        var mPrev = [net.xhat(model, x, at: ks[0])]
        // Warm-up: the first order − 1 steps with orders 1, …, order − 1.
        for step in Swift.stride(from: 1, to: order, by: 1) {
            let t = ks[step]
            x = update(x, mPrev, tPrev, t, step)
            if recordTrajectory { trajectory.append(float32Tensor(x, shape: xT.shape)) }
            tPrev.append(t)
            mPrev.append(net.xhat(model, x, at: t))
        }
        for step in Swift.stride(from: order, through: n, by: 1) {
            let t = ks[step]
            let stepOrder = (lowerOrderFinal && n < 10) ? min(order, n + 1 - step) : order
            x = update(x, mPrev, tPrev, t, stepOrder)
            if recordTrajectory { trajectory.append(float32Tensor(x, shape: xT.shape)) }
            tPrev = Array((tPrev + [t]).suffix(order))
            if step < n {                               // the final x̂ is never needed
                mPrev = Array((mPrev + [net.xhat(model, x, at: t)]).suffix(order))
            }
        }
        let out = float32Tensor(x.map { min(max($0, -1), 1) }, shape: xT.shape)
        return SamplerResult(sample: out, indices: ks, modelIndices: net.calls, trajectory: trajectory)
    }
}
