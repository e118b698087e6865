import Foundation
import XCTest
import Tensor
@testable import Diffusion

/// DPM-Solver++ (multistep) and PNDM (docs/samplers.md): step sequences, NFE accounting, agreement with the
/// independent Float64 numpy reference (scripts/samplers/reference_samplers.py), and behaviour on the
/// analytic "perfect denoiser" for per-pixel Gaussian data x ~ N(μ, s²), whose probability-flow ODE is known
/// in closed form.
final class SamplerTests: XCTestCase {
    let sched = CosineSchedule.shared

    // MARK: - Analytic denoiser

    /// x̂(z, k) = E[x | z_k = z] = μ + s²α_k(z − α_k μ)/(α_k² s² + σ_k²), evaluated per element in Float64 from
    /// the Float32 input and returned as Float32 (the network path is Float32, like the real model's).
    /// `calls` counts network evaluations (one per call, whatever the batch).
    final class Gaussian {
        let mu: Double, s: Double
        var calls: [Int] = []
        init(mu: Double, s: Double) { self.mu = mu; self.s = s }

        var denoiser: Denoiser {
            { [self] z, ks, _ in
                calls.append(ks[0])
                XCTAssertTrue(ks.allSatisfy { $0 == ks[0] }, "samplers query one index per call")
                let n = z.count / ks.count
                var out = [Float](repeating: 0, count: z.count)
                for b in 0..<ks.count {
                    let a = CosineSchedule.shared.alphas[ks[b]], sg = CosineSchedule.shared.sigmas[ks[b]]
                    let gain = s * s * a / (a * a * s * s + sg * sg)
                    for i in 0..<n {
                        let v = Double(z.data[b * n + i])
                        out[b * n + i] = Float(mu + gain * (v - a * mu))
                    }
                }
                return Tensor(out, shape: z.shape)
            }
        }

        /// The exact probability-flow ODE map from index `start` to `end` (1-D Gaussian marginals
        /// N(α_k μ, α_k² s² + σ_k²); the flow is the monotone affine map between them).
        func exactEndpoint(_ zT: Double, start: Int, end: Int = 0) -> Double {
            let sc = CosineSchedule.shared
            func sd(_ k: Int) -> Double { (sc.alphas[k] * sc.alphas[k] * s * s + sc.sigmas[k] * sc.sigmas[k]).squareRoot() }
            return sc.alphas[end] * mu + sd(end) * (zT - sc.alphas[start] * mu) / sd(start)
        }
    }

    func column(_ v: [Float]) -> Tensor { Tensor(v, shape: [v.count, 1, 1, 1]) }

    func noise(_ n: Int, seed: UInt64) -> Tensor {
        var rng = RNG(seed: seed)
        return Tensor.randn([n, 1, 1, 1], rng: &rng)
    }

    func meanStd(_ v: [Float]) -> (Double, Double) {
        let d = v.map(Double.init)
        let m = d.reduce(0, +) / Double(d.count)
        let varc = d.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(d.count - 1)
        return (m, varc.squareRoot())
    }

    func maxAbsDiff(_ a: [Float], _ b: [Double]) -> Double {
        zip(a, b).map { abs(Double($0) - $1) }.max()!
    }

    // MARK: - (c) Step sequences and NFE

