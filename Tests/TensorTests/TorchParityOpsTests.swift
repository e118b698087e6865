import XCTest
import TestSupport
import Foundation
import Tensor
import NN
import Checkpoint

/// Every op against PyTorch (Fixtures/ops.h5, scripts/fixtures/make_torch_fixtures.py), one line per
/// op in the tinygrad style: the case's inputs and parameters are loaded as leaves, the Swift op
/// runs forward, the fixed upstream gradient is back-propagated, and the output, every input and
/// parameter gradient and every in-place-updated buffer are compared with the reference.
///
/// References are PyTorch in float64 from the same float32 inputs, so the tolerance
/// (1e-4·|ref| + 1e-5 per element) bounds the Swift Float32 error alone; the measured worst is
/// reported per tensor (run with `--filter TorchParity` to see the lines).
final class TorchParityOpsTests: XCTestCase {
    static let opTolerance = Tolerance(rtol: 1e-4, atol: 1e-5)
    nonisolated(unsafe) static var cached: TorchFixture?

    func fixture() throws -> TorchFixture {
        if let f = Self.cached { return f }
        let f = try TorchFixture("ops", in: .module)
        Self.cached = f
        return f
    }

    /// The named leaves of one case: `x["name"]` for inputs and buffers, `x.optional` for a bias
    /// that some cases lack.
    struct Leaves {
        let tensors: [String: Tensor]
        subscript(_ name: String) -> Tensor {
            guard let t = tensors[name] else { preconditionFailure("no leaf '\(name)' in this case; have \(tensors.keys.sorted())") }
            return t
        }
        func optional(_ name: String) -> Tensor? { tensors[name] }
    }

    /// Loads `ops/<name>/in/*` (requiring gradients) and `ops/<name>/buf/*`, runs `op`, compares
    /// `out`, back-propagates `gout`, compares `grad/*` and `buf_out/*`.
    func checkOp(_ name: String, tolerance tol: Tolerance = opTolerance,
                 file: StaticString = #filePath, line: UInt = #line, _ op: (Leaves) -> Tensor) throws {
        let f = try fixture()
        let p = "ops/\(name)/"
        let inputNames = f.names(under: p + "in/"), bufferNames = f.names(under: p + "buf/")
        XCTAssertFalse(inputNames.isEmpty, "ops.h5 has no case '\(name)'", file: file, line: line)
        var leaves: [String: Tensor] = [:]
        for n in inputNames { leaves[n] = try f.tensor(p + "in/" + n, requiresGrad: true) }
        for n in bufferNames { leaves[n] = try f.tensor(p + "buf/" + n) }
        let out = op(Leaves(tensors: leaves))
        var report = [compareTensor("\(name) out", out, try f.tensor(p + "out"), tol, file: file, line: line)]
        out.backward(try f.tensor(p + "gout"))
        XCTAssertEqual(f.names(under: p + "grad/"), inputNames, "\(name): gradients in the file", file: file, line: line)
        for n in inputNames {
            report.append(compareTensor("\(name) grad \(n)", leaves[n]!.grad, try f.tensor(p + "grad/" + n), tol, file: file, line: line))
        }
        for n in bufferNames {
            report.append(compareTensor("\(name) buffer \(n) after", leaves[n]!, try f.tensor(p + "buf_out/" + n), tol, file: file, line: line))
        }
        print(report.map(\.line).joined(separator: "\n"))
    }

    // MARK: One line per op

    func testConv2dK3Stride1Pad1() throws { try checkOp("conv_k3s1p1") { conv2d($0["x"], weight: $0["weight"], bias: $0["bias"], stride: 1, padding: 1) } }
    func testConv2dK3Stride2Pad1() throws { try checkOp("conv_k3s2p1") { conv2d($0["x"], weight: $0["weight"], bias: $0["bias"], stride: 2, padding: 1) } }
    func testConv2dK1Stride1Pad0() throws { try checkOp("conv_k1s1p0") { conv2d($0["x"], weight: $0["weight"], bias: $0["bias"], stride: 1, padding: 0) } }
    func testConv2dNoBias() throws { try checkOp("conv_k3s1p1_nobias") { conv2d($0["x"], weight: $0["weight"], bias: $0.optional("bias"), stride: 1, padding: 1) } }
    func testGroupNorm() throws { try checkOp("group_norm") { groupNorm($0["x"], groups: 3, weight: $0["weight"], bias: $0["bias"], eps: 1e-5) } }
    func testBatchNormTraining() throws {
        try checkOp("batch_norm_train") { batchNorm($0["x"], weight: $0["weight"], bias: $0["bias"], runningMean: $0["running_mean"],
                                                     runningVar: $0["running_var"], training: true, momentum: 0.1, eps: 1e-5) }
    }
    func testBatchNormEval() throws {
        try checkOp("batch_norm_eval") { batchNorm($0["x"], weight: $0["weight"], bias: $0["bias"], runningMean: $0["running_mean"],
                                                    runningVar: $0["running_var"], training: false, momentum: 0.1, eps: 1e-5) }
    }
    func testLinear() throws { try checkOp("linear") { linear($0["x"], weight: $0["weight"], bias: $0["bias"]) } }
    func testAttention() throws { try checkOp("attention") { attention(q: $0["q"], k: $0["k"], v: $0["v"]) } }
    func testSoftmaxLastAxis() throws { try checkOp("softmax_last") { $0["x"].softmax(axis: -1) } }
    func testSoftmaxMiddleAxis() throws { try checkOp("softmax_axis1") { $0["x"].softmax(axis: 1) } }
    func testLogSoftmaxLastAxis() throws { try checkOp("log_softmax_last") { $0["x"].logSoftmax(axis: -1) } }
    func testLogSoftmaxMiddleAxis() throws { try checkOp("log_softmax_axis1") { $0["x"].logSoftmax(axis: 1) } }
    func testL2NormalizeWithZeroRow() throws { try checkOp("l2_normalize") { $0["x"].l2Normalized(axis: -1, eps: 1e-12) } }
    func testKLDivergenceTeacherTemperature() throws {
        try checkOp("kl_div_tau0.9") { klDivergence(teacherLogits: $0["teacher"], studentLogits: $0["student"], tauTeacher: 0.9, tauStudent: 1) }
    }
    func testUpsampleNearest2x() throws { try checkOp("upsample_nearest2x") { $0["x"].upsampleNearest2x() } }
    func testAvgPool2x2() throws { try checkOp("avg_pool2x2") { $0["x"].avgPool2x2() } }
    func testGlobalAvgPool() throws { try checkOp("global_avg_pool") { $0["x"].globalAvgPool() } }
    func testSiLU() throws { try checkOp("silu") { $0["x"].silu() } }
    func testReLU() throws { try checkOp("relu") { $0["x"].relu() } }
    func testMSE() throws { try checkOp("mse") { mseLoss($0["a"], $0["b"]) } }

