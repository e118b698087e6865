import XCTest
import Tensor
import Diffusion

/// Spec §8 P1, the two forms of the loss, and the sampler's final step (§1.7).
final class ProcessTests: XCTestCase {
    let sched = CosineSchedule.shared

    func testConstantTeacherGivesConstantTarget() throws {
        // P1: a teacher that always predicts x̂ ≡ 0.2 yields x̃ = 0.2 for every index triple.
        let constant: Denoiser = { z, _, _ in Tensor(repeating: 0.2, shape: z.shape) }
        var rng = RNG(seed: 1)
        let x = Tensor.randn([6, 3, 3, 1], rng: &rng)
        for steps in [1024, 8, 2] {
            let t = pdTarget(teacher: constant, grid: try StepGrid(steps: steps), x: x, labels: nil, rng: &rng)
            for v in t.xTilde.array { XCTAssertEqual(v, 0.2, accuracy: 2e-4, "T=\(steps)") }
            XCTAssertTrue(t.i0.allSatisfy { $0 % (1024 / steps) == 0 && $0 >= 2 * (1024 / steps) })
        }
    }

    func testTruncatedSNRLossEqualsMaxForm() {
        var rng = RNG(seed: 2)
        let x = Tensor.randn([5, 4, 4, 1], rng: &rng), eps = Tensor.randn([5, 4, 4, 1], rng: &rng)
        let xhat = Tensor.randn([5, 4, 4, 1], rng: &rng)
        let ks = [0, 256, 508, 700, 1024]
        let z = noised(x, eps: eps, at: ks)
        let a = truncatedSNRLoss(xhat: xhat, target: x, at: ks).item
        let b = maxFormLoss(xhat: xhat, x: x, z: z, eps: eps, at: ks).item
        XCTAssertEqual(a, b, accuracy: 2e-4 * b, "ω·MSE_x = max(MSE_x, MSE_ε)")
    }

    func testOneStepSamplerLandsAtIndexZero() throws {
        // A 1-step model visits 1024 → 0; output = clip(α₀x̂ + σ₀ε̂), ε̂ = (x_T − α₁₀₂₄x̂)/σ₁₀₂₄.
        let c: Float = 0.5
        let model: Denoiser = { z, _, _ in Tensor(repeating: c, shape: z.shape) }
        var rng = RNG(seed: 3)
        let xT = Tensor.randn([2, 2, 2, 1], rng: &rng)
        let out = ddimSample(model: model, indices: try StepGrid(steps: 1).samplingIndices(), xT: xT).sample
        let a0 = sched.alphas[0], s0 = sched.sigmas[0], a1 = sched.alphas[1024], s1 = sched.sigmas[1024]
        for (o, n) in zip(out.array, xT.array) {
            let epsHat = (Double(n) - a1 * Double(c)) / s1
            let expect = min(max(a0 * Double(c) + s0 * epsHat, -1), 1)
            XCTAssertEqual(Double(o), expect, accuracy: 1e-5)
            XCTAssertNotEqual(o, c, "the output is not x̂ itself")
        }
    }

    func testSamplerClipsPrediction() throws {
        // An out-of-range prediction is clipped before ε̂ is formed.
        let model: Denoiser = { z, _, _ in Tensor(repeating: 5, shape: z.shape) }
        let xT = Tensor(zeros: [1, 1, 1, 1])
        let out = ddimSample(model: model, indices: try StepGrid(steps: 1).samplingIndices(), xT: xT).sample
        let epsHat = (0 - sched.alphas[1024] * 1) / sched.sigmas[1024]
        XCTAssertEqual(Double(out.item), sched.alphas[0] + sched.sigmas[0] * epsHat, accuracy: 1e-6)
    }
}