    /// The index lists below are the ones docs/samplers.md gives. Each one with a numpy-fixture counterpart
    /// is also checked against the indices computed by scripts/samplers/reference_samplers.py (Float64, written
    /// independently of the Swift code), so a literal cannot silently be a snapshot of our own output; the
    /// others are derived in the comments.
    func testDPMSolverTimeStepsAsDocumented() throws {
        let fx = try loadFixture()
        func reference(_ steps: Int, _ skip: String, start: Int? = nil) -> [Int]? {
            fx.cases.first { $0.sampler == "dpmsolver++" && $0.steps == steps && $0.skip_type == skip && $0.start == start
                && $0.correction == nil && $0.lower_order_final == nil }?.indices
        }
        let tu = dpmSolverTimeSteps(steps: 12, skipType: .timeUniform, startIndex: 1024)
        XCTAssertEqual(tu, [1024, 939, 853, 768, 683, 597, 512, 427, 341, 256, 171, 85, 0])
        XCTAssertEqual(tu, reference(12, "time_uniform"))
        // 1025·i/6 continuous-time steps from t = 1 rounded to the grid (the numpy reference agrees).
        XCTAssertEqual(dpmSolverTimeSteps(steps: 6, skipType: .timeUniform, startIndex: 1024), [1024, 853, 683, 512, 341, 171, 0])
        XCTAssertEqual(dpmSolverTimeSteps(steps: 6, skipType: .timeUniform, startIndex: 1024), reference(6, "time_uniform"))
        // Time-uniform with a power-of-two step count is exactly the DDIM stride grid of §1.2.
        XCTAssertEqual(dpmSolverTimeSteps(steps: 8, skipType: .timeUniform, startIndex: 1024), try StepGrid.base.samplingIndices(stride: 128))
        XCTAssertEqual(dpmSolverTimeSteps(steps: 12, skipType: .timeQuadratic, startIndex: 1024),
                       [1024, 865, 720, 588, 469, 364, 272, 193, 128, 76, 37, 12, 0])
        XCTAssertEqual(dpmSolverTimeSteps(steps: 12, skipType: .timeQuadratic, startIndex: 1024), reference(12, "time_quadratic"))
        // λ-uniform from 1024 merges steps near the top (λ_1024 = −9.94 sits far below λ_1023 = −6.49).
        let fromTop = dpmSolverTimeSteps(steps: 12, skipType: .logSNR, startIndex: 1024)
        XCTAssertEqual(fromTop, [1024, 1023, 1019, 1008, 967, 830, 488, 164, 42, 8, 0])
        XCTAssertEqual(fromTop, reference(12, "logSNR"))
        XCTAssertEqual(dpmSolverNumberOfModelEvaluations(steps: 12, skipType: .logSNR, startIndex: 1024), 10)
        // The official NoiseScheduleVP('discrete') drops the tail where λ < −5.1: T = index 1019 here, i.e. the
        // last index with λ ≥ −5.1 (λ_1019 ≥ −5.1 > λ_1020 = −5.102; λ from the §1.1 log-SNR, checked directly).
        XCTAssertEqual(dpmSolverLambdaClipStartIndex(), 1019)
        XCTAssertGreaterThanOrEqual(try sched.logSNR(1019) / 2, -5.1)
        XCTAssertLessThan(try sched.logSNR(1020) / 2, -5.1)
        let fromClip = dpmSolverTimeSteps(steps: 12, skipType: .logSNR, startIndex: 1019)
        XCTAssertEqual(fromClip, [1019, 1013, 998, 964, 889, 731, 478, 241, 105, 41, 14, 3, 0])
        XCTAssertEqual(fromClip, reference(12, "logSNR", start: 1019))
        // The defaults are that configuration (logSNR from the λ-clip start): what the evaluation stage runs.
        XCTAssertEqual(dpmSolverTimeSteps(steps: 12), fromClip)
        XCTAssertEqual(dpmSolverNumberOfModelEvaluations(steps: 12), 12)
        for skip in DPMSolverSkipType.allCases {
            for steps in [1, 2, 5, 12, 25, 100] {
                let ks = dpmSolverTimeSteps(steps: steps, skipType: skip, startIndex: 1024)
                XCTAssertEqual(ks.first, 1024); XCTAssertEqual(ks.last, 0)
                XCTAssertTrue(zip(ks, ks.dropFirst()).allSatisfy { $0 > $1 }, "\(skip) \(steps): \(ks)")
                XCTAssertLessThanOrEqual(ks.count, steps + 1)
                if skip != .logSNR { XCTAssertEqual(ks.count, steps + 1, "\(skip) \(steps)") }
            }
        }
        // Continuous time ↔ grid index: t_k = (k + 1)/1025 maps back to k; λ matches the §1.1 log-SNR / 2.
        for k in [0, 1, 85, 512, 1023, 1024] {
            XCTAssertEqual(dpmSolverIndex(ofContinuousTime: dpmSolverContinuousTime(ofIndex: k)), k)
            XCTAssertEqual(dpmSolverLambda(k), try sched.logSNR(k) / 2, accuracy: 1e-12)
            XCTAssertEqual(dpmSolverInverseLambda(dpmSolverLambda(k)), dpmSolverContinuousTime(ofIndex: k), accuracy: 1e-12)
        }
    }

