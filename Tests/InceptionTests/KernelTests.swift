import XCTest
import Tensor
@testable import Inception

/// Pooling (Sources/Tensor/Ops/Pool3x3.swift) and the rectangular convolution (RectConv.swift) against
/// naive Float64 references written independently here, forward and (pools) backward.
final class KernelTests: XCTestCase {
    // MARK: Float64 references

    /// (B, H, W, C) → (B, Ho, Wo, C), PyTorch semantics (floor mode, −∞ / excluded padding).
    func refPool(_ x: Tensor, k: Int, s: Int, p: Int, max isMax: Bool, countIncludePad: Bool = false) -> [Double] {
        let (B, H, W, C) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1
        var out: [Double] = []
        for b in 0..<B { for oy in 0..<Ho { for ox in 0..<Wo { for c in 0..<C {
            var m = -Double.infinity, sum = 0.0, n = 0
            for ky in 0..<k { for kx in 0..<k {
                let iy = oy * s - p + ky, ix = ox * s - p + kx
                guard iy >= 0, iy < H, ix >= 0, ix < W else { continue }
                let v = Double(x.data[((b * H + iy) * W + ix) * C + c])
                m = Swift.max(m, v); sum += v; n += 1
            } }
            out.append(isMax ? m : sum / Double(countIncludePad ? k * k : n))
        } } } }
        return out
    }

    /// NHWC conv with weight (Cout, Cin, kh, kw), bias, optional ReLU, in Float64.
    func refConv(_ x: Tensor, _ w: Tensor, _ bias: [Float], _ g: ConvGeometry, relu: Bool) -> [Double] {
        let (B, H, W, Cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let Cout = w.shape[0]
        let (Ho, Wo) = g.outputSize(height: H, width: W)
        var out: [Double] = []
        for b in 0..<B { for oy in 0..<Ho { for ox in 0..<Wo { for co in 0..<Cout {
            var acc = Double(bias[co])
            for ky in 0..<g.kh { for kx in 0..<g.kw {
                let iy = oy * g.strideH - g.padH + ky, ix = ox * g.strideW - g.padW + kx
                guard iy >= 0, iy < H, ix >= 0, ix < W else { continue }
                for ci in 0..<Cin {
                    acc += Double(x.data[((b * H + iy) * W + ix) * Cin + ci]) * Double(w.data[((co * Cin + ci) * g.kh + ky) * g.kw + kx])
                }
            } }
            out.append(relu ? Swift.max(acc, 0) : acc)
        } } } }
        return out
    }

    // MARK: Pools

    func testMaxPoolForward() {
        for (shape, k, s, p) in [([2, 9, 9, 5], 3, 2, 0), ([1, 8, 7, 3], 3, 1, 1), ([2, 35, 35, 4], 3, 2, 0), ([1, 6, 6, 2], 2, 2, 0)] {
            let x = randomTensor(shape, seed: UInt64(k * 100 + s * 10 + p))
            let y = x.maxPool2d(kernel: k, stride: s, padding: p)
            let d = maxAbsDiff(y.array, refPool(x, k: k, s: s, p: p, max: true))
            XCTAssertEqual(d, 0, "maxPool k\(k) s\(s) p\(p) on \(shape): max |diff| \(d)")
        }
    }

    func testAvgPoolForward() {
        for (shape, k, s, p, cip) in [([2, 8, 8, 5], 3, 1, 1, false), ([1, 7, 5, 3], 3, 1, 1, true), ([1, 9, 9, 2], 3, 2, 1, false),
                                      ([2, 8, 8, 3], 8, 8, 0, true)] {
            let x = randomTensor(shape, seed: 42)
            let y = x.avgPool2d(kernel: k, stride: s, padding: p, countIncludePad: cip)
            let d = maxAbsDiff(y.array, refPool(x, k: k, s: s, p: p, max: false, countIncludePad: cip))
            XCTAssertLessThan(d, 1e-6, "avgPool k\(k) s\(s) p\(p) cip \(cip) on \(shape): max |diff| \(d)")
        }
        // count_include_pad = False really divides corners by 4 (not 9): a constant image stays constant.
        let ones = Tensor(repeating: 2, shape: [1, 4, 4, 1])
        XCTAssertEqual(ones.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: false).array, [Float](repeating: 2, count: 16))
        XCTAssertEqual(ones.avgPool2d(kernel: 3, stride: 1, padding: 1, countIncludePad: true).array[0], 2 * 4 / 9, accuracy: 1e-6)
    }

