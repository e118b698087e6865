import XCTest
import TestSupport
import Foundation
import Tensor
import NN
import Models
import Checkpoint
import RunModel

/// The U-Net and the DenseNet against PyTorch ports (Fixtures/unet_small.h5, densenet_small.h5,
/// written by scripts/fixtures/make_torch_fixtures.py): same weights loaded by PyTorch name with
/// `loadState`, same inputs, then the outputs, the input gradient and every parameter gradient of
/// Σ output ⊙ (fixed random weights) are compared.
///
/// The references are PyTorch in float64 from the stored float32 weights, so the differences are
/// the Swift Float32 error of a whole network (dozens of convolutions, normalisations, attention
/// softmaxes and concatenations, forward and backward). See `networkTolerance` for the bound.
final class TorchParityModelsTests: XCTestCase {
    /// |Δ| ≤ 1e-4·|ref| + 2e-5·max(max|ref| of the tensor, 1), per element.
    ///
    /// The relative part is the ops' bound. The absolute part is scaled by the tensor's largest
    /// element because a network chains dozens of Float32 ops whose round-off is relative to the
    /// magnitudes involved, so an element that is small through cancellation (a gradient summing
    /// terms of both signs) inherits an error at the scale of its tensor's large elements. The floor
    /// of 1 covers tensors whose exact value is 0: the attention key biases (softmax ignores
    /// q·b_k, constant over keys), where Swift gives |g| ≤ 3e-7. Measured on this machine, the
    /// worst element uses 7 % of the bound (U-Net) and 3 % (DenseNet), with max|Δ| ≈ 1e-6 × the
    /// tensor's scale. Moving one U-Net conv weight by 1e-3 fails 142 of its 149 tensors, and one
    /// DenseNet running variance by 1 % fails 44 of 101 (outputs included), by up to 28× the bound.
    static func networkTolerance(_ reference: Tensor) -> Tolerance {
        var m = 0.0
        for i in 0..<reference.count { m = max(m, abs(Double(reference.data[i]))) }
        return Tolerance(rtol: 1e-4, atol: 2e-5 * max(m, 1))
    }

    static func compare(_ name: String, _ got: Tensor?, _ want: Tensor, into report: inout [TensorComparison],
                        file: StaticString = #filePath, line: UInt = #line) {
        report.append(compareTensor(name, got, want, networkTolerance(want), file: file, line: line))
    }

    /// Prints a summary, the five closest-to-tolerance tensors and every failing one (all lines
    /// with RDD_PARITY_VERBOSE=1 in the environment); failures also go through XCTFail.
    static func printReport(_ title: String, _ report: [TensorComparison]) {
        let sorted = report.sorted { $0.worstRatio > $1.worstRatio }
        let failing = report.filter { !$0.passed }
        print("\(title): \(report.count) tensors, \(failing.count) out of tolerance")
        let verbose = ProcessInfo.processInfo.environment["RDD_PARITY_VERBOSE"] == "1"
        let shown = verbose ? report : failing + sorted.filter(\.passed).prefix(5)
        print(shown.map { "  " + $0.line }.joined(separator: "\n"))
    }

    struct FixtureError: Error, CustomStringConvertible { let description: String }

    func decodeConfig<C: Decodable>(_ type: C.Type, _ f: TorchFixture) throws -> C {
        let attr = try f.attribute("config_json")
        guard case .string(let json) = attr else { throw FixtureError(description: "\(f.name).h5: config_json is \(attr.kind), not a string") }
        return try JSONDecoder().decode(C.self, from: Data(json.utf8))
    }

    /// The PyTorch module's parameter count (frozen time table included), from the fixture.
    func parameterCount(_ f: TorchFixture) throws -> Int {
        let attr = try f.attribute("parameter_count")
        guard case .int(let n) = attr else { throw FixtureError(description: "\(f.name).h5: parameter_count is \(attr.kind), not int64") }
        return Int(n)
    }

    func testUNetMatchesPyTorch() throws {
        let f = try TorchFixture("unet_small", in: .module)
        let config = try decodeConfig(UNetConfig.self, f)
        XCTAssertFalse(config.attn.isEmpty, "the fixture must exercise attention")
        XCTAssertNotNil(config.numClasses, "the fixture must exercise class conditioning")
        let net = UNet(config, seed: 0)
        XCTAssertEqual(net.parameterCount, try parameterCount(f), "parameter count (PyTorch's, frozen table included)")
        var report: [TensorComparison] = []

        // The Swift time table is computed, not loaded: check it against PyTorch's float32 table
        // first (≤ 1 ulp of a value in [−1, 1] apart), then load every weight.
        let tableName = "time_embedding.timembedding.0.weight"
        let table = try XCTUnwrap(net.namedParameters().first { $0.0 == tableName }?.1)
        report.append(compareTensor("time table (computed)", table, try f.tensor("params/" + tableName), Tolerance(rtol: 0, atol: 2e-7)))
        try net.loadState(from: f.checkpoint)

        let x = try f.tensor("inputs/x", requiresGrad: true)
        var rng = RNG(seed: 0)   // dropout is 0: unused
        let out = net(x, timesteps: try f.ints("inputs/timesteps"), labels: try f.ints("inputs/labels"), rng: &rng)
        Self.compare("output", out, try f.tensor("outputs/output"), into: &report)
        (out * (try f.tensor("gout/output"))).sum().backward()
        Self.compare("grad input", x.grad, try f.tensor("grads/input"), into: &report)

        let trainable = net.namedTrainableParameters()
        XCTAssertEqual(f.names(under: "grads/params/"), trainable.map(\.0).sorted(), "gradient names = trainable parameter names")
        for (n, p) in trainable { Self.compare("grad \(n)", p.grad, try f.tensor("grads/params/" + n), into: &report) }
        Self.printReport("UNet vs PyTorch", report)
    }

    func testDenseNetEvalMatchesPyTorch() throws {
        let f = try TorchFixture("densenet_small", in: .module)
        let config = try decodeConfig(DenseNetConfig.self, f)
        let net = DenseNet(config, seed: 0)
        XCTAssertEqual(net.parameterCount, try parameterCount(f), "parameter count")
        try net.loadState(from: f.checkpoint)
        net.train(false)

        var report: [TensorComparison] = []
        let x = try f.tensor("inputs/x", requiresGrad: true)
        let out = net(x)
        Self.compare("logits", out.logits, try f.tensor("outputs/logits"), into: &report)
        Self.compare("feature map F", out.featureMap, try f.tensor("outputs/feature_map"), into: &report)
        Self.compare("pooled f", out.pooled, try f.tensor("outputs/pooled"), into: &report)
        let (gl, gF, gf) = (try f.tensor("gout/logits"), try f.tensor("gout/feature_map"), try f.tensor("gout/pooled"))
        let loss = (out.logits * gl).sum() + (out.featureMap * gF).sum() + (out.pooled * gf).sum()
        loss.backward()
        Self.compare("grad input", x.grad, try f.tensor("grads/input"), into: &report)

        let params = net.namedParameters()
        XCTAssertEqual(f.names(under: "grads/params/"), params.map(\.0).sorted(), "gradient names = parameter names")
        for (n, p) in params { Self.compare("grad \(n)", p.grad, try f.tensor("grads/params/" + n), into: &report) }
        // Evaluation mode must leave the running statistics (and the batch counter) untouched.
        for (n, b) in net.namedBuffers() {
            report.append(compareTensor("buffer \(n) after eval", b, try f.tensor("buffers/" + n), Tolerance(rtol: 0, atol: 0)))
        }
        Self.printReport("DenseNet (eval) vs PyTorch", report)
    }
}