    /// As for DPM-Solver, the literal lists are docs/samplers.md's and are checked against the numpy reference's
    /// indices where it has the configuration; the rest follow from the formulas in the comments.
    func testPNDMIndicesAndModelCallsAsDocumented() throws {
        let fx = try loadFixture()
        func reference(_ steps: Int, _ variant: String) -> Fixture.Case? {
            fx.cases.first { $0.sampler == "pndm" && $0.steps == steps && $0.variant == variant && $0.correction == nil }
        }
        // Leading start round(1024·(steps − 1)/steps): round(921.6) = 922 for 10 steps, round(819.2) = 819 for 5.
        XCTAssertEqual(pndmDefaultStartIndex(steps: 10), 922)
        XCTAssertEqual(pndmIndices(steps: 10), [922, 830, 738, 645, 553, 461, 369, 277, 184, 92, 0])
        XCTAssertEqual(pndmIndices(steps: 10), reference(10, "F")?.indices)
        XCTAssertEqual(pndmIndices(steps: 5), [819, 655, 491, 328, 164, 0])
        XCTAssertEqual(pndmIndices(steps: 5), reference(5, "F")?.indices)
        // From 1024 in 4 equal intervals: 1024·(4 − i)/4, no rounding.
        XCTAssertEqual(pndmIndices(steps: 4, startIndex: 1024), [1024, 768, 512, 256, 0])
        // NFE: F-PNDM 4·min(steps, 3) + max(steps − 3, 0) (4 calls per Runge–Kutta warm-up step, then 1), S-PNDM
        // steps + 1 (2 calls for the improved-Euler first step): 12 + 7 = 19, 10 + 1 = 11, 4·2 = 8.
        XCTAssertEqual(pndmNumberOfModelEvaluations(steps: 10), 19)
        XCTAssertEqual(pndmNumberOfModelEvaluations(steps: 10), reference(10, "F")?.nfe)
        XCTAssertEqual(pndmNumberOfModelEvaluations(steps: 10, variant: .secondOrder), 11)
        XCTAssertEqual(pndmNumberOfModelEvaluations(steps: 10, variant: .secondOrder), reference(10, "S")?.nfe)
        XCTAssertEqual(pndmNumberOfModelEvaluations(steps: 2), 8)

        // F-PNDM, 10 steps: three pseudo-RK steps (k, mid, mid, k′) then one call per step; never at index 0.
        let g = Gaussian(mu: 0.1, s: 0.2)
        let r = pndmSample(model: g.denoiser, steps: 10, xT: column([0.3]))
        XCTAssertEqual(r.modelIndices, [922, 876, 876, 830, 830, 784, 784, 738, 738, 691, 691, 645,
                                        645, 553, 461, 369, 277, 184, 92])
        XCTAssertEqual(r.modelIndices, reference(10, "F")?.evaluated_indices)
        XCTAssertEqual(g.calls, r.modelIndices)
        XCTAssertEqual(r.numberOfModelEvaluations, 19)
        XCTAssertEqual(r.indices.first, 922); XCTAssertEqual(r.indices.last, 0); XCTAssertEqual(r.indices.count, 11)

        let gs = Gaussian(mu: 0.1, s: 0.2)
        let rs = pndmSample(model: gs.denoiser, steps: 10, xT: column([0.3]), variant: .secondOrder)
        XCTAssertEqual(rs.modelIndices, [922, 830, 830, 738, 645, 553, 461, 369, 277, 184, 92])
        XCTAssertEqual(rs.modelIndices, reference(10, "S")?.evaluated_indices)
    }