    /// Backward of both pools against central differences of L = Σ w ⊙ pool(x) (Float64 sums).
    func testPoolBackward() {
        for isMax in [true, false] {
            for (k, s, p) in [(3, 2, 0), (3, 1, 1)] {
                // Distinct values so the max is unique within every window (finite differences need it).
                let x = Tensor((0..<(2 * 7 * 7 * 3)).map { Float(($0 * 37) % 149) / 149 - 0.5 }, shape: [2, 7, 7, 3], requiresGrad: true)
                let f: (Tensor) -> Tensor = { isMax ? $0.maxPool2d(kernel: k, stride: s, padding: p)
                                                    : $0.avgPool2d(kernel: k, stride: s, padding: p, countIncludePad: false) }
                let y = f(x)
                let w = randomTensor(y.shape, seed: 9)
                (y * w).sum().backward()
                let g = x.grad!.array
                let eps: Float = 1e-3
                var worst = 0.0
                for i in 0..<x.count {
                    let old = x.data[i]
                    func loss() -> Double { Autograd.noGrad { let o = f(x); return (0..<o.count).reduce(0.0) { $0 + Double(o.data[$1]) * Double(w.data[$1]) } } }
                    x.data[i] = old + eps; let lp = loss()
                    x.data[i] = old - eps; let lm = loss()
                    x.data[i] = old
                    worst = max(worst, abs((lp - lm) / (2 * Double(eps)) - Double(g[i])))
                }
                XCTAssertLessThan(worst, 2e-3, "\(isMax ? "max" : "avg")Pool k\(k) s\(s) p\(p) backward: worst |fd − grad| \(worst)")
            }
        }
    }

    /// Raw kernels on channel slices: read channels 2..<5 of an 8-channel map, write into channels 1..<4 of 6.
    func testPoolKernelsOnSlices() {
        let x = randomTensor([1, 5, 5, 8], seed: 3)
        let sliceIn = Tensor((0..<25).flatMap { q in (2..<5).map { x.data[q * 8 + $0] } }, shape: [1, 5, 5, 3])
        let out = Tensor(repeating: 7, shape: [1, 5, 5, 6])
        avgPool2dForward(out.data + 1, ldOut: 6, x.data + 2, ldIn: 8, batch: 1, height: 5, width: 5, channels: 3,
                         kernel: 3, stride: 1, padding: 1, countIncludePad: false)
        let ref = refPool(sliceIn, k: 3, s: 1, p: 1, max: false)
        for q in 0..<25 {
            XCTAssertEqual(out.data[q * 6], 7); XCTAssertEqual(out.data[q * 6 + 4], 7); XCTAssertEqual(out.data[q * 6 + 5], 7)
            for c in 0..<3 { XCTAssertEqual(Double(out.data[q * 6 + 1 + c]), ref[q * 3 + c], accuracy: 1e-6) }
        }
    }

    // MARK: Convolution

    func testRectConvAgainstFloat64() {
        let cases: [(String, [Int], Int, ConvGeometry)] = [
            ("1x7 pad (0,3)", [2, 9, 10, 6], 5, ConvGeometry(kh: 1, kw: 7, padH: 0, padW: 3)),
            ("7x1 pad (3,0)", [1, 10, 9, 6], 4, ConvGeometry(kh: 7, kw: 1, padH: 3, padW: 0)),
            ("1x3 pad (0,1)", [2, 8, 8, 16], 9, ConvGeometry(kh: 1, kw: 3, padH: 0, padW: 1)),
            ("3x1 pad (1,0)", [2, 8, 8, 16], 9, ConvGeometry(kh: 3, kw: 1, padH: 1, padW: 0)),
            ("3x3/2 Cin 3", [2, 15, 13, 3], 8, ConvGeometry(kh: 3, kw: 3, stride: 2)),
            ("5x5 pad 2", [1, 9, 9, 7], 6, ConvGeometry(kh: 5, kw: 5, padH: 2, padW: 2)),
            ("3x3 no pad", [1, 9, 11, 20], 12, ConvGeometry(kh: 3, kw: 3)),
            ("1x1", [3, 5, 5, 24], 10, ConvGeometry(kh: 1, kw: 1)),
        ]
        for (name, shape, cout, g) in cases {
            let x = randomTensor(shape, seed: 11)
            let w = randomTensor([cout, shape[3], g.kh, g.kw], seed: 12, -0.5, 0.5)
            let bias = randomTensor([cout], seed: 13).array
            let (ho, wo) = g.outputSize(height: shape[1], width: shape[2])
            for relu in [false, true] {
                let y = Tensor(uninitialized: [shape[0], ho, wo, cout])
                let wk = Tensor(uninitialized: [g.kh * g.kw * shape[3], cout])
                packWeightKxN(wk.data, w.data, scale: nil, cout: cout, cin: shape[3], kh: g.kh, kw: g.kw)
                bias.withUnsafeBufferPointer { b in
                    convForwardNHWC(y.data, ldOut: cout, x.data, ldIn: shape[3], batch: shape[0], height: shape[1], width: shape[2],
                                    inChannels: shape[3], outChannels: cout, geometry: g, weightKxN: wk.data, bias: b.baseAddress!, relu: relu)
                }
                let d = maxAbsDiff(y.array, refConv(x, w, bias, g, relu: relu))
                XCTAssertLessThan(d, 2e-5, "\(name) relu \(relu): max |diff| \(d)")
            }
        }
    }

