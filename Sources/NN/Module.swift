import Tensor

/// A network component with named parameters, buffers and child modules, like `torch.nn.Module`.
///
/// Names are PyTorch `state_dict` paths ("down.0.block1.2.weight"), so a checkpoint maps one to one
/// onto the equivalent PyTorch module. Registration order is the iteration order (deterministic).
open class Module {
    public private(set) var localParameters: [(String, Tensor)] = []
    public private(set) var localBuffers: [(String, Tensor)] = []
    public private(set) var children: [(String, Module)] = []
    /// Names of parameters that never train (PyTorch parameters with requires_grad = False).
    public private(set) var frozenNames: Set<String> = []
    /// Training mode (dropout active, BatchNorm uses batch statistics). Set recursively by `train(_:)`.
    public private(set) var isTraining = true

    public init() {}

    /// Registers a trainable parameter (requiresGrad = true) under `name`.
    @discardableResult
    public func parameter(_ name: String, _ t: Tensor) -> Tensor {
        t.requiresGrad = true
        localParameters.append((name, t))
        return t
    }

    /// Registers a parameter that never trains (e.g. the U-Net's fixed sinusoidal table, a frozen
    /// `nn.Embedding`): it is counted and saved like any parameter but no optimiser sees it.
    @discardableResult
    public func frozenParameter(_ name: String, _ t: Tensor) -> Tensor {
        t.requiresGrad = false
        localParameters.append((name, t))
        frozenNames.insert(name)
        return t
    }

    /// Registers a non-trainable state tensor (BatchNorm running statistics) under `name`.
    @discardableResult
    public func buffer(_ name: String, _ t: Tensor) -> Tensor {
        localBuffers.append((name, t))
        return t
    }

    /// Registers a child module under `name`.
    @discardableResult
    public func child<M: Module>(_ name: String, _ m: M) -> M {
        children.append((name, m))
        return m
    }

    /// All parameters with dotted paths, depth first in registration order.
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        localParameters.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedParameters(prefix: prefix + $0.0 + ".") }
    }

    /// All buffers with dotted paths.
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        localBuffers.map { (prefix + $0.0, $0.1) } + children.flatMap { $0.1.namedBuffers(prefix: prefix + $0.0 + ".") }
    }

    public var parameters: [Tensor] { namedParameters().map(\.1) }

    /// Parameters an optimiser updates (all but frozen ones), with dotted paths.
    public func namedTrainableParameters(prefix: String = "") -> [(String, Tensor)] {
        localParameters.filter { !frozenNames.contains($0.0) }.map { (prefix + $0.0, $0.1) }
            + children.flatMap { $0.1.namedTrainableParameters(prefix: prefix + $0.0 + ".") }
    }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Sets training or evaluation mode on this module and every descendant.
    public func train(_ on: Bool = true) {
        isTraining = on
        for (_, c) in children { c.train(on) }
    }

    /// Freezes (or unfreezes) every parameter: frozen networks still pass gradients to their inputs.
    public func setRequiresGrad(_ on: Bool) {
        for p in namedTrainableParameters().map(\.1) { p.requiresGrad = on; if !on { p.grad = nil } }
    }

    /// Copies all parameter and buffer values from a module of identical structure (names and shapes).
    public func copyState(from other: Module) {
        let mine = namedParameters() + namedBuffers(), theirs = other.namedParameters() + other.namedBuffers()
        precondition(mine.map(\.0) == theirs.map(\.0), "copyState: modules have different parameter names")
        for ((n, a), (_, b)) in zip(mine, theirs) {
            precondition(a.shape == b.shape, "copyState: \(n) has shape \(a.shape) vs \(b.shape)")
            a.copyValues(from: b)
        }
    }

    /// A printable table of parameter names and shapes, and the total (for `--dry-run`).
    public func parameterSummary() -> String {
        var lines = namedParameters().map { "\($0.0)  \($0.1.shape)  \($0.1.count)" }
        lines.append("total parameters: \(parameterCount)")
        return lines.joined(separator: "\n")
    }
}

/// An ordered list of child modules named "0", "1", … (PyTorch's ModuleList naming).
public final class ModuleList<M: Module>: Module {
    public private(set) var items: [M] = []
    public override init() { super.init() }
    public init(_ ms: [M]) { super.init(); for m in ms { append(m) } }
    public func append(_ m: M) { child(String(items.count), m); items.append(m) }
    public subscript(i: Int) -> M { items[i] }
    public var count: Int { items.count }
}