    func testReportedNFEMatchesNetworkCalls() {
        for order in 1...3 {
            for steps in [3, 6, 9, 10, 12, 20] {
                for skip in DPMSolverSkipType.allCases {
                    let g = Gaussian(mu: 0, s: 0.5)
                    let r = dpmSolverSample(model: g.denoiser, steps: steps, order: order, xT: column([0.5, -1]), skipType: skip)
                    XCTAssertEqual(g.calls.count, r.numberOfModelEvaluations)
                    XCTAssertEqual(r.numberOfModelEvaluations, dpmSolverNumberOfModelEvaluations(steps: steps, skipType: skip))
                    XCTAssertEqual(r.modelIndices, Array(r.indices.dropLast()), "one call per time step, none at the end")
                    if skip != .logSNR { XCTAssertEqual(r.numberOfModelEvaluations, steps) }
                }
            }
        }
        for variant in PNDMVariant.allCases {
            for steps in [2, 3, 4, 10, 17] {
                let g = Gaussian(mu: 0, s: 0.5)
                let r = pndmSample(model: g.denoiser, steps: steps, xT: column([0.5]), variant: variant)
                XCTAssertEqual(g.calls.count, r.numberOfModelEvaluations)
                XCTAssertEqual(r.numberOfModelEvaluations, pndmNumberOfModelEvaluations(steps: steps, variant: variant))
            }
        }
    }

    // MARK: - (b) Independent numpy reference

    struct Fixture: Decodable {
        struct Case: Decodable {
            let sampler: String
            let mu: Double, s: Double, steps: Int
            let order: Int?, skip_type: String?, lower_order_final: Bool?, correction: String?, start: Int?, variant: String?
            let indices: [Int], evaluated_indices: [Int], nfe: Int
            let trajectory: [[Double]], final: [Double], exact_endpoint: [Double]
        }
        struct DDIM: Decodable { let mu: Double, s: Double, final: [Double] }
        let xT: [Double]
        let schedule_check: [String: Double]
        let ddim_1024: DDIM
        let cases: [Case]
    }

    func loadFixture() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/samplers/sampler_fixture.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    /// Every trajectory point and the final sample of 16 configurations agree with the Float64 numpy
    /// re-implementation to 1e-4 (measured worst case ~1e-6: the network path is Float32, the solver state
    /// Float64), and the visited indices, network-call indices and NFE are identical.
    func testMatchesNumpyReferenceFixture() throws {
        let fx = try loadFixture()
        XCTAssertEqual(fx.schedule_check["alpha_0"]!, sched.alphas[0], accuracy: 1e-15)
        XCTAssertEqual(fx.schedule_check["alpha_1024"]!, sched.alphas[1024], accuracy: 1e-18)
        XCTAssertEqual(fx.schedule_check["lambda_512"]!, dpmSolverLambda(512), accuracy: 1e-13)
        let xT = column(fx.xT.map(Float.init))
        XCTAssertEqual(xT.array.map(Double.init), fx.xT, "x_T is exactly representable in Float32")
        XCTAssertGreaterThanOrEqual(fx.cases.count, 16)
        var worst = 0.0
        for c in fx.cases {
            let what = "\(c.sampler) steps \(c.steps) order \(c.order ?? 0) \(c.skip_type ?? c.variant ?? "") \(c.correction ?? "") start \(c.start ?? -1)"
            let g = Gaussian(mu: c.mu, s: c.s)
            let correction: DataPredictionCorrection = c.correction == "clip" ? .clip : .none
            let r: SamplerResult
            if c.sampler == "dpmsolver++" {
                let skip = DPMSolverSkipType(rawValue: c.skip_type!)!
                r = dpmSolverSample(model: g.denoiser, steps: c.steps, order: c.order!, xT: xT, skipType: skip,
                                    lowerOrderFinal: c.lower_order_final ?? true, correction: correction,
                                    startIndex: c.start ?? 1024, recordTrajectory: true)
            } else {
                r = pndmSample(model: g.denoiser, steps: c.steps, xT: xT,
                               variant: c.variant == "S" ? .secondOrder : .fourthOrder, correction: correction,
                               startIndex: c.start, recordTrajectory: true)
            }
            XCTAssertEqual(r.indices, c.indices, what)
            XCTAssertEqual(r.modelIndices, c.evaluated_indices, what)
            XCTAssertEqual(r.numberOfModelEvaluations, c.nfe, what)
            XCTAssertEqual(r.trajectory.count, c.trajectory.count, what)
            for (i, (mine, ref)) in zip(r.trajectory, c.trajectory).enumerated() {
                let d = maxAbsDiff(mine.array, ref)
                worst = max(worst, d)
                XCTAssertLessThan(d, 1e-4, "\(what), step \(i + 1)")
            }
            let d = maxAbsDiff(r.sample.array, c.final)
            worst = max(worst, d)
            XCTAssertLessThan(d, 1e-4, "\(what), final")
        }
        // DDIM (spec §1.7) with all 1024 steps, same analytic model: the existing sampler agrees too.
        let g = Gaussian(mu: fx.ddim_1024.mu, s: fx.ddim_1024.s)
        let ddim = ddimSample(model: g.denoiser, indices: Array((0...1024).reversed()), xT: xT).sample
        XCTAssertLessThan(maxAbsDiff(ddim.array, fx.ddim_1024.final), 1e-4)
        print("SamplerTests: worst |Swift − numpy| over all fixture trajectories = \(worst)")
    }

