import XCTest
import Checkpoint
import Tensor
@testable import Inception

/// The whole FID Inception against PyTorch running the real TorchScript network (fixture written by
/// scripts/inception/make_fixture.py --wheel). The weights (87 MB) are not in the repository: when
/// `InceptionFID.defaultWeightsPath` is absent the comparison is skipped with the install commands
/// (scripts/setup.sh installs them, and CI fails on a skip: .ci/run).
final class NetworkTests: XCTestCase {
    func testArchitecture() {
        let net = InceptionV3()
        let convs = net.convLayers
        XCTAssertEqual(convs.count, 94)
        XCTAssertEqual(net.parameterCount, 21_802_784, "weights + β + mean + var of the TorchScript module")
        XCTAssertEqual(convs.first?.0, "layers.conv")
        XCTAssertEqual(convs.last?.0, "layers.mixed_10.tower_2_conv")
        // The asymmetric layers: 1×7/7×1 in blocks C and D, 1×3/3×1 in block E.
        XCTAssertEqual(convs.filter { $0.1.geometry.kh != $0.1.geometry.kw }.count, 4 * 6 + 2 + 2 * 4)
        XCTAssertTrue(net.namedParameters().allSatisfy { !$0.1.requiresGrad }, "the extractor is frozen")
    }

    func testFeaturesMatchPyTorch() throws {
        let path = InceptionFID.defaultWeightsPath
        guard InceptionFID.weightsInstalled(at: path) else {
            throw XCTSkip("FID Inception weights not installed at \(path); comparison with PyTorch not run.\n"
                          + InceptionError.installInstructions)
        }
        let fid = try InceptionFID.load(from: path)
        let ref = try Fixtures.checkpoint("inception_reference.h5")
        for (name, range) in [("rgb", InceptionFID.InputRange.zeroOne), ("grey", .minusOneOne)] {
            let images = try Fixtures.tensor(ref, "\(name)_input")
            let x = try InceptionFID.preprocess(images, range: range)
            let (f, taps) = fid.network.featuresAndStageMeans(x)
            let want = try Fixtures.tensor(ref, "\(name)_features")
            XCTAssertEqual(f.shape, want.shape)
            let d = maxAbsDiff(f.array, want.array)
            let scale = want.array.map { abs($0) }.max() ?? 0
            print("NetworkTests: \(name) pool3 features max |swift − torch| = \(d) (max |feature| \(scale))")
            XCTAssertLessThanOrEqual(d, 1e-4, "\(name): pool3 features differ from PyTorch by \(d)")
            var worstStage = ("", 0.0)
            XCTAssertEqual(Set(taps.keys), Set(InceptionV3.stageNames))
            for stage in InceptionV3.stageNames {
                let w = try Fixtures.tensor(ref, "\(name)_means/\(stage)")
                guard let got = taps[stage] else { XCTFail("no tap for \(stage)"); continue }
                XCTAssertEqual(got.shape, w.shape, stage)
                let ds = maxAbsDiff(got.array, w.array)
                if ds > worstStage.1 { worstStage = (stage, ds) }
                XCTAssertLessThanOrEqual(ds, 1e-4, "\(name): channel means after \(stage) differ by \(ds)")
            }
            print("NetworkTests: \(name) worst stage channel-mean difference \(worstStage.1) at \(worstStage.0)")
            // The batched API gives the same features (batch of 1 at a time).
            let g = try fid.features(images, range: range, batchSize: 1)
            XCTAssertLessThanOrEqual(maxAbsDiff(g.array, want.array), 1e-4)
        }
    }
}
