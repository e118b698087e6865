import Foundation
import Tensor

// PNDM (Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on Manifolds"), as coded by the
// authors (luping-liu/PNDM, runner/method.py: `gen_order_4` = F-PNDM, `gen_order_2` = S-PNDM, `runge_kutta`,
// `improved_eular`, `transfer`), on the x-prediction network of spec §1.3 through ε̂ = (z − α x̂)/σ.
// See docs/samplers.md.

/// Which pseudo numerical method.
public enum PNDMVariant: String, Sendable, CaseIterable {
    /// F-PNDM: pseudo Runge–Kutta (4 network calls) for the first 3 steps, then the 4th-order pseudo
    /// linear multistep method (1 call per step). NFE = steps + 9 for steps ≥ 3.
    case fourthOrder = "F-PNDM"
    /// S-PNDM: pseudo improved Euler (2 calls) for the first step, then the 2nd-order pseudo linear
    /// multistep method. NFE = steps + 1.
    case secondOrder = "S-PNDM"
}

/// The default start index for `steps` PNDM steps: round(1024·(steps − 1)/steps).
///
/// The authors' code (and diffusers' `PNDMScheduler`) never start at the top level: their time steps are
/// `range(0, T, T // steps)`, so the first network call is at (steps − 1)/steps of the way up (900 of 1000
/// for 10 steps), with pure noise placed there. Starting at 1024 on this grid is unusable for an ε-space
/// multi-evaluation method: ᾱ_1024 = 0.001·ᾱ_1023 (the β clamp), so the pseudo-RK combination of ε̂'s
/// from different points is multiplied by α_{k′}/α_1024 ≈ 10³ (docs/samplers.md has the numbers).
public func pndmDefaultStartIndex(steps: Int) -> Int {
    precondition(steps >= 2, "pndmDefaultStartIndex: steps must be ≥ 2 (got \(steps)); pass startIndex for 1 step")
    return nearestIndex(Double(CosineSchedule.maxIndex * (steps - 1)) / Double(steps))
}

/// The PNDM time steps as grid indices: k_i = end + round((start − end)·(steps − i)/steps), i = 0…steps
/// (`steps` equal intervals, rounded to the grid). 10 steps: [922, 830, 738, 645, 553, 461, 369, 277, 184, 92, 0].
public func pndmIndices(steps: Int, startIndex: Int? = nil, endIndex: Int = 0) -> [Int] {
    precondition(steps >= 1, "pndmIndices: steps must be ≥ 1, got \(steps)")
    let start = startIndex ?? pndmDefaultStartIndex(steps: steps)
    precondition(0 <= endIndex && endIndex < start && start <= CosineSchedule.maxIndex,
                 "pndmIndices: need 0 ≤ end < start ≤ 1024, got start \(start), end \(endIndex)")
    let ks = (0...steps).map { i in endIndex + nearestIndex(Double((start - endIndex) * (steps - i)) / Double(steps)) }
    precondition(zip(ks, ks.dropFirst()).allSatisfy { $0 > $1 },
                 "pndmIndices: \(steps) steps do not fit between \(start) and \(endIndex): \(ks)")
    return ks
}

/// NFE of `pndmSample`: F-PNDM 4·min(steps, 3) + max(steps − 3, 0) (= steps + 9 from 3 steps on);
/// S-PNDM steps + 1. The authors count "steps" (transfers), not network calls: their "10 steps" is 19 NFE.
public func pndmNumberOfModelEvaluations(steps: Int, variant: PNDMVariant = .fourthOrder) -> Int {
    precondition(steps >= 1)
    switch variant {
    case .fourthOrder: return 4 * min(steps, 3) + max(steps - 3, 0)
    case .secondOrder: return 2 + (steps - 1)
    }
}

/// The authors' `transfer` φ(z, ε, k → k′) (their Eq. 9; algebraically one DDIM step), in Float64:
///
///     z′ = z + (ᾱ′ − ᾱ)·[ z/(√ᾱ(√ᾱ + √ᾱ′)) − ε/(√ᾱ(√((1 − ᾱ′)ᾱ) + √((1 − ᾱ)ᾱ′))) ]
func pndmTransfer(_ z: [Double], from k: Int, to kNext: Int, eps: [Double], schedule: CosineSchedule) -> [Double] {
    let at = schedule.alphasBar[k], an = schedule.alphasBar[kNext]
    let cx = 1 / (at.squareRoot() * (at.squareRoot() + an.squareRoot()))
    let ce = 1 / (at.squareRoot() * (((1 - an) * at).squareRoot() + ((1 - at) * an).squareRoot()))
    let d = an - at
    var out = z
    for i in out.indices { out[i] = z[i] + d * (cx * z[i] - ce * eps[i]) }
    return out
}