    // MARK: - (a) Perfect denoiser on Gaussian data

    /// 4096 one-pixel samples of N(μ = 0.1, s = 0.2) (μ ± 4.5s stays inside [−1, 1], so clipping is inactive).
    ///
    /// Tolerances: the sample mean has standard error s/√n = 0.0031 (4 SE = 0.0125; the samplers' bias on the
    /// mean is < 1e-4 because every step is exact for a constant x̂). The sample std has relative standard
    /// error 1/√(2n) = 1.1% (4 SE = 4.4%), to which each sampler's own truncation error on this model is added,
    /// as measured per sample by the Float64 reference (scripts/samplers/reference_samplers.py, the scale
    /// of its fixture case; docs/samplers.md table): PNDM(10) −4.6%, DPM-Solver++(2M) 12 λ-uniform from
    /// 1019 +3.0%, DPM-Solver++(3M) 12 λ-uniform from 1019 (the default, and what evaluation runs) +4.4%.
    /// DPM-Solver++(2M) with 12 time-uniform steps from 1024 (the official *signature* default) overshoots
    /// the scale by +32.5% (its last step 85 → 0 spans λ 1.94 → 5.06, where x̂ still changes), which is why
    /// it is not the default here; the test checks that overshoot against the reference so it cannot drift.
    func testPerfectDenoiserGaussianMoments() throws {
        let mu = 0.1, s = 0.2, n = 4096
        let xT = noise(n, seed: 2024)
        let (_, stdT) = meanStd(xT.array)
        let meanTol = 4 * s / Double(n).squareRoot()

        func check(_ r: SamplerResult, _ g: Gaussian, stdTol: Double, _ what: String) -> (mean: Double, std: Double, scale: Double) {
            let (m, sd) = meanStd(r.sample.array)
            XCTAssertEqual(m, mu, accuracy: meanTol, "\(what): mean")
            // Per-sample scale relative to the exact ODE from the same start (deterministic, no MC noise).
            let ex = xT.array.map { g.exactEndpoint(Double($0), start: r.indices[0]) }
            let (_, sdExact) = meanStd(ex.map(Float.init))
            if stdTol > 0 { XCTAssertEqual(sd / s, 1, accuracy: stdTol, "\(what): std \(sd) vs s = \(s)") }
            print("SamplerTests: \(what): NFE \(r.numberOfModelEvaluations), mean \(m), std \(sd) (s = \(s), std of exact ODE map \(sdExact), x_T std \(stdT))")
            return (m, sd, sd / sdExact)
        }

        let gP = Gaussian(mu: mu, s: s)
        _ = check(pndmSample(model: gP.denoiser, steps: 10, xT: xT), gP, stdTol: 0.044 + 0.046 + 0.01, "F-PNDM 10 steps")

        let gL = Gaussian(mu: mu, s: s)
        _ = check(dpmSolverSample(model: gL.denoiser, steps: 12, order: 2, xT: xT, skipType: .logSNR,
                                  startIndex: dpmSolverLambdaClipStartIndex()), gL,
                  stdTol: 0.044 + 0.030 + 0.01, "DPM-Solver++(2M) 12 steps, logSNR from 1019")

        // Every sampler is affine in x_T on this model, so the reference's scale is the slope of its final map
        // over the fixture's x_T range: (f(2.5) − f(−3))/(exact(2.5) − exact(−3)).
        let fx = try loadFixture()
        func referenceScale(order: Int, _ skip: String, start: Int?) throws -> Double {
            let ref = try XCTUnwrap(fx.cases.first { $0.sampler == "dpmsolver++" && $0.steps == 12 && $0.order == order
                && $0.skip_type == skip && $0.start == start && $0.correction == nil })
            return (ref.final[7] - ref.final[0]) / (ref.exact_endpoint[7] - ref.exact_endpoint[0])
        }

        // The default call: order 3, λ-uniform from 1019 (the official low-resolution recipe, as evaluation).
        let g3 = Gaussian(mu: mu, s: s)
        let d3 = check(dpmSolverSample(model: g3.denoiser, xT: xT), g3, stdTol: 0.044 + 0.044 + 0.01,
                       "DPM-Solver++(3M) 12 steps, logSNR from 1019 (default)")
        XCTAssertEqual(g3.calls.first, 1019)
        XCTAssertEqual(d3.scale, try referenceScale(order: 3, "logSNR", start: 1019), accuracy: 1e-3)

        let gD = Gaussian(mu: mu, s: s)
        let d = check(dpmSolverSample(model: gD.denoiser, steps: 12, order: 2, xT: xT, skipType: .timeUniform, startIndex: 1024),
                      gD, stdTol: 0, "DPM-Solver++(2M) 12 steps, time-uniform from 1024 (official signature default)")
        // 1.325: the scale the numpy reference computes for this configuration (docs/samplers.md, +32.5%).
        let refScale = try referenceScale(order: 2, "time_uniform", start: nil)
        XCTAssertEqual(refScale, 1.325, accuracy: 0.005)
        XCTAssertEqual(d.scale, refScale, accuracy: 1e-3, "time-uniform 12-step scale error as in the reference")
    }

