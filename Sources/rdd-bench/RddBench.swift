import ArgumentParser
import Foundation
import Tensor

@main
struct RddBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-bench",
        abstract: "Micro-benchmarks of rdd's kernels, compared with PyTorch CPU in the same run.",
        subcommands: [ConvBench.self, GemmBench.self, UNetBench.self, StepBench.self, InceptionBench.self, SamplingBench.self, FIDBench.self, HarnessScaleBench.self, DashboardBench.self, PlanDump.self])
}

/// One convolution shape: batch, channels, square spatial size, kernel, stride, padding.
struct ConvShape {
    var batch, cin, cout, hw, k, stride, pad: Int
    var ho: Int { conv2dOutputSize(hw, kernel: k, stride: stride, padding: pad) }
    /// Forward FLOPs (2 per multiply-add, over the output grid).
    var fwdFlops: Double { 2 * Double(cout * cin * k * k) * Double(ho * ho * batch) }
    var spec: String { "\(batch),\(cin),\(cout),\(hw),\(k),\(stride),\(pad)" }
    var label: String {
        "\(k)x\(k)\(stride > 1 ? "/s\(stride)" : "") \(cin)->\(cout) @\(hw)x\(hw) b\(batch)"
    }

    init(_ batch: Int, _ cin: Int, _ cout: Int, _ hw: Int, k: Int = 3, stride: Int = 1, pad: Int? = nil) {
        self.batch = batch; self.cin = cin; self.cout = cout; self.hw = hw; self.k = k
        self.stride = stride; self.pad = pad ?? k / 2
    }

    init?(spec: String) {
        let v = spec.split(separator: ",").compactMap { Int($0) }
        guard v.count == 7 else { return nil }
        self.init(v[0], v[1], v[2], v[3], k: v[4], stride: v[5], pad: v[6])
    }
}

/// Timed runs of one case (ms), Swift and PyTorch per layout.
struct Samples {
    var swiftFB = [Double](), swiftF = [Double]()
    /// Process CPU milliseconds (all threads, getrusage) of each timed run: robust to other processes on a shared machine.
    var swiftFBCPU = [Double](), swiftFCPU = [Double]()
    var torchFB = [String: [Double]](), torchF = [String: [Double]]()
    /// Seconds waited for the other side's threads to fall quiet before each turn (`waitUntilQuiet`).
    var settledSwift = [Double](), settledTorch = [Double]()
}

/// scripts/bench/torch_conv.py --serve as a child process: one request line in, one JSON line out.
final class TorchServer {
    let process = Process()
    let input = Pipe(), output = Pipe()
    var info = ""
    var buffer = Data()

    init?(python: String, script: String, threads: Int, runs: Int, warmup: Int) {
        guard FileManager.default.fileExists(atPath: script) else { return nil }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script, "--serve", "--threads", "\(threads)", "--warmup", "\(warmup)"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        do { try process.run() } catch { return nil }
        guard let hello = readJSON(), let v = hello["torch"] as? String else { close(); return nil }
        info = "torch \(v), threads \(hello["threads"] ?? "?"), cpu capability \(hello["cpu_capability"] ?? "?")"
    }

    func readLine() -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...nl)
                return line
            }
            let d = output.fileHandleForReading.availableData
            if d.isEmpty { return nil }
            buffer.append(d)
        }
    }

    func readJSON() -> [String: Any]? {
        guard let line = readLine() else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// Times `n` calls (kind "fb" = forward+backward, "f" = forward) of the case, in ms; n = 0 just
    /// builds and warms the case up.
    func time(_ spec: String, _ layout: String, _ kind: String, _ n: Int, warm: Int = 0) -> [Double]? {
        input.fileHandleForWriting.write(Data("\(spec) \(layout) \(kind) \(n) \(warm)\n".utf8))
        return readJSON()?["times_ms"] as? [Double]
    }

    func close() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.waitUntilExit() }
    }
}