    /// Every case in the file has a test above (a case added to the script without one fails here).
    func testEveryFixtureCaseIsCovered() throws {
        let cases = Set(try fixture().names(under: "ops/").map { String($0.split(separator: "/")[0]) })
        let covered: Set<String> = ["conv_k3s1p1", "conv_k3s2p1", "conv_k1s1p0", "conv_k3s1p1_nobias", "group_norm",
                                    "batch_norm_train", "batch_norm_eval", "linear", "attention", "softmax_last",
                                    "softmax_axis1", "log_softmax_last", "log_softmax_axis1", "l2_normalize",
                                    "kl_div_tau0.9", "upsample_nearest2x", "avg_pool2x2", "global_avg_pool",
                                    "silu", "relu", "mse"]
        XCTAssertEqual(cases, covered)
    }

    // MARK: Ten optimiser steps (llm.c's training check)

    /// nn.Sequential(Conv2d(3, 8, 3, padding=1), GroupNorm(4, 8), SiLU(), Conv2d(8, 3, 3, padding=1)).
    final class TinyNet: Module {
        let conv1: Conv2d, norm: GroupNorm, conv2: Conv2d
        override init() {
            var rng = RNG(seed: 0)   // overwritten by the fixture's initial weights
            conv1 = Conv2d(3, 8, kernel: 3, padding: 1, init: .torchDefault, rng: &rng)
            norm = GroupNorm(groups: 4, channels: 8)
            conv2 = Conv2d(8, 3, kernel: 3, padding: 1, init: .torchDefault, rng: &rng)
            super.init()
            child("0", conv1); child("1", norm); child("3", conv2)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { conv2(norm(conv1(x)).silu()) }
    }

    /// Replays PyTorch's 10 steps of Adam (lr 1e-2) with clip_grad_norm_(1.0) on an MSE loss, in
    /// Float32 on both sides (as PyTorch trains): each step's loss and pre-clip gradient norm, and
    /// the final weights, all within 1e-4·|ref| + 1e-5. The fixture's first four steps are clipped
    /// and the last six are not (the script asserts it), so both branches of the clipping matter;
    /// Adam's bias corrections, the clipping and its threshold each move the losses by ≫ the bound.
    func testTenAdamStepsWithGradientClippingMatchPyTorch() throws {
        let f = try fixture()
        guard case .double(let lr) = try f.attribute("train_lr"), case .double(let clip) = try f.attribute("train_clip"),
              case .int(let steps) = try f.attribute("train_steps") else { return XCTFail("ops.h5: training attributes have unexpected kinds") }
        let net = TinyNet()
        try net.loadState(from: f.checkpoint, prefix: "train/init/")
        let x = try f.tensor("train/x"), target = try f.tensor("train/target")
        let opt = Adam(net.namedTrainableParameters(), lr: Float(lr))
        var losses: [Float] = [], norms: [Float] = []
        for _ in 0..<Int(steps) {
            opt.zeroGrad()
            let loss = mseLoss(net(x), target)
            loss.backward()
            norms.append(clipGradNorm(net.parameters, maxNorm: Float(clip)))
            opt.update()
            losses.append(loss.item)
        }
        var report = [compareTensor("train losses", Tensor(losses, shape: [losses.count]), try f.tensor("train/losses"), Self.opTolerance),
                      compareTensor("train grad norms (pre-clip)", Tensor(norms, shape: [norms.count]), try f.tensor("train/grad_norms"), Self.opTolerance)]
        XCTAssertEqual(f.names(under: "train/final/params/"), net.namedParameters().map(\.0).sorted())
        for (n, p) in net.namedParameters() {
            report.append(compareTensor("train final \(n)", p, try f.tensor("train/final/params/" + n), Self.opTolerance))
        }
        print(report.map(\.line).joined(separator: "\n"))
    }
}