    /// Per-sample error against the exact ODE endpoint shrinks as steps grow, and DDIM with every grid step
    /// lands on the same endpoint: DPM-Solver++(2M) 6 → 12 → 24 → 48 → 96 steps vs DDIM-1024 from index 1024,
    /// F-PNDM 5 → 10 → 20 → 40 steps vs DDIM with unit steps from PNDM's own start index.
    func testConvergesToTheDDIMEndpoint() {
        let mu = 0.1, s = 0.2
        let xT = noise(64, seed: 7)
        func ddimFrom(_ start: Int) -> [Float] {
            ddimSample(model: Gaussian(mu: mu, s: s).denoiser, indices: Array((0...start).reversed()), xT: xT).sample.array
        }
        let g = Gaussian(mu: mu, s: s)
        let ddim1024 = ddimFrom(1024)
        let exact1024 = xT.array.map { g.exactEndpoint(Double($0), start: 1024) }
        let ddimErr = maxAbsDiff(ddim1024, exact1024)
        XCTAssertLessThan(ddimErr, 3e-3, "DDIM with 1024 steps solves the same ODE (first order; Float64 reference 1.9e-3 on 8 points)")

        var dpmErrs: [Double] = []
        for steps in [6, 12, 24, 48, 96] {
            let r = dpmSolverSample(model: Gaussian(mu: mu, s: s).denoiser, steps: steps, order: 2, xT: xT,
                                    skipType: .timeUniform, startIndex: 1024)
            dpmErrs.append(maxAbsDiff(r.sample.array, ddim1024.map(Double.init)))
        }
        print("SamplerTests: DPM-Solver++(2M) max |z − DDIM-1024| at 6/12/24/48/96 steps: \(dpmErrs)")
        XCTAssertTrue(zip(dpmErrs, dpmErrs.dropFirst()).allSatisfy { $0 > $1 }, "\(dpmErrs)")
        XCTAssertLessThan(dpmErrs.last!, 0.02)

        let r3 = dpmSolverSample(model: Gaussian(mu: mu, s: s).denoiser, steps: 96, order: 3, xT: xT,
                                 skipType: .timeUniform, startIndex: 1024)
        XCTAssertLessThan(maxAbsDiff(r3.sample.array, ddim1024.map(Double.init)), 0.02, "order 3 converges too")

        var pndmErrs: [Double] = []
        for steps in [5, 10, 20, 40] {
            let r = pndmSample(model: Gaussian(mu: mu, s: s).denoiser, steps: steps, xT: xT)
            let ddim = ddimFrom(r.indices[0])
            pndmErrs.append(maxAbsDiff(r.sample.array, ddim.map(Double.init)))
        }
        print("SamplerTests: F-PNDM max |z − DDIM from the same start| at 5/10/20/40 steps: \(pndmErrs)")
        XCTAssertTrue(zip(pndmErrs, pndmErrs.dropFirst()).allSatisfy { $0 > $1 }, "\(pndmErrs)")
        XCTAssertLessThan(pndmErrs.last!, 0.01)
    }

