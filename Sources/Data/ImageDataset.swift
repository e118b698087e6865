/// A labelled image dataset held in memory, the common result of every loader.
///
/// Layout and scale are fixed so that nothing downstream needs to know where the images came from:
/// - images are Float32 in NHWC order (`images[((n * height + y) * width + x) * channels + c]`), channels last
///   because that is the order of every source file except CIFAR/ImageNet (whose CHW planes are transposed
///   once, at load time);
/// - pixel values are scaled to [−1, 1] as (x / max) · 2 − 1, where max is the format's full scale
///   (255 for uint8 data, 16 for digits). For uint8 this equals torchvision's `ToTensor()` followed by
///   `Normalize(0.5, 0.5)`, the paper's preprocessing (spec §2.1);
/// - labels are 0-based class indices below `classCount`.
public struct ImageDataset: Sendable, Equatable {
    /// A short name ("digits-train", "fashion-mnist-test", "cifar10-train[first 100/class]").
    public let name: String
    /// Where the data came from (a path, or a description for embedded or derived data).
    public let source: String
    public let height: Int
    public let width: Int
    public let channels: Int
    public let classCount: Int
    /// Whether random horizontal flips are a sensible augmentation for this data (true for natural images
    /// such as CIFAR-10 and ImageNet, as in the paper; false for digits and clothing, where a mirrored image is
    /// not a plausible sample). A hint for the caller of `BatchIterator`, which takes the flag explicitly.
    public let flipAugmentation: Bool
    /// N·H·W·C values in [−1, 1], NHWC.
    public let images: [Float]
    /// N labels in 0..<classCount.
    public let labels: [Int]

    /// Builds a dataset after checking that sizes agree and every label is in range.
    public init(name: String, source: String, height: Int, width: Int, channels: Int, classCount: Int,
                flipAugmentation: Bool = false, images: [Float], labels: [Int]) throws {
        for (field, v) in [("height", height), ("width", width), ("channels", channels), ("classCount", classCount)]
        where v <= 0 {
            throw DataError.invalidArgument(dataset: source, argument: field, value: "\(v)", reason: "must be positive")
        }
        let total = checkedProduct([labels.count, height, width, channels])
        guard images.count == total else {
            throw DataError.invalid(file: source, field: "image count", value: "\(images.count) values",
                                    reason: "\(labels.count) labels need \(total.map(String.init) ?? "too many") values "
                                        + "(\(height)×\(width)×\(channels) each)")
        }
        if let i = labels.firstIndex(where: { $0 < 0 || $0 >= classCount }) {
            throw DataError.invalid(file: source, field: "label[\(i)]", value: "\(labels[i])",
                                    reason: "labels must lie in 0..<\(classCount)")
        }
        self.name = name
        self.source = source
        self.height = height
        self.width = width
        self.channels = channels
        self.classCount = classCount
        self.flipAugmentation = flipAugmentation
        self.images = images
        self.labels = labels
    }

    /// Number of images.
    public var count: Int { labels.count }

    /// Values per image (H·W·C).
    public var imageSize: Int { height * width * channels }

    /// The values of image `i` (H·W·C, HWC order).
    public func image(_ i: Int) -> ArraySlice<Float> { images[i * imageSize ..< (i + 1) * imageSize] }

    /// How many images each class has (index = label).
    public var classCounts: [Int] {
        var c = [Int](repeating: 0, count: classCount)
        for l in labels { c[l] += 1 }
        return c
    }

    /// A copy with new images of a new size (used by the transforms; the metadata is kept).
    func replacing(name: String? = nil, height: Int, width: Int, images: [Float]) throws -> ImageDataset {
        try ImageDataset(name: name ?? self.name, source: source, height: height, width: width, channels: channels,
                         classCount: classCount, flipAugmentation: flipAugmentation, images: images, labels: labels)
    }

    /// Several datasets of the same geometry, one after the other (e.g. CIFAR's five training batches).
    public static func concatenating(_ parts: [ImageDataset], name: String, source: String) throws -> ImageDataset {
        guard let first = parts.first else {
            throw DataError.invalidArgument(dataset: source, argument: "parts", value: "[]",
                                            reason: "nothing to concatenate")
        }
        if parts.count == 1 {
            return try ImageDataset(name: name, source: source, height: first.height, width: first.width,
                                    channels: first.channels, classCount: first.classCount,
                                    flipAugmentation: first.flipAugmentation, images: first.images,
                                    labels: first.labels)
        }
        for p in parts where (p.height, p.width, p.channels, p.classCount)
            != (first.height, first.width, first.channels, first.classCount) {
            throw DataError.invalid(file: p.source, field: "geometry",
                                    value: "\(p.height)×\(p.width)×\(p.channels), \(p.classCount) classes",
                                    reason: "differs from \(first.source) (\(first.height)×\(first.width)×"
                                        + "\(first.channels), \(first.classCount) classes)")
        }
        var images: [Float] = []
        images.reserveCapacity(parts.reduce(0) { $0 + $1.images.count })
        var labels: [Int] = []
        for p in parts { images += p.images; labels += p.labels }
        return try ImageDataset(name: name, source: source, height: first.height, width: first.width,
                                channels: first.channels, classCount: first.classCount,
                                flipAugmentation: first.flipAugmentation, images: images, labels: labels)
    }
}

/// Which part of a dataset to load. `.all` is train followed by test.
public enum DatasetSplit: String, Sendable, CaseIterable {
    case train, test, all
}

/// Pixel conversion shared by the loaders.
enum PixelScale {
    /// uint8 → [−1, 1] exactly as torchvision computes it: `ToTensor` (x / 255 in Float32) then
    /// `Normalize(0.5, 0.5)` ((v − 0.5) / 0.5). A 256-entry table, so the loops are lookups.
    static let uint8Table: [Float] = (0..<256).map { (Float($0) / 255 - 0.5) / 0.5 }

    /// Converts uint8 pixels already in HWC order (IDX files, where C = 1) to scaled floats.
    static func fromHWC(_ bytes: ArraySlice<UInt8>) -> [Float] {
        var out = [Float](repeating: 0, count: bytes.count)
        uint8Table.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<src.count { dst[i] = table[Int(src[i])] }
                }
            }
        }
        return out
    }

    /// Converts images stored as CHW planes (CIFAR-10, ImageNet-64: all R values, then G, then B) to scaled
    /// floats in HWC order. `recordStart(n)` is the offset of image n's first pixel byte (CIFAR records start
    /// with a label byte).
    static func fromCHW(_ bytes: [UInt8], count: Int, height: Int, width: Int, channels: Int,
                        recordStart: (Int) -> Int) -> [Float] {
        let plane = height * width
        let size = plane * channels
        var out = [Float](repeating: 0, count: count * size)
        uint8Table.withUnsafeBufferPointer { table in
            bytes.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for n in 0..<count {
                        let s = recordStart(n)
                        let d = n * size
                        for c in 0..<channels {
                            for p in 0..<plane { dst[d + p * channels + c] = table[Int(src[s + c * plane + p])] }
                        }
                    }
                }
            }
        }
        return out
    }
}
