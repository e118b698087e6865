import XCTest
import TestSupport
import Foundation
@testable import Tensor

/// The step-time changes of the U-Net training step that must not change numbers: the fused
/// GroupNorm+SiLU op, backward passes that store into a fresh gradient buffer instead of adding to a
/// zero-filled one, and the parallel, specialised broadcast loops.
final class FusedAndFreshGradTests: XCTestCase {
    /// groupNormSiLU is groupNorm followed by silu, bit for bit, forward and backward — also when the
    /// output's gradient is retained (the fused backward then must not overwrite it with dŷ).
    func testGroupNormSiLUEqualsTwoOpsBitForBit() {
        let (c, g) = (64, 32)
        func run(_ fused: Bool, retain: Bool) -> [[Float]] {
            let x = rand([3, 6, 5, c], seed: 81, -3, 3), gamma = rand([c], seed: 82, 0.5, 1.5), beta = rand([c], seed: 83)
            let y = fused ? groupNormSiLU(x, groups: g, weight: gamma, bias: beta) : groupNorm(x, groups: g, weight: gamma, bias: beta).silu()
            if retain { y.retainGrad() }
            (y * rand(y.shape, seed: 84, grad: false)).sum().backward()
            return [y.array, x.grad!.array, gamma.grad!.array, beta.grad!.array] + (retain ? [y.grad!.array] : [])
        }
        XCTAssertEqual(run(true, retain: false), run(false, retain: false))
        XCTAssertEqual(run(true, retain: true), run(false, retain: true))
        XCTAssertEqual(run(true, retain: true).last, rand([3, 6, 5, c], seed: 84, grad: false).array, "retained ∂L/∂y")
    }

    /// Every op that stores into a fresh gradient buffer must add when the buffer already exists: with
    /// the input used by two identical branches, its gradient is twice the one-branch gradient, so a
    /// store where an add belongs would show as a factor 1. (Equal to round-off, not bit for bit: the
    /// strided conv's input gradient adds its terms one by one into dx, so (g + t₁) + t₂ ≠ g + (t₁ + t₂).)
    func testSecondUseAccumulates() {
        let ops: [(String, [Int], (Tensor) -> Tensor)] = [
            ("silu", [2, 5, 7], { $0.silu() }),
            ("scaled", [3, 11], { $0.scaled(0.7) }),
            ("add same shape", [2, 3, 4], { $0 + rand([2, 3, 4], seed: 5, grad: false) }),
            ("add broadcast bias", [2, 3, 3, 4], { $0 + rand([2, 1, 1, 4], seed: 6, grad: false) }),
            ("mul broadcast", [2, 3, 3, 4], { $0 * rand([2, 1, 1, 1], seed: 7, grad: false) }),
            ("reshape", [2, 6], { $0.reshaped([3, 4]) }),
            ("concat", [2, 3, 2], { Tensor.concat([$0, $0.scaled(2)], axis: -1) }),
            ("softmax", [4, 9], { $0.softmax(axis: -1) }),
            ("matmul", [3, 5], { matmul($0, rand([5, 4], seed: 8, grad: false)) }),
            ("batched matmul", [2, 3, 5], { matmul($0, rand([2, 5, 4], seed: 9, grad: false), transB: false) }),
            ("groupNorm", [2, 3, 3, 8], { groupNorm($0, groups: 4, weight: Tensor(repeating: 1.1, shape: [8]), bias: Tensor(zeros: [8])) }),
            ("groupNormSiLU", [2, 3, 3, 8], { groupNormSiLU($0, groups: 4, weight: Tensor(repeating: 0.9, shape: [8]), bias: Tensor(zeros: [8])) }),
            ("conv 3x3", [2, 5, 5, 3], { conv2d($0, weight: rand([4, 3, 3, 3], seed: 10, grad: false), bias: nil, padding: 1) }),
            ("conv 3x3 stride 2", [2, 6, 6, 3], { conv2d($0, weight: rand([4, 3, 3, 3], seed: 11, grad: false), bias: nil, stride: 2, padding: 1) }),
            ("conv 1x1", [2, 4, 4, 5], { conv2d($0, weight: rand([3, 5, 1, 1], seed: 12, grad: false), bias: nil) }),
        ]
        for (name, shape, op) in ops {
            func grad(_ uses: Int) -> [Float] {
                let x = rand(shape, seed: 90)
                let y = op(x)
                let w = rand(y.shape, seed: 91, grad: false)
                var loss = (y * w).sum()
                if uses == 2 { loss = loss + (op(x) * w).sum() }
                loss.backward()
                return x.grad!.array
            }
            assertClose(grad(2), grad(1).map { 2 * Double($0) }, rtol: 1e-5, atol: 1e-6, name)
        }
    }

    /// Large broadcast ops (several parallel chunks of runs, starting mid-tensor) against Float64,
    /// and bit-identical for 1 and 2 threads, forward and backward.
    func testLargeBroadcastParallelRuns() {
        let saved = Threads.count
        defer { Threads.set(saved) }
        let sa = [4, 16, 16, 64]
        for sb in [[4, 1, 1, 64], [4, 1, 1, 1], [64]] {
            func run(_ threads: Int) -> [[Float]] {
                Threads.set(threads)
                let a = rand(sa, seed: 101), b = rand(sb, seed: 102, 0.5, 2)
                let y = a * b + a / b - b
                (y * rand(y.shape, seed: 103, grad: false)).sum().backward()
                let ref = Ref.broadcast(f64(a), sa, f64(b), sb, out: sa) { x, z in x * z + x / z - z }
                checkForward(y, ref, rtol: 1e-5, atol: 1e-5, "a ∘ b \(sb)")
                return [y.array, a.grad!.array, b.grad!.array]
            }
            XCTAssertEqual(run(1), run(2), "threads \(sb)")
        }
    }
}