    /// Why PNDM does not start at 1024: ᾱ_1024 = 0.001·ᾱ_1023, and the pseudo-RK combination of ε̂'s is
    /// multiplied by ~α_{k′}/α_1024 there. On the perfect denoiser the result is far off even at 20 steps,
    /// while the default (leading) start is accurate.
    func testPNDMFromIndex1024IsIllConditioned() {
        let g = Gaussian(mu: 0.1, s: 0.2)
        let xT = column([1.0])
        let bad = pndmSample(model: g.denoiser, steps: 20, xT: xT, startIndex: 1024).sample.item
        let good = pndmSample(model: g.denoiser, steps: 20, xT: xT)
        XCTAssertGreaterThan(abs(Double(bad) - g.exactEndpoint(1, start: 1024)), 0.3)
        XCTAssertLessThan(abs(Double(good.sample.item) - g.exactEndpoint(1, start: good.indices[0])), 0.01)
    }

    // MARK: - Options and invariants

    func testCorrectionsAndOutputRange() {
        // Dynamic thresholding as the official `dynamic_thresholding_fn`: per sample, s = max(q_0.995(|x|), 1).
        var x: [Double] = [0.5, -3, 2, 0.1, /* second sample */ 0.2, -0.4, 0.9, 0.3]
        DataPredictionCorrection.dynamicThresholding().apply(&x, batch: 2)
        // Sample 1: sorted |x| = [0.1, 0.5, 2, 3]; position 0.995·3 = 2.985 → 2 + 0.985·1 = 2.985.
        let q = 2.985
        XCTAssertEqual(x[0], 0.5 / q, accuracy: 1e-12)
        XCTAssertEqual(x[1], -1, accuracy: 1e-12)
        XCTAssertEqual(x[2], 2 / q, accuracy: 1e-12)
        // Sample 2: quantile 0.4 + 0.985·0.5 = 0.8925 < 1, so s = 1 and nothing changes.
        XCTAssertEqual(Array(x[4...]), [0.2, -0.4, 0.9, 0.3])
        var c: [Double] = [-2, 0.5, 7]
        DataPredictionCorrection.clip.apply(&c, batch: 1)
        XCTAssertEqual(c, [-1, 0.5, 1])

        // An out-of-range model: x̂ ≡ 5. Without correction DPM-Solver++ follows it (and the output is clipped);
        // with `.clip` it behaves as a model predicting 1.
        let five: Denoiser = { z, _, _ in Tensor(repeating: 5, shape: z.shape) }
        let one: Denoiser = { z, _, _ in Tensor(repeating: 1, shape: z.shape) }
        let xT = column([-2, 0, 0.7])
        let raw = dpmSolverSample(model: five, steps: 6, xT: xT, recordTrajectory: true)
        XCTAssertTrue(raw.sample.array.allSatisfy { $0 >= -1 && $0 <= 1 })
        XCTAssertGreaterThan(raw.trajectory.last!.array.max()!, 4, "unclipped state follows x̂ = 5")
        let clipped = dpmSolverSample(model: five, steps: 6, xT: xT, correction: .clip, recordTrajectory: true)
        let ones = dpmSolverSample(model: one, steps: 6, xT: xT, recordTrajectory: true)
        XCTAssertEqual(clipped.trajectory.last!.array, ones.trajectory.last!.array)
        let pClipped = pndmSample(model: five, steps: 6, xT: xT, correction: .clip, recordTrajectory: true)
        let pOnes = pndmSample(model: one, steps: 6, xT: xT, recordTrajectory: true)
        XCTAssertEqual(pClipped.trajectory.last!.array, pOnes.trajectory.last!.array)
        XCTAssertTrue(pndmSample(model: five, steps: 6, xT: xT).sample.array.allSatisfy { $0 >= -1 && $0 <= 1 })

        // A constant x̂ = c is a fixed point of every exact step: the state is α_k c + σ_k ε at each index.
        let c0: Float = 0.3
        let const: Denoiser = { z, _, _ in Tensor(repeating: c0, shape: z.shape) }
        let z1 = column([0.4])
        for r in [dpmSolverSample(model: const, steps: 7, order: 3, xT: z1, skipType: .timeUniform, startIndex: 1024),
                  dpmSolverSample(model: const, steps: 12, order: 2, xT: z1, skipType: .logSNR, startIndex: 1024),
                  dpmSolverSample(model: const, steps: 12, xT: z1)] {
            let k = r.indices[0]
            let eps = (0.4 - sched.alphas[k] * Double(c0)) / sched.sigmas[k]
            XCTAssertEqual(Double(r.sample.item), sched.alphas[0] * Double(c0) + sched.sigmas[0] * eps, accuracy: 2e-6)
        }
    }

