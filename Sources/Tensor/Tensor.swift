/// A contiguous Float32 tensor with an explicit shape and, when it takes part in a gradient
/// computation, the node that produced it (reverse-mode autodiff, see Autodiff.swift).
///
/// Image tensors are NHWC (batch, height, width, channels): channels are contiguous, so a pixel's
/// feature vector — the unit the paper's pixel-to-pixel losses work on — is one row. Parameters keep
/// PyTorch's layouts (conv weight (Cout, Cin, kh, kw), linear weight (out, in)) so checkpoints load
/// into PyTorch modules unchanged.
public final class Tensor: CustomStringConvertible {
    public let shape: [Int]
    public let storage: Storage
    /// The gradient of the last `backward()` with respect to this tensor, accumulated (leaves and
    /// tensors marked with `retainGrad()`; other intermediate gradients are freed as backward goes).
    public var grad: Tensor?
    /// Whether gradients flow to this tensor (parameters, or results of ops on such tensors).
    public var requiresGrad: Bool
    /// Keep `grad` of a non-leaf tensor after backward (for diagnostics such as ∂L/∂image).
    public var retainsGrad = false
    var node: Node?

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer }
    public var isLeaf: Bool { node == nil }

    /// A tensor over existing storage (`Shape.count(shape)` must equal the storage's count).
    public init(shape: [Int], storage: Storage, requiresGrad: Bool = false) {
        precondition(Shape.count(shape) == storage.count,
                     "Tensor: shape \(fmt(shape)) has \(Shape.count(shape)) elements, storage has \(storage.count)")
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(fmt(shape))")
        self.shape = shape
        self.storage = storage
        self.requiresGrad = requiresGrad
    }

    /// Uninitialised tensor: the caller writes every element.
    public convenience init(uninitialized shape: [Int]) {
        self.init(shape: shape, storage: Storage(uninitialized: Shape.count(shape)))
    }

    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(shape: shape, storage: Storage(zeros: Shape.count(shape)), requiresGrad: requiresGrad)
    }

    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        precondition(values.count == Shape.count(shape),
                     "Tensor: \(values.count) values for shape \(fmt(shape)) (\(Shape.count(shape)) elements)")
        let s = Storage(uninitialized: values.count)
        values.withUnsafeBufferPointer { s.pointer.update(from: $0.baseAddress!, count: values.count) }
        self.init(shape: shape, storage: s, requiresGrad: requiresGrad)
    }

    public convenience init(repeating v: Float, shape: [Int], requiresGrad: Bool = false) {
        let s = Storage(uninitialized: Shape.count(shape))
        s.pointer.initialize(repeating: v, count: s.count)
        self.init(shape: shape, storage: s, requiresGrad: requiresGrad)
    }

    /// A scalar (rank-0) tensor.
    public convenience init(scalar v: Float) { self.init([v], shape: []) }

    /// Standard normal values from `rng`, times `std`.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let n = Shape.count(shape)
        let t = Tensor(uninitialized: shape)
        for i in 0..<n { t.data[i] = Float(rng.normal()) * std }
        t.requiresGrad = requiresGrad
        return t
    }

    /// Uniform values in [lo, hi) from `rng`.
    public static func uniform(_ shape: [Int], _ lo: Float, _ hi: Float, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(rng.uniforms(Shape.count(shape), lo, hi), shape: shape)
        t.requiresGrad = requiresGrad
        return t
    }

    /// The values as an array (a copy).
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The value of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item: tensor of shape \(fmt(shape)) has \(count) elements, not 1")
        return data[0]
    }

    public subscript(flat i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }

    /// A copy that does not take part in autodiff.
    public func detached() -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Same storage, new shape, no gradient tracking (for constants and buffers).
    public func viewDetached(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, storage: storage) }

    /// Overwrites the values from another tensor of the same element count (no autodiff).
    public func copyValues(from other: Tensor) {
        precondition(other.count == count, "copyValues: \(fmt(other.shape)) into \(fmt(shape))")
        data.update(from: other.data, count: count)
    }

    public func fill(_ v: Float) { data.update(repeating: v, count: count) }

    public var description: String {
        let head = array.prefix(8).map { String(format: "%.5g", Double($0)) }.joined(separator: ", ")
        return "Tensor(\(fmt(shape)), [\(head)\(count > 8 ? ", …" : "")]\(requiresGrad ? ", grad" : ""))"
    }
}

import Foundation