    /// Slices in and out, small chunks (many im2col chunks per thread), and 1 vs 2 threads, for a 1×7 and a
    /// 1×1 (no im2col) layer.
    func testRectConvSlicesChunksAndThreads() {
      for g in [ConvGeometry(kh: 1, kw: 7, padH: 0, padW: 3), ConvGeometry(kh: 1, kw: 1)] {
        let x = randomTensor([2, 8, 9, 10], seed: 21)          // channels 3..<8 are the input; 144 rows → 2 threads
        let w = randomTensor([4, 5, g.kh, g.kw], seed: 22, -0.5, 0.5)
        let bias: [Float] = [0.1, -0.2, 0.3, 0]
        let sliceIn = Tensor((0..<(2 * 8 * 9)).flatMap { q in (3..<8).map { x.data[q * 10 + $0] } }, shape: [2, 8, 9, 5])
        let ref = refConv(sliceIn, w, bias, g, relu: true)
        let wk = Tensor(uninitialized: [g.kw * 5, 4])
        packWeightKxN(wk.data, w.data, scale: nil, cout: 4, cin: 5, kh: g.kh, kw: g.kw)
        let savedChunk = RectConvTuning.chunkFloats, savedRows = RectConvTuning.minChunkRows, savedThreads = Threads.count
        defer { RectConvTuning.chunkFloats = savedChunk; RectConvTuning.minChunkRows = savedRows; Threads.set(savedThreads) }
        var results: [[Float]] = []
        // (64 floats, 1 row minimum) gives chunks of 1–12 rows: many chunks per thread.
        for (chunk, minRows, threads) in [(1 << 18, 512, 1), (64, 1, 1), (64, 1, 2), (1 << 18, 512, 2)] {
            RectConvTuning.chunkFloats = chunk
            RectConvTuning.minChunkRows = minRows
            Threads.set(threads)
            let out = Tensor(repeating: 9, shape: [2, 8, 9, 7])  // write channels 2..<6 of 7
            bias.withUnsafeBufferPointer { b in
                convForwardNHWC(out.data + 2, ldOut: 7, x.data + 3, ldIn: 10, batch: 2, height: 8, width: 9, inChannels: 5,
                                outChannels: 4, geometry: g, weightKxN: wk.data, bias: b.baseAddress!, relu: true)
            }
            var got: [Float] = []
            for q in 0..<(2 * 8 * 9) {
                XCTAssertEqual([out.data[q * 7], out.data[q * 7 + 1], out.data[q * 7 + 6]], [9, 9, 9], "chunk \(chunk): wrote outside its slice")
                got += (2..<6).map { out.data[q * 7 + $0] }
            }
            let d = maxAbsDiff(got, ref)
            XCTAssertLessThan(d, 2e-5, "\(g) chunk \(chunk) threads \(threads): max |diff| \(d)")
            results.append(got)
        }
      }
    }

    /// BatchNorm folding in Conv2dLayer: conv → (x − mean)/√(var + 1e-3) + β → ReLU, in Float64.
    func testConv2dLayerFoldsBatchNorm() {
        let layer = Conv2dLayer(4, 6, ConvGeometry(kh: 3, kw: 1, padH: 1, padW: 0))
        layer.weight.copyValues(from: randomTensor([6, 4, 3, 1], seed: 31))
        layer.beta.copyValues(from: randomTensor([6], seed: 32))
        layer.mean.copyValues(from: randomTensor([6], seed: 33))
        layer.variance.copyValues(from: randomTensor([6], seed: 34, 0.01, 2))
        layer.prepare()
        let x = randomTensor([2, 5, 4, 4], seed: 35)
        let y = layer.forward(x)
        let conv = refConv(x, layer.weight, [Float](repeating: 0, count: 6), layer.geometry, relu: false)
        var ref: [Double] = []
        for (i, v) in conv.enumerated() {
            let c = i % 6
            let bn = (v - Double(layer.mean.data[c])) / (Double(layer.variance.data[c]) + 1e-3).squareRoot() + Double(layer.beta.data[c])
            ref.append(max(bn, 0))
        }
        let d = maxAbsDiff(y.array, ref)
        XCTAssertLessThan(d, 2e-5, "Conv2dLayer vs conv→BN→ReLU in Float64: max |diff| \(d)")
    }
}
