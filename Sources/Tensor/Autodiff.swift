/// Reverse-mode automatic differentiation on a dynamic graph.
///
/// Why a graph recorded by the ops (rather than hand-written backward passes per network): the
/// distillation losses combine a student U-Net, a frozen classifier that gradients must cross into
/// the student's image, a projection head and several loss terms whose gradients we want separately
/// (issue 11). Recording each op's backward next to its forward keeps every network and loss
/// differentiable without a second, hand-maintained backward implementation. The kernels themselves
/// are forward/backward pairs of free functions (llm.c style) that the ops call.
///
/// Rules: an op records a node only when gradients are enabled and one of its inputs requires a
/// gradient. Backward closures ACCUMULATE into their inputs' `grad`. Zeroing is the optimiser's job.
final class Node {
    let inputs: [Tensor]
    /// Called with the op's output and that output's gradient; accumulates into inputs' gradients.
    let backward: (_ out: Tensor, _ gradOut: Tensor) -> Void
    init(inputs: [Tensor], backward: @escaping (_ out: Tensor, _ gradOut: Tensor) -> Void) {
        self.inputs = inputs
        self.backward = backward
    }
}

public enum Autograd {
    nonisolated(unsafe) static var enabled = true

    /// Whether ops currently record the graph.
    public static var isEnabled: Bool { enabled }

    /// Runs `body` without recording gradients (teacher forward passes, sampling, evaluation).
    public static func noGrad<T>(_ body: () throws -> T) rethrows -> T {
        let old = enabled
        enabled = false
        defer { enabled = old }
        return try body()
    }
}

extension Tensor {
    /// Whether an op on `inputs` must record a node.
    static func needsGrad(_ inputs: [Tensor]) -> Bool {
        Autograd.enabled && inputs.contains { $0.requiresGrad }
    }

    /// Attaches a backward closure to an op's freshly created output if any input requires a gradient.
    @discardableResult
    func recording(_ inputs: [Tensor], _ backward: @escaping (_ out: Tensor, _ gradOut: Tensor) -> Void) -> Tensor {
        if Tensor.needsGrad(inputs) {
            requiresGrad = true
            node = Node(inputs: inputs.filter { $0.requiresGrad }, backward: backward)
        }
        return self
    }

    /// The gradient buffer of this tensor, created zero-filled on first use. Backward closures add into it.
    public func gradBuffer() -> UnsafeMutablePointer<Float> {
        if grad == nil { grad = Tensor(zeros: shape) }
        return grad!.data
    }

    /// The gradient buffer for a backward that writes EVERY element of it. When this tensor has no
    /// gradient yet, the buffer is created uninitialised and `fresh` is true: the gradient so far is
    /// zero, so the caller stores its values instead of adding them — no zero fill, and one read less
    /// per element (the zero fills of `gradBuffer()` were ~2% of a U-Net training step). Otherwise the
    /// existing buffer comes back with `fresh` false and the caller adds, as with `gradBuffer()`.
    public func gradBufferForWrite() -> (pointer: UnsafeMutablePointer<Float>, fresh: Bool) {
        if let g = grad { return (g.data, false) }
        let g = Tensor(uninitialized: shape)
        grad = g
        return (g.data, true)
    }

    /// Marks a non-leaf tensor so its gradient is kept after backward.
    @discardableResult public func retainGrad() -> Tensor { retainsGrad = true; return self }

    /// Back-propagates from this tensor. A scalar gets the seed gradient 1; otherwise pass `gradient`
    /// (same shape). With `retainGraph` the graph survives for another backward (per-term gradients).
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        precondition(requiresGrad, "backward: tensor \(fmt(shape)) does not require a gradient")
        // Topological order by iterative depth-first search over nodes.
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            if visited.contains(ObjectIdentifier(t)) { continue }
            visited.insert(ObjectIdentifier(t))
            stack.append((t, true))
            if let n = t.node { for i in n.inputs where !visited.contains(ObjectIdentifier(i)) { stack.append((i, false)) } }
        }
        // Gradients of non-leaf tensors are per pass: set aside what a retained gradient held before.
        var previous: [ObjectIdentifier: Tensor] = [:]
        for t in order where t.node != nil {
            if let g = t.grad, t.retainsGrad { previous[ObjectIdentifier(t)] = g }
            t.grad = nil
        }
        if let g = gradient {
            precondition(g.shape == shape, "backward: gradient \(fmt(g.shape)) for tensor \(fmt(shape))")
            gradBuffer().update(from: g.data, count: count)
        } else {
            precondition(count == 1, "backward: tensor \(fmt(shape)) is not a scalar; pass a gradient")
            gradBuffer()[0] += 1
        }
        for t in order.reversed() {
            guard let n = t.node else { continue }
            if let g = t.grad { n.backward(t, g) }
            if !retainGraph { t.node = nil }
            if t.retainsGrad {
                if let old = previous[ObjectIdentifier(t)] {
                    let d = t.gradBuffer()
                    for i in 0..<t.count { d[i] += old.data[i] }
                }
            } else {
                t.grad = nil
            }
        }
    }

    /// Drops the recorded graph below this tensor without computing gradients.
    public func releaseGraph() {
        var stack = [self]
        while let t = stack.popLast() {
            if let n = t.node { stack.append(contentsOf: n.inputs); t.node = nil }
        }
    }
}
