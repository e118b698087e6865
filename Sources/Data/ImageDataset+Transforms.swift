/// Geometric transforms: padding and resizing to a model's input size, and horizontal flips.
extension ImageDataset {
    /// Pads every image to `size`×`size` with `value` (default −1: the background, black, of data scaled to
    /// [−1, 1]), centred: ⌊(size − H) / 2⌋ rows on top, the rest at the bottom (same for columns).
    ///
    /// Why pad rather than resize for digits/MNIST-like data: it keeps the pixel values exact (no interpolation
    /// blur) and gives sizes a U-Net with several 2× downsamplings can take (8 → 16, 28 → 32).
    public func padded(to size: Int, value: Float = -1) throws -> ImageDataset {
        guard size >= height && size >= width else {
            throw DataError.invalidArgument(dataset: source, argument: "size", value: "\(size)",
                                            reason: "smaller than the \(height)×\(width) images (padding cannot crop)")
        }
        let top = (size - height) / 2, left = (size - width) / 2
        let c = channels, inSize = imageSize, outSize = size * size * c
        var out = [Float](repeating: value, count: count * outSize)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for n in 0..<count {
                    for y in 0..<height {
                        let s = n * inSize + y * width * c
                        let d = n * outSize + ((y + top) * size + left) * c
                        for k in 0..<(width * c) { dst[d + k] = src[s + k] }
                    }
                }
            }
        }
        return try replacing(name: "\(name)[pad \(size)]", height: size, width: size, images: out)
    }

    /// Shrinks square images by an integer `factor` with a box filter: each output pixel is the mean of a
    /// `factor`×`factor` block (exact antialiasing, no interpolation choices). The `small` preset uses
    /// pad 28 → 32 then factor 2 for Fashion-MNIST at 16×16 (`fitted(to:)`).
    public func averagePooled(by factor: Int) throws -> ImageDataset {
        guard factor >= 1, height % factor == 0, width % factor == 0 else {
            throw DataError.invalidArgument(dataset: source, argument: "factor", value: "\(factor)",
                                            reason: "must divide the \(height)×\(width) images")
        }
        if factor == 1 { return self }
        let h = height / factor, w = width / factor, c = channels
        let inSize = imageSize, outSize = h * w * c
        let scale = 1 / Float(factor * factor)
        var out = [Float](repeating: 0, count: count * outSize)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for n in 0..<count { for y in 0..<h { for x in 0..<w { for ch in 0..<c {
                    var s: Float = 0
                    for dy in 0..<factor { for dx in 0..<factor {
                        s += src[n * inSize + ((y * factor + dy) * width + x * factor + dx) * c + ch]
                    } }
                    dst[n * outSize + (y * w + x) * c + ch] = s * scale
                } } } }
            }
        }
        return try replacing(name: "\(name)[avgpool \(factor)]", height: h, width: w, images: out)
    }

    /// The images at a model's `size`×`size`: unchanged when they already are; padded (`padded(to:)`) when
    /// smaller; when larger, padded to the nearest multiple of `size` and box-averaged down
    /// (28 → 16: pad to 32, average 2×2). Square images only.
    public func fitted(to size: Int) throws -> ImageDataset {
        guard height == width, size > 0 else {
            throw DataError.invalidArgument(dataset: source, argument: "size", value: "\(size)",
                                            reason: "fitting needs square images and a positive size (images are \(height)×\(width))")
        }
        if size == height { return self }
        if size > height { return try padded(to: size) }
        let factor = (height + size - 1) / size
        return try padded(to: size * factor).averagePooled(by: factor)
    }

    /// Resizes every image to `height`×`width` by bilinear interpolation with half-pixel centres and no
    /// antialiasing: PyTorch's `F.interpolate(mode="bilinear", align_corners=False)`. Output pixel i samples the
    /// source at (i + 0.5) · in/out − 0.5, clamped at 0, between pixels ⌊·⌋ and min(⌊·⌋ + 1, in − 1).
    /// (Downscaling by large factors aliases, as it does in PyTorch; this is meant for modest changes.)
    public func resized(height newHeight: Int, width newWidth: Int) throws -> ImageDataset {
        guard newHeight > 0, newWidth > 0 else {
            throw DataError.invalidArgument(dataset: source, argument: "size", value: "\(newHeight)×\(newWidth)",
                                            reason: "must be positive")
        }
        let ys = BilinearTaps(input: height, output: newHeight)
        let xs = BilinearTaps(input: width, output: newWidth)
        let c = channels, inSize = imageSize, outSize = newHeight * newWidth * c
        var out = [Float](repeating: 0, count: count * outSize)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for n in 0..<count {
                    let s = n * inSize
                    for oy in 0..<newHeight {
                        let y0 = ys.lo[oy], y1 = ys.hi[oy], wy = ys.weight[oy]
                        for ox in 0..<newWidth {
                            let x0 = xs.lo[ox], x1 = xs.hi[ox], wx = xs.weight[ox]
                            let d = n * outSize + (oy * newWidth + ox) * c
                            for k in 0..<c {
                                let a = src[s + (y0 * width + x0) * c + k], b = src[s + (y0 * width + x1) * c + k]
                                let e = src[s + (y1 * width + x0) * c + k], f = src[s + (y1 * width + x1) * c + k]
                                let top = (1 - wx) * a + wx * b, bottom = (1 - wx) * e + wx * f
                                dst[d + k] = (1 - wy) * top + wy * bottom
                            }
                        }
                    }
                }
            }
        }
        return try replacing(name: "\(name)[resize \(newHeight)x\(newWidth)]", height: newHeight, width: newWidth,
                             images: out)
    }

    /// Square shorthand for `resized(height:width:)`.
    public func resized(to size: Int) throws -> ImageDataset { try resized(height: size, width: size) }

    /// Every image mirrored left–right (a deterministic transform; random flips happen in `BatchIterator`).
    public func flippedHorizontally() throws -> ImageDataset {
        var out = images
        out.withUnsafeMutableBufferPointer { buf in
            for n in 0..<count { flipHorizontally(buf, offset: n * imageSize, height: height, width: width, channels: channels) }
        }
        return try replacing(name: "\(name)[flipped]", height: height, width: width, images: out)
    }
}

/// Mirrors one HWC image in place: column x swaps with column W − 1 − x, channels kept together.
public func flipHorizontally(_ buffer: UnsafeMutableBufferPointer<Float>, offset: Int, height: Int, width: Int,
                             channels: Int) {
    for y in 0..<height {
        let row = offset + y * width * channels
        for x in 0..<(width / 2) {
            let a = row + x * channels, b = row + (width - 1 - x) * channels
            for k in 0..<channels { buffer.swapAt(a + k, b + k) }
        }
    }
}

/// For each output coordinate of a 1-D bilinear resize: the two source indices and the weight of the second.
/// Computed in Float32 and blended as (1 − w)·a + w·b, the way PyTorch's CPU kernel does, so results agree
/// with it to the last bit or two rather than only approximately.
struct BilinearTaps {
    var lo: [Int] = [], hi: [Int] = [], weight: [Float] = []

    init(input: Int, output: Int) {
        let scale = Float(input) / Float(output)
        for i in 0..<output {
            let src = max(0, scale * (Float(i) + 0.5) - 0.5)
            let i0 = min(Int(src), input - 1)
            lo.append(i0)
            hi.append(min(i0 + 1, input - 1))
            weight.append(src - Float(i0))
        }
    }
}
