import ArgumentParser
import Foundation
import Tensor

@main
struct RddBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-bench",
        abstract: "Micro-benchmarks of rdd's kernels, compared with PyTorch CPU in the same run.",
        subcommands: [ConvBench.self, GemmBench.self, UNetBench.self, InceptionBench.self])
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

struct Timing { var fwdBwdMs: Double; var fwdMs: Double }

func nowSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

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
    @Option(help: "Path of the PyTorch benchmark script.") var torchScript = "scripts/bench/torch_conv.py"
    @Option(help: "Python interpreter.") var python = "python3"
    @Flag(help: "Print the time split between lowering (im2col/col2im) and GEMM.") var profile = false
    @Option(help: "Tuning: im2col chunk floats (per thread).") var chunkFloats: Int?
    @Option(help: "Tuning: 'thread' (per-thread lowering+sgemm) or 'shared' (parallel im2col + threaded sgemm).")
    var mode: String?
    @Option(help: "Tuning: forward weight as N×K with transB (1) or K×N (0).") var transB: Int?
    @Option(help: "Tuning: weight gradient as K×N (1) or N×K (0).") var gradKxN: Int?
    @Option(help: "Alternate Swift and PyTorch this many rounds; the per-case median over rounds is reported.")
    var rounds = 1

    func shapes() -> [ConvShape] {
        if !shape.isEmpty { return shape.compactMap { ConvShape(spec: $0) } }
        let main = ConvShape(32, 64, 64, 32)
        if mainOnly { return [main] }
        return [
            main,
            ConvShape(32, 3, 64, 32),                  // first conv
            ConvShape(32, 64, 3, 32),                  // last conv
            ConvShape(32, 128, 128, 16),               // level 1 res block
            ConvShape(32, 64, 64, 32, stride: 2),      // downsample 32 -> 16
            ConvShape(32, 128, 128, 16, stride: 2),    // downsample 16 -> 8
            ConvShape(32, 256, 256, 8),                // wider U-Net, 8x8
            ConvShape(32, 256, 256, 4),                // wider U-Net, 4x4
            ConvShape(32, 192, 128, 16, k: 1),         // 1x1 skip conv after concatenation
            ConvShape(128, 128, 128, 32),              // the paper's U-Net level 0 at batch 128
        ]
    }

    func run() throws {
        Threads.set(threads)
        if let c = chunkFloats { Conv2dTuning.chunkFloats = c }
        if let m = mode { Conv2dTuning.perThread = (m != "shared") }
        if let t = transB { Conv2dTuning.weightTransB = t != 0 }
        if let g = gradKxN { Conv2dTuning.weightGradKxN = g != 0 }
        let cases = shapes()
        print("rdd-bench conv: threads \(Threads.count), runs \(runs) (median), warm-up \(warmup); "
              + "mode \(Conv2dTuning.perThread ? "per-thread" : "shared"), chunk \(Conv2dTuning.chunkFloats) floats, "
              + "transB \(Conv2dTuning.weightTransB), gradKxN \(Conv2dTuning.weightGradKxN)")
        var swiftT = [[Timing]](repeating: [], count: cases.count)
        var torchT = [[String: [Timing]]](repeating: [:], count: cases.count)
        var torchInfo: String? = nil
        var torchOK = !noTorch && torchAvailable()
        if !noTorch && !torchOK { print("PyTorch not available (\(python) -c 'import torch' failed): Swift only") }
        for round in 0..<max(1, rounds) {
            for (i, c) in cases.enumerated() { swiftT[i].append(benchSwift(c, verbose: round == 0)) }
            if torchOK {
                guard let (info, res) = runTorch(cases) else { torchOK = false; break }
                torchInfo = info
                for (i, c) in cases.enumerated() {
                    for (layout, t) in res[c.spec] ?? [:] { torchT[i][layout, default: []].append(t) }
                }
            }
        }
        if let info = torchInfo { print("PyTorch: \(info)") }
        printTable(cases, swiftT, torchOK ? torchT : nil)
    }

    func medianTiming(_ ts: [Timing]) -> Timing {
        Timing(fwdBwdMs: median(ts.map { $0.fwdBwdMs }), fwdMs: median(ts.map { $0.fwdMs }))
    }

    func printTable(_ cases: [ConvShape], _ sw: [[Timing]], _ tt: [[String: [Timing]]]?) {
        print("")
        print("fwd+bwd = forward + dX + dW + db (3x fwd FLOPs); ratio = PyTorch best layout / Swift (>= 1.0: Swift faster)")
        let hdr = ["case", "Swift f+b ms", "GFLOP/s", "torch NCHW", "torch NHWC", "ratio f+b",
                   "Swift fwd ms", "GFLOP/s", "torch NCHW", "torch NHWC", "ratio fwd"]
        let widths = [26, 12, 7, 10, 10, 9, 12, 7, 10, 10, 9]
        func row(_ cells: [String]) -> String {
            zip(cells, widths).enumerated().map { i, cw in
                i == 0 ? cw.0.padding(toLength: cw.1, withPad: " ", startingAt: 0)
                       : String(repeating: " ", count: max(0, cw.1 - cw.0.count)) + cw.0
            }.joined(separator: " ")
        }
        print(row(hdr))
        for (i, c) in cases.enumerated() {
            let s = medianTiming(sw[i])
            var cells = [c.label, f1(s.fwdBwdMs), f0(3 * c.fwdFlops / s.fwdBwdMs / 1e6)]
            var nchw: Timing? = nil, nhwc: Timing? = nil
            if let tt = tt {
                nchw = tt[i]["NCHW"].map(medianTiming); nhwc = tt[i]["NHWC"].map(medianTiming)
            }
            let bestFB = [nchw?.fwdBwdMs, nhwc?.fwdBwdMs].compactMap { $0 }.min()
            let bestF = [nchw?.fwdMs, nhwc?.fwdMs].compactMap { $0 }.min()
            cells += [nchw.map { f1($0.fwdBwdMs) } ?? "-", nhwc.map { f1($0.fwdBwdMs) } ?? "-",
                      bestFB.map { f2($0 / s.fwdBwdMs) } ?? "-"]
            cells += [f1(s.fwdMs), f0(c.fwdFlops / s.fwdMs / 1e6),
                      nchw.map { f1($0.fwdMs) } ?? "-", nhwc.map { f1($0.fwdMs) } ?? "-",
                      bestF.map { f2($0 / s.fwdMs) } ?? "-"]
            print(row(cells))
        }
    }

    func f0(_ v: Double) -> String { String(format: "%.0f", v) }
    func f1(_ v: Double) -> String { String(format: "%.1f", v) }
    func f2(_ v: Double) -> String { String(format: "%.2f", v) }

    func torchAvailable() -> Bool {
        guard let (status, _) = runProcess(python, ["-c", "import torch"]) else { return false }
        return status == 0
    }

    func runProcess(_ exe: String, _ args: [String]) -> (Int32, String)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [exe] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.standardError
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs the PyTorch script on all cases; returns its header line and spec -> layout -> timing.
    func runTorch(_ cases: [ConvShape]) -> (String, [String: [String: Timing]])? {
        var args = [torchScript, "--threads", "\(threads)", "--runs", "\(runs)", "--warmup", "\(warmup)"]
        for c in cases { args += ["--shape", c.spec] }
        guard let (status, out) = runProcess(python, args), status == 0 else {
            print("PyTorch benchmark failed; Swift only"); return nil
        }
        var info = ""
        var res = [String: [String: Timing]]()
        for line in out.split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            if let v = obj["torch"] as? String {
                info = "torch \(v), threads \(obj["threads"] ?? "?"), cpu capability \(obj["cpu_capability"] ?? "?")"
            } else if let spec = obj["shape"] as? String, let layout = obj["layout"] as? String,
                      let fb = obj["fwd_bwd_ms"] as? Double, let f = obj["fwd_ms"] as? Double {
                res[spec, default: [:]][layout] = Timing(fwdBwdMs: fb, fwdMs: f)
            }
        }
        return (info, res)
    }

    func benchSwift(_ c: ConvShape, verbose: Bool) -> Timing {
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
        func fwd() {
            y.withUnsafeMutableBufferPointer { yp in
                conv2dForward(yp.baseAddress!, x, w, b, batch: c.batch, height: c.hw, width: c.hw,
                              inChannels: c.cin, outChannels: c.cout, kernel: c.k, stride: c.stride, padding: c.pad)
            }
        }
        func bwd() {
            dx.withUnsafeMutableBufferPointer { dxp in dw.withUnsafeMutableBufferPointer { dwp in
                db.withUnsafeMutableBufferPointer { dbp in
                    conv2dBackward(dxp.baseAddress!, dwp.baseAddress!, dbp.baseAddress!, dy, x, w,
                                   batch: c.batch, height: c.hw, width: c.hw, inChannels: c.cin, outChannels: c.cout,
                                   kernel: c.k, stride: c.stride, padding: c.pad)
                }
            } }
        }
        for _ in 0..<warmup { fwd(); bwd() }
        var tfb = [Double](), tf = [Double]()
        Conv2dProfile.enabled = profile
        Conv2dProfile.reset()
        var tb = [Double]()
        for _ in 0..<runs {
            let t0 = nowSeconds(); fwd(); let t1 = nowSeconds(); bwd(); let t2 = nowSeconds()
            tfb.append(t2 - t0); tb.append(t2 - t1)
        }
        let prof = Conv2dProfile.totals
        Conv2dProfile.enabled = false
        for _ in 0..<runs {
            let t0 = nowSeconds(); fwd(); tf.append(nowSeconds() - t0)
        }
        let r = Timing(fwdBwdMs: median(tfb) * 1e3, fwdMs: median(tf) * 1e3)
        if profile && verbose {
            let total = tfb.reduce(0, +) * 1e9
            print(String(format: "  profile %@: fwd+bwd %.1f ms/run; lowering %.1f thread-ms/run, gemm %.1f thread-ms/run "
                         + "(%.0f%% / %.0f%% of %d-thread wall); bwd alone %.1f ms",
                         c.label, r.fwdBwdMs, Double(prof.lowering) / 1e6 / Double(runs),
                         Double(prof.gemm) / 1e6 / Double(runs),
                         100 * Double(prof.lowering) / (total * Double(threads)),
                         100 * Double(prof.gemm) / (total * Double(threads)), threads, median(tb) * 1e3))
        }
        return r
    }
}

