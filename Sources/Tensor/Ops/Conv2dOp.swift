/// Differentiable 2-D convolution on NHWC tensors. The kernels (im2col/GEMM lowering, chunking,
/// threading) live in Kernels/Conv2d*.swift; this op checks shapes and records the backward.
///
/// x: (B, H, W, Cin); weight: (Cout, Cin, k, k) PyTorch layout; bias: (Cout) or nil.
/// Output: (B, Ho, Wo, Cout) with Ho = (H + 2p − k)/s + 1.
public func conv2d(_ x: Tensor, weight w: Tensor, bias b: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
    guard x.rank == 4, w.rank == 4, w.shape[2] == w.shape[3], x.shape[3] == w.shape[1],
          b == nil || b!.shape == [w.shape[0]] else {
        shapeFailure(ShapeError("conv2d", "input \(fmt(x.shape)) (NHWC), weight \(fmt(w.shape)) (Cout, Cin, k, k), bias \(b.map { fmt($0.shape) } ?? "none")"))
    }
    let (batch, h, wd, cin) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (cout, k) = (w.shape[0], w.shape[2])
    let ho = conv2dOutputSize(h, kernel: k, stride: stride, padding: padding)
    let wo = conv2dOutputSize(wd, kernel: k, stride: stride, padding: padding)
    if ho <= 0 || wo <= 0 {
        shapeFailure(ShapeError("conv2d", "kernel \(k) with padding \(padding) does not fit input \(fmt(x.shape))"))
    }
    let out = Tensor(uninitialized: [batch, ho, wo, cout])
    conv2dForward(out.data, x.data, w.data, b?.data, batch: batch, height: h, width: wd, inChannels: cin,
                  outChannels: cout, kernel: k, stride: stride, padding: padding)
    return out.recording([x, w] + (b.map { [$0] } ?? [])) { _, g in
        // A fresh input gradient is overwritten by the product (beta 0) instead of zero-filled and added to.
        let (dx, fresh) = x.requiresGrad ? x.gradBufferForWrite() : (nil, false)
        conv2dBackward(dx, w.requiresGrad ? w.gradBuffer() : nil,
                       (b?.requiresGrad ?? false) ? b!.gradBuffer() : nil, g.data, x.data, w.data,
                       batch: batch, height: h, width: wd, inChannels: cin, outChannels: cout,
                       kernel: k, stride: stride, padding: padding, overwriteDx: fresh)
    }
}