/// Nanoseconds the threads of process `pid` have run on a CPU: the sum of the first field of
/// /proc/<pid>/task/*/schedstat (nanosecond resolution, unlike the 10 ms ticks of /proc/<pid>/stat), leaving out
/// thread `excluding`. Nil where /proc has no such file (not Linux, or the process is gone).
func threadsRunNanoseconds(pid: Int32, excluding: Int32? = nil) -> UInt64? {
    let dir = "/proc/\(pid)/task"
    guard let tids = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
    var total: UInt64 = 0
    for tid in tids where Int32(tid) != excluding {
        guard let text = try? String(contentsOfFile: "\(dir)/\(tid)/schedstat", encoding: .utf8),
              let ns = text.split(separator: " ").first.flatMap({ UInt64($0) }) else { continue }
        total &+= ns
    }
    return total
}

/// This thread's kernel id (the "TID" of /proc/thread-self → "PID/task/TID"; glibc's gettid is not imported into Swift).
func currentThreadID() -> Int32? {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"))
        .flatMap { $0.split(separator: "/").last }.flatMap { Int32($0) }
}

/// Waits until the threads of `pid` (other than `excluding`) have run less than 0.1 ms in a 5 ms window, at most
/// `limit` seconds; returns the seconds waited. Why: after every call PyTorch's OpenMP workers spin-wait before they
/// sleep (libgomp's default wait policy) — measured on the Xeon of sessions 12–17: 6–8 ms of CPU after each 1×1
/// convolution (0.1 ms with OMP_WAIT_POLICY=PASSIVE) — so a turn of ours that starts at once shares the two cores with
/// a spinning thread: our forward of 1×1, strided and 3-channel layers measured 1.3–2× slower in the alternation than
/// alone (docs/benchmarks.md, "Session 17"). Each side's turn starts once the other side is quiet.
@discardableResult
func waitUntilQuiet(pid: Int32, excluding: Int32? = nil, limit: Double = 1) -> Double {
    let start = nowSeconds()
    guard var last = threadsRunNanoseconds(pid: pid, excluding: excluding) else { return 0 }
    while nowSeconds() - start < limit {
        usleep(5_000)
        guard let now = threadsRunNanoseconds(pid: pid, excluding: excluding) else { break }
        if now &- last < 100_000 { break }
        last = now
    }
    return nowSeconds() - start
}

func nowSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

/// Process CPU time (user + system), seconds: robust to other processes on a shared machine.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6
}

func median(_ a: [Double]) -> Double { let s = a.sorted(); return s[s.count / 2] }

