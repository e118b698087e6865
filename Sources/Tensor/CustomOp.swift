/// Custom differentiable ops defined outside the Tensor module.
///
/// Some losses compute their value and their gradient together in a blocked loop that never builds
/// the intermediate tensors an op-by-op graph would record (IS_P2P without the B×B×A×A relation
/// tensor, Distill module). Such a loss creates its output with plain kernels and then attaches its
/// own backward here, exactly as the built-in ops do with `recording`.
extension Tensor {
    /// Makes `output` (freshly created, not yet part of any graph) the result of a differentiable op
    /// on `inputs`, whose backward is `backward(output, gradOut)`.
    ///
    /// Rules (the same as for built-in ops): the node is recorded only when gradients are enabled and
    /// at least one input requires a gradient; `backward` must ACCUMULATE into the gradient buffers
    /// (`gradBuffer()`) of those inputs that have `requiresGrad == true`, and must not touch others.
    /// Returns `output`.
    @discardableResult
    public static func customOp(output: Tensor, inputs: [Tensor],
                                backward: @escaping (_ out: Tensor, _ gradOut: Tensor) -> Void) -> Tensor {
        precondition(output.node == nil, "customOp: the output tensor already belongs to a recorded graph")
        return output.recording(inputs, backward)
    }

    /// Whether an op on `inputs` would record a node now (gradients enabled and some input requires
    /// one). Custom ops use it to skip gradient work under `Autograd.noGrad`.
    public static func wouldRecord(_ inputs: [Tensor]) -> Bool { needsGrad(inputs) }
}