    func testDeterministicAndPerSample() {
        // Multi-pixel images with labels; each sample's result does not depend on the rest of the batch.
        var rng = RNG(seed: 11)
        let xT = Tensor.randn([3, 2, 2, 1], rng: &rng)
        let model: Denoiser = { z, ks, labels in
            XCTAssertEqual(labels, [0, 1, 2])
            let a = Float(CosineSchedule.shared.alphas[ks[0]])
            return (z * (0.5 * a)).clamped(-1, 1) + 0.05
        }
        for run in 0..<2 {
            let a = dpmSolverSample(model: model, steps: 9, order: 3, xT: xT, labels: [0, 1, 2])
            let b = dpmSolverSample(model: model, steps: 9, order: 3, xT: xT, labels: [0, 1, 2])
            XCTAssertEqual(a.sample.array, b.sample.array, "run \(run)")
            let p = pndmSample(model: model, steps: 7, xT: xT, labels: [0, 1, 2])
            let q = pndmSample(model: model, steps: 7, xT: xT, labels: [0, 1, 2])
            XCTAssertEqual(p.sample.array, q.sample.array)
            XCTAssertEqual(p.sample.shape, xT.shape)
        }
        let single: Denoiser = { z, ks, _ in
            let a = Float(CosineSchedule.shared.alphas[ks[0]])
            return (z * (0.5 * a)).clamped(-1, 1) + 0.05
        }
        let all = pndmSample(model: single, steps: 7, xT: xT).sample.array
        let one = pndmSample(model: single, steps: 7, xT: Tensor(Array(xT.array[4..<8]), shape: [1, 2, 2, 1])).sample.array
        XCTAssertEqual(Array(all[4..<8]), one)
    }
}