struct ConvBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "NHWC conv2d forward and forward+backward (dx, dW, db) vs PyTorch nn.Conv2d (NCHW and channels-last).")

    @Option(help: "Threads for our kernels and OpenBLAS (and torch.set_num_threads).") var threads = 2
    @Option(help: "Timed runs per case (median reported).") var runs = 10
    @Option(help: "Untimed warm-up runs per case.") var warmup = 3
    @Flag(help: "Only the main case (conv3x3 64->64 @32x32 batch 32) instead of the U-Net shape table.")
    var mainOnly = false
    @Option(parsing: .singleValue, help: "Extra/replacement shape(s) batch,cin,cout,hw,k,stride,pad (repeatable).")
    var shape: [String] = []
    @Flag(help: "Skip the PyTorch comparison.") var noTorch = false
    @Option(help: "Timed runs per turn: the sides take turns, each doing one untimed run and then this many timed ones (so every timed run is warm, and both sides see the same load).")
    var block = 3
    @Option(help: "Path of the PyTorch benchmark script.") var torchScript = "scripts/bench/torch_conv.py"
    @Option(help: "Python interpreter.") var python = "python3"
    @Flag(help: "Print the time split between lowering (im2col/col2im) and GEMM.") var profile = false
    @Flag(help: "Before every conv call run a small multi-threaded sgemm (as a linear layer would) to see the cost of OpenBLAS worker threads spin-waiting while our workers run.")
    var blasNoise = false
    @Option(help: "Tuning: im2col chunk floats (per thread).") var chunkFloats: Int?
    @Option(help: "Tuning: 'thread' (per-thread lowering+sgemm) or 'shared' (parallel im2col + threaded sgemm).")
    var mode: String?
    @Option(help: "Tuning: row-band lowering for stride-1 convs (1) or full im2col (0).") var band: Int?
    @Option(help: "Tuning: least output pixels per image for the band lowering.") var bandMinPixels: Int?
    @Option(help: "Tuning: least number of chunks per lowering.") var minChunks: Int?
    @Option(help: "Repeat the whole (interleaved) table this many times; medians over all runs are reported.")
    var rounds = 1
    @Flag(help: "Time the forward only (no forward+backward runs).") var forwardOnly = false
    @Flag(help: "Prepare (transform, pack) the weights in every call, as a training step does, instead of keeping them between calls with unchanged weights (Conv2dTuning.preparedWeightBytes = 0).")
    var noWeightCache = false
    @Flag(help: "Start each turn at once instead of waiting until the other side's threads are quiet (PyTorch's OpenMP workers spin for milliseconds after each call; see waitUntilQuiet). For comparison with the tables taken before session 17.")
    var noSettle = false

    func shapes() -> [ConvShape] {
        if !shape.isEmpty { return shape.compactMap { ConvShape(spec: $0) } }
        let main = ConvShape(32, 64, 64, 32)
        if mainOnly { return [main] }
        // The anchor U-Net (torch_unet_bench.py: ch 64, mult (1,2,2), 32x32) and wider variants.
        return [
            main,
            ConvShape(32, 3, 64, 32),                  // first conv (input 3 channels)
            ConvShape(32, 128, 64, 32),                // up path at 32x32 (concatenated skip)
            ConvShape(32, 128, 128, 16),               // level 1 res block
            ConvShape(32, 128, 128, 8),                // level 2 / middle
            ConvShape(32, 64, 64, 32, stride: 2),      // downsample 32 -> 16
            ConvShape(32, 128, 128, 16, stride: 2),    // downsample 16 -> 8
            ConvShape(32, 192, 128, 16, k: 1),         // 1x1 skip conv after concatenation
            ConvShape(32, 128, 384, 16, k: 1),         // attention qkv projection
            ConvShape(32, 64, 3, 32),                  // last conv
            ConvShape(32, 256, 256, 8),                // wider U-Net, 8x8
            ConvShape(32, 256, 256, 4),                // wider U-Net, 4x4
            ConvShape(128, 128, 128, 32),              // the paper's U-Net level 0 at batch 128
        ]
    }

    func run() throws {
        Threads.set(threads)
        if let c = chunkFloats { Conv2dTuning.chunkFloats = c }
        if let m = mode { Conv2dTuning.perThread = (m != "shared") }
        if let m = minChunks { Conv2dTuning.minChunks = m }
        if let b = band { Conv2dTuning.bandLowering = b != 0 }
        if let b = bandMinPixels { Conv2dTuning.bandMinPixels = b }
        if noWeightCache { Conv2dTuning.preparedWeightBytes = 0 }
        let cases = shapes()
        let modeName = Conv2dTuning.perThread ? "per-thread" : "shared"
        let bandInfo = "band \(Conv2dTuning.bandLowering) (min \(Conv2dTuning.bandMinPixels) px)"
        print("rdd-bench conv: threads \(Threads.count), runs \(runs) (median), warm-up \(warmup), rounds \(rounds); "
              + "mode \(modeName), chunk \(Conv2dTuning.chunkFloats) floats, \(bandInfo), "
              + "min chunks \(Conv2dTuning.minChunks)")
        var samples = [Samples](repeating: Samples(), count: cases.count)
        var torch: TorchServer? = nil
        if !noTorch {
            torch = TorchServer(python: python, script: torchScript, threads: threads, runs: runs, warmup: warmup)
            if let t = torch { print("PyTorch: \(t.info)") } else {
                print("PyTorch not available (\(python) \(torchScript) failed, or no 'import torch'): Swift only")
            }
        }
        // Turns alternate: Swift, PyTorch NCHW, PyTorch NHWC, Swift, ... so that on a shared machine both sides
        // sample the same load, each turn starting once the other side's threads are quiet (`waitUntilQuiet`);
        // `rounds` repeats the whole table.
        for round in 0..<max(1, rounds) {
            for (i, c) in cases.enumerated() {
                benchCase(c, torch, &samples[i], verbose: round == 0)
            }
        }
        torch?.close()
        printTable(cases, samples, torch != nil)
        if torch != nil {
            let beforeSwift = samples.flatMap(\.settledSwift), beforeTorch = samples.flatMap(\.settledTorch)
            if noSettle { print("turns started at once (--no-settle): PyTorch's spinning OpenMP workers overlap our turns") }
            else if !beforeSwift.isEmpty, !beforeTorch.isEmpty {
                print(String(format: "settling: each turn waited for the other side's threads to fall quiet: before ours median %.1f ms (max %.1f), before PyTorch's median %.1f ms (max %.1f)",
                             median(beforeSwift) * 1e3, beforeSwift.max()! * 1e3, median(beforeTorch) * 1e3, beforeTorch.max()! * 1e3))
            }
        }
    }

    func printTable(_ cases: [ConvShape], _ sm: [Samples], _ withTorch: Bool) {
        print("")
        print("fwd+bwd = forward + dX + dW + db (3x fwd FLOPs); medians of \(max(1, rounds) * ((runs + max(1, block) - 1) / max(1, block)) * max(1, block)) runs "
              + "(sides alternate in turns of 1 untimed + \(max(1, block)) timed runs); "
              + "ratio = PyTorch best layout / Swift (>= 1.0: Swift faster)")
        print("CPU ms = process CPU time (user + system, all threads) per timed run, mean over the runs: "
              + "the measure to compare under load (wall times are not)")
        let hdr = ["case", "Swift f+b ms", "GFLOP/s", "torch NCHW", "torch NHWC", "ratio f+b",
                   "Swift fwd ms", "GFLOP/s", "torch NCHW", "torch NHWC", "ratio fwd", "f+b CPU ms", "fwd CPU ms"]
        let widths = [26, 12, 7, 10, 10, 9, 12, 7, 10, 10, 9, 10, 10]
        func row(_ cells: [String]) -> String {
            zip(cells, widths).enumerated().map { i, cw in
                i == 0 ? cw.0.padding(toLength: cw.1, withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: max(0, cw.1 - cw.0.count)) + cw.0
            }.joined(separator: " ")
        }
        func med(_ v: [Double]?) -> Double? { (v?.isEmpty ?? true) ? nil : median(v!) }
        print(row(hdr))
        for (i, c) in cases.enumerated() {
            let s = sm[i]
            let sfb = s.swiftFB.isEmpty ? .nan : median(s.swiftFB), sf = median(s.swiftF)
            var cells = [c.label, f1(sfb), f0(3 * c.fwdFlops / sfb / 1e6)]
            let nchwFB = withTorch ? med(s.torchFB["NCHW"]) : nil, nhwcFB = withTorch ? med(s.torchFB["NHWC"]) : nil
            let nchwF = withTorch ? med(s.torchF["NCHW"]) : nil, nhwcF = withTorch ? med(s.torchF["NHWC"]) : nil
            let bestFB = [nchwFB, nhwcFB].compactMap { $0 }.min(), bestF = [nchwF, nhwcF].compactMap { $0 }.min()
            cells += [nchwFB.map(f1) ?? "-", nhwcFB.map(f1) ?? "-", bestFB.map { f2($0 / sfb) } ?? "-"]
            cells += [f1(sf), f0(c.fwdFlops / sf / 1e6), nchwF.map(f1) ?? "-", nhwcF.map(f1) ?? "-",
                      bestF.map { f2($0 / sf) } ?? "-"]
            func mean(_ v: [Double]) -> String { v.isEmpty ? "-" : String(format: "%.2f", v.reduce(0, +) / Double(v.count)) }
            cells += [mean(s.swiftFBCPU), mean(s.swiftFCPU)]
            print(row(cells))
        }
    }

    func f0(_ v: Double) -> String { String(format: "%.0f", v) }
    func f1(_ v: Double) -> String { String(format: "%.1f", v) }
    func f2(_ v: Double) -> String { String(format: "%.2f", v) }

    func benchCase(_ c: ConvShape, _ torch: TorchServer?, _ out: inout Samples, verbose: Bool) {
        var rng = RNG(seed: 1)
        let x = rng.uniforms(c.batch * c.hw * c.hw * c.cin, -1, 1)
        let w = rng.uniforms(c.cout * c.cin * c.k * c.k, -0.1, 0.1)
        let b = rng.uniforms(c.cout, -0.1, 0.1)
        let ySize = c.batch * c.ho * c.ho * c.cout
        var y = [Float](repeating: 0, count: ySize)
        let dy = [Float](repeating: 1, count: ySize)
        var dx = [Float](repeating: 0, count: x.count)
        var dw = [Float](repeating: 0, count: w.count)
        var db = [Float](repeating: 0, count: b.count)
        let noiseN = 128
        let noiseA = [Float](repeating: 0.5, count: noiseN * noiseN)
        var noiseC = [Float](repeating: 0, count: noiseN * noiseN)
        func noise() {
            if !blasNoise { return }
            noiseC.withUnsafeMutableBufferPointer { cp in
                sgemm(m: noiseN, n: noiseN, k: noiseN, a: noiseA, b: noiseA, c: cp.baseAddress!)
            }
        }
        func fwd() {
            noise()
            y.withUnsafeMutableBufferPointer { yp in
                conv2dForward(yp.baseAddress!, x, w, b, batch: c.batch, height: c.hw, width: c.hw,
                              inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.stride, padding: c.pad)
            }
        }
        func bwd() {
            noise()
            dx.withUnsafeMutableBufferPointer { dxp in dw.withUnsafeMutableBufferPointer { dwp in
                db.withUnsafeMutableBufferPointer { dbp in
                    conv2dBackward(dxp.baseAddress!, dwp.baseAddress!, dbp.baseAddress!, dy, x, w,
                                   batch: c.batch, height: c.hw, width: c.hw, inChannels: c.cin, outChannels: c.cout,
                                   kernel: c.k, stride: c.stride, padding: c.pad)
                }
            } }
        }
        for _ in 0..<warmup { fwd(); bwd() }
        let layouts = ["NCHW", "NHWC"]
        if let t = torch { for l in layouts { _ = t.time(c.spec, l, "fb", 0) } }
        // Turns: Swift (1 untimed + `block` timed runs), PyTorch NCHW (same), PyTorch NHWC (same), ...
        let blk = max(1, block)
        let turns = (runs + blk - 1) / blk
        let me = getpid(), myThread = currentThreadID()
        for kind in forwardOnly ? ["f"] : ["fb", "f"] {
            for _ in 0..<turns {
                if let t = torch, !noSettle { out.settledSwift.append(waitUntilQuiet(pid: t.process.processIdentifier)) }
                if kind == "fb" { fwd(); bwd() } else { fwd() }
                for _ in 0..<blk {
                    let t0 = nowSeconds(), cpu0 = cpuSeconds()
                    if kind == "fb" { fwd(); bwd() } else { fwd() }
                    let ms = (nowSeconds() - t0) * 1e3, cpuMs = (cpuSeconds() - cpu0) * 1e3
                    if kind == "fb" { out.swiftFB.append(ms); out.swiftFBCPU.append(cpuMs) } else { out.swiftF.append(ms); out.swiftFCPU.append(cpuMs) }
                }
                guard let t = torch else { continue }
                if !noSettle { out.settledTorch.append(waitUntilQuiet(pid: me, excluding: myThread)) }   // our workers, not this thread
                for l in layouts {
                    guard let v = t.time(c.spec, l, kind, blk, warm: 1) else { continue }
                    if kind == "fb" { out.torchFB[l, default: []] += v } else { out.torchF[l, default: []] += v }
                }
            }
        }
        if !(profile && verbose) { return }
        // Profile: separate (non-interleaved) runs with the phase timers on.
        Conv2dProfile.enabled = true
        Conv2dProfile.reset()
        var tfb = [Double](), tb = [Double](), tf = [Double]()
        let cpu0 = cpuSeconds()
        for _ in 0..<runs {
            let t0 = nowSeconds(); fwd(); let t1 = nowSeconds(); bwd(); let t2 = nowSeconds()
            tfb.append(t2 - t0); tb.append(t2 - t1)
        }
        let cpuMs = (cpuSeconds() - cpu0) * 1e3 / Double(runs)
        let prof = Conv2dProfile.totals
        Conv2dProfile.reset()
        for _ in 0..<runs {
            let t0 = nowSeconds(); fwd(); tf.append(nowSeconds() - t0)
        }
        let profF = Conv2dProfile.totals
        Conv2dProfile.enabled = false
        let total = tfb.reduce(0, +) * 1e9
        print(String(format: "  profile %@: fwd+bwd %.1f ms/run; lowering %.1f thread-ms/run, gemm %.1f thread-ms/run "
                     + "(%.0f%% / %.0f%% of %d-thread wall); bwd alone %.1f ms; CPU %.1f ms/run",
                     c.label, median(tfb) * 1e3, Double(prof.lowering) / 1e6 / Double(runs),
                     Double(prof.gemm) / 1e6 / Double(runs),
                     100 * Double(prof.lowering) / (total * Double(threads)),
                     100 * Double(prof.gemm) / (total * Double(threads)), threads, median(tb) * 1e3, cpuMs))
        print(String(format: "  profile %@: fwd %.1f ms/run; lowering %.1f thread-ms/run, gemm %.1f thread-ms/run, "
                     + "other %.2f ms/run (fwd+bwd other %.2f ms/run)",
                     c.label, median(tf) * 1e3, Double(profF.lowering) / 1e6 / Double(runs),
                     Double(profF.gemm) / 1e6 / Double(runs), Double(profF.other) / 1e6 / Double(runs),
                     Double(prof.other) / 1e6 / Double(runs)))
    }
}

