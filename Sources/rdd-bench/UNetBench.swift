import ArgumentParser
import Foundation
import Tensor
import NN
import Models
import RunModel

/// `rdd-bench unet`: one U-Net training step (forward + MSE + backward + Adam) of the anchor network of
/// scripts/bench/torch_unet_bench.py — 32×32×3, ch 64, mult (1,2,2), 2 res blocks, attention at 16×16
/// and in the middle — in Swift, then the PyTorch anchor in the same invocation, and the ratio.
///
/// Our network is the DDPM U-Net of spec §2.2 in that configuration. It differs from the anchor only
/// where FLOPs do not change: separate q/k/v 1×1 convs instead of one fused qkv conv, an interleaved
/// sin/cos table (a frozen 1025×64 parameter) instead of an on-the-fly embedding.
struct UNetBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unet", abstract: "U-Net training step vs the PyTorch anchor in the same run.")
    @Option(help: "Threads (OpenBLAS and ours; PyTorch gets the same).") var threads = 2
    @Option(help: "Batch size.") var batch = 32
    @Option(help: "Timed steps (median reported).") var steps = 5
    @Option(help: "Warm-up steps.") var warmup = 2
    @Option(help: "Python interpreter.") var python = "python3"
    @Option(help: "The PyTorch anchor script.") var script = "scripts/bench/torch_unet_bench.py"
    @Flag(help: "Do not run PyTorch.") var skipTorch = false
    @Flag(help: "Run every product on OpenBLAS (not our AVX2 kernel), for comparison.") var openblasOnly = false
    @Flag(help: "Run the Aᵀ·B products (weight gradients) on OpenBLAS, for comparison.") var openblasWeightGrad = false
    @Flag(help: "Time inference (sampling): the forward pass without an autograd graph, against PyTorch's forward under torch.no_grad() (the anchor script's 'fwd-only' figure).")
    var forward = false

    func run() throws {
        Threads.set(threads)
        GemmDispatch.ownKernel = !openblasOnly
        GemmDispatch.ownKernelTransposedA = !openblasWeightGrad
        let cfg = UNetConfig(imageSize: 32, inChannels: 3, ch: 64, chMult: [1, 2, 2], attn: [1], numResBlocks: 2, dropout: 0)
        let net = UNet(cfg, seed: 0)
        let adam = Adam(net.namedTrainableParameters(), lr: 2e-4)
        var rng = RNG(seed: 0)
        let x0 = Tensor.randn([batch, 32, 32, 3], rng: &rng)
        func step() {
            let t = (0..<batch).map { _ in rng.int(below: 1000) }
            let noise = Tensor.randn(x0.shape, rng: &rng)
            let a = Tensor(rng.uniforms(batch), shape: [batch, 1, 1, 1])
            let xt = a.sqrt() * x0 + (a.scaled(-1).shifted(1)).sqrt() * noise
            let loss = mseLoss(net(xt, timesteps: t, rng: &rng), noise)
            adam.zeroGrad()
            loss.backward()
            adam.update()
        }
        // Inference: the forward pass at t = 0 under noGrad (no graph, no gradient buffers), as the anchor's
        // `model(x0, zeros)` under torch.no_grad().
        let zeros = [Int](repeating: 0, count: batch)
        func forwardPass() { _ = Autograd.noGrad { net(x0, timesteps: zeros, rng: &rng) } }
        let work = forward ? forwardPass : step
        for _ in 0..<warmup { work() }
        var times: [Double] = []
        for _ in 0..<steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            work()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        times.sort()
        let swiftMs = times[times.count / 2]
        let what = forward ? "forward (no grad)" : "train step"
        print(String(format: "Swift  U-Net batch %d: %.2f M parameters (%.2f M trainable), ", batch, Double(net.parameterCount) / 1e6,
                     Double(adam.params.reduce(0) { $0 + $1.1.count }) / 1e6)
              + what + String(format: " median %.1f ms (best %.1f, n=%d), threads %d", swiftMs, times[0], steps, threads)
              + ", kernels \(KernelInfo.ownGemmISA ?? "OpenBLAS"), conv \(Conv2dTuning.algorithm.rawValue)")
        guard !skipTorch else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [python, script, "--threads", "\(threads)", "--batches", "\(batch)", "--steps", "\(steps)", "--warmup", "\(warmup)"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        do { try p.run() } catch { print("PyTorch: could not start \(python) \(script): \(error)"); return }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0, let line = text.split(separator: "\n").first(where: { $0.contains("UNet batch") }) else {
            print("PyTorch: not available (exit \(p.terminationStatus)); install with: pip install \"torch==2.13.0+cpu\"")
            return
        }
        print("PyTorch " + line.trimmingCharacters(in: .whitespaces))
        if forward {
            // "... | fwd-only 123.4 ms, 20.1 GFLOP -> ..."
            guard let r = line.range(of: "fwd-only "), let ms = Double(line[r.upperBound...].split(separator: " ")[0]) else {
                print("PyTorch: no fwd-only figure in its output"); return
            }
            print(String(format: "ratio (PyTorch no_grad forward / Swift forward, ≥ 1 means Swift is faster): %.2f", ms / swiftMs))
            return
        }
        if let r = line.range(of: "train step median"), let ms = Double(line[r.upperBound...].trimmingCharacters(in: .whitespaces).split(separator: " ")[0]) {
            var gflop: Double?
            if let g = line.range(of: " ms/img, "), let v = Double(line[g.upperBound...].split(separator: " ")[0]) { gflop = v }
            print(String(format: "ratio (PyTorch time / Swift time, ≥ 1 means Swift is faster): %.2f", ms / swiftMs))
            if let gflop { print(String(format: "throughput at the anchor's %.1f GFLOP/step: Swift %.1f GFLOP/s, PyTorch %.1f GFLOP/s", gflop, gflop / swiftMs * 1e3, gflop / ms * 1e3)) }
        }
    }
}