/// PNDM from x_T placed at the start index down to index 0; returns clip(z, −1, 1) at the end index.
///
/// Every network call gives x̂; the solver uses ε̂ = (z − α_k x̂)/σ_k (spec §1.3) with the optional
/// `correction` applied to x̂ first (the authors' code does not clip: `.none` is the default).
///
/// F-PNDM step k → k′ with midpoint m = ⌊(k + k′)/2⌋ (the authors pass (t + t′)/2 to the network and
/// truncate it for ᾱ; here both use the integer m):
/// - first 3 steps (pseudo RK): e₁ = ε̂(z, k); e₂ = ε̂(φ(z, e₁, k→m), m); e₃ = ε̂(φ(z, e₂, k→m), m);
///   e₄ = ε̂(φ(z, e₃, k→k′), k′); e = (e₁ + 2e₂ + 2e₃ + e₄)/6; only e₁ enters the history;
/// - then (pseudo linear multistep): e_new = ε̂(z, k); e = (55e_new − 59e₋₁ + 37e₋₂ − 9e₋₃)/24;
/// - z ← φ(z, e, k → k′).
/// S-PNDM: first step pseudo improved Euler e = (ε̂(z, k) + ε̂(φ(z, e₁, k→k′), k′))/2, then (3e_new − e₋₁)/2.
///
/// "steps" counts transfers as the authors do; NFE is `pndmNumberOfModelEvaluations` (19 for F-PNDM with
/// 10 steps). Deterministic; runs without recording gradients.
public func pndmSample(model: Denoiser, steps: Int = 10, xT: Tensor, labels: [Int]? = nil,
                       variant: PNDMVariant = .fourthOrder, correction: DataPredictionCorrection = .none,
                       startIndex: Int? = nil, endIndex: Int = 0, recordTrajectory: Bool = false,
                       schedule: CosineSchedule = .shared) -> SamplerResult {
    let ks = pndmIndices(steps: steps, startIndex: startIndex, endIndex: endIndex)
    let alpha = schedule.alphas, sigma = schedule.sigmas

    return Autograd.noGrad {
        var net = SolverModel(shape: xT.shape, labels: labels, correction: correction)
        var z = xT.array.map { Double($0) }
        var trajectory: [Tensor] = []
        var ets: [[Double]] = []

        func epsHat(_ z: [Double], _ k: Int) -> [Double] {
            let x = net.xhat(model, z, at: k)
            let a = alpha[k], s = sigma[k]
            var e = z
            for i in e.indices { e[i] = (z[i] - a * x[i]) / s }
            return e
        }
        func transfer(_ z: [Double], _ k: Int, _ kn: Int, _ e: [Double]) -> [Double] {
            pndmTransfer(z, from: k, to: kn, eps: e, schedule: schedule)
        }

        for (k, kn) in zip(ks, ks.dropFirst()) {
            let e: [Double]
            switch variant {
            case .fourthOrder:
                if ets.count > 2 {
                    ets.append(epsHat(z, k))
                    let c = ets.count
                    e = combine([(55.0 / 24, ets[c - 1]), (-59.0 / 24, ets[c - 2]), (37.0 / 24, ets[c - 3]), (-9.0 / 24, ets[c - 4])])
                } else {
                    let km = (k + kn) / 2
                    let e1 = epsHat(z, k)
                    ets.append(e1)
                    let e2 = epsHat(transfer(z, k, km, e1), km)
                    let e3 = epsHat(transfer(z, k, km, e2), km)
                    let e4 = epsHat(transfer(z, k, kn, e3), kn)
                    e = combine([(1.0 / 6, e1), (2.0 / 6, e2), (2.0 / 6, e3), (1.0 / 6, e4)])
                }
            case .secondOrder:
                if !ets.isEmpty {
                    ets.append(epsHat(z, k))
                    let c = ets.count
                    e = combine([(1.5, ets[c - 1]), (-0.5, ets[c - 2])])
                } else {
                    let e1 = epsHat(z, k)
                    ets.append(e1)
                    let e2 = epsHat(transfer(z, k, kn, e1), kn)
                    e = combine([(0.5, e1), (0.5, e2)])
                }
            }
            if ets.count > 4 { ets.removeFirst() }
            z = transfer(z, k, kn, e)
            if recordTrajectory { trajectory.append(float32Tensor(z, shape: xT.shape)) }
        }
        let out = float32Tensor(z.map { min(max($0, -1), 1) }, shape: xT.shape)
        return SamplerResult(sample: out, indices: ks, modelIndices: net.calls, trajectory: trajectory)
    }
}