/// sgemm throughput at given shapes (to choose GEMM orientations and chunk sizes for the conv kernels).
struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "OpenBLAS sgemm GFLOP/s for row-major shapes ta,tb,m,n,k.")
    @Option(help: "OpenBLAS threads.") var threads = 2
    @Option(help: "Timed runs (median).") var runs = 20
    @Option(parsing: .singleValue, help: "Shape ta,tb,m,n,k (ta/tb = 0/1), repeatable.") var shape: [String] = []
    @Option(help: "Also run this many independent single-threaded sgemms concurrently (one per thread).")
    var concurrent = 0

    func run() throws {
        Threads.set(threads)
        for spec in shape {
            let v = spec.split(separator: ",").compactMap { Int($0) }
            guard v.count == 5 else { continue }
            let (ta, tb, m, n, k) = (v[0] != 0, v[1] != 0, v[2], v[3], v[4])
            var rng = RNG(seed: 2)
            let copies = max(1, concurrent)
            let a = rng.uniforms(m * k * copies, -1, 1), b = rng.uniforms(k * n * copies, -1, 1)
            var c = [Float](repeating: 0, count: m * n * copies)
            var ts = [Double]()
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
                for _ in 0..<runs { let t0 = nowSeconds(); once(); ts.append(nowSeconds() - t0) }
            } } }
            let t = median(ts)
            print(String(format: "sgemm %@%@ m %6d n %6d k %6d  x%d: %8.3f ms  %6.1f GFLOP/s", ta ? "T" : "N", tb ? "T" : "N",
                         m, n, k, copies, t * 1e3, 2 * Double(m * n * k * copies) / t / 1e9))
        }
    }
}