/// sgemm throughput at given shapes (to choose GEMM orientations and chunk sizes for the conv kernels).
struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "OpenBLAS sgemm GFLOP/s for row-major shapes ta,tb,m,n,k (--own-kernel: our CGemm kernel where sgemm() dispatches to it).")
    @Option(help: "OpenBLAS threads.") var threads = 2
    @Flag(help: "Let sgemm() dispatch to our AVX2 kernel (CGemm) for the shapes it takes; default: OpenBLAS only.") var ownKernel = false
    @Option(help: "Timed runs (median).") var runs = 20
    @Option(parsing: .singleValue, help: "Shape ta,tb,m,n,k (ta/tb = 0/1), repeatable.") var shape: [String] = []
    @Option(help: "Also run this many independent single-threaded sgemms concurrently (one per thread).")
    var concurrent = 0

    func run() throws {
        Threads.set(threads)
        GemmDispatch.ownKernel = ownKernel
        for spec in shape {
            let v = spec.split(separator: ",").compactMap { Int($0) }
            guard v.count == 5 else { continue }
            let (ta, tb, m, n, k) = (v[0] != 0, v[1] != 0, v[2], v[3], v[4])
            var rng = RNG(seed: 2)
            let copies = max(1, concurrent)
            let a = rng.uniforms(m * k * copies, -1, 1), b = rng.uniforms(k * n * copies, -1, 1)
            var c = [Float](repeating: 0, count: m * n * copies)
            var ts = [Double]()
            var cpu = 0.0
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                let A = SendablePtr(ap.baseAddress!), B = SendablePtr(bp.baseAddress!), C = SendablePtr(cp.baseAddress!)
                func once() {
                    if concurrent > 0 {
                        Threads.set(1)
                        DispatchQueue.concurrentPerform(iterations: concurrent) { i in
                            sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: A.p + i * m * k, b: B.p + i * k * n,
                                  beta: 1, c: C.p + i * m * n)
                        }
                        Threads.set(threads)
                    } else {
                        sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: A.p, b: B.p, beta: 1, c: C.p)
                    }
                }
                for _ in 0..<3 { once() }
                let c0 = cpuSeconds()
                for _ in 0..<runs { let t0 = nowSeconds(); once(); ts.append(nowSeconds() - t0) }
                cpu = (cpuSeconds() - c0) / Double(runs)
            } } }
            let t = median(ts)
            print(String(format: "sgemm %@%@ m %6d n %6d k %6d  x%d: %8.3f ms  %6.1f GFLOP/s  (CPU %.3f ms: %.1f GFLOP/s per busy core)", ta ? "T" : "N", tb ? "T" : "N",
                         m, n, k, copies, t * 1e3, 2 * Double(m * n * k * copies) / t / 1e9, cpu * 1e3,
                         2 * Double(m * n * k * copies) / cpu / 1e9))
        }
    }
}
