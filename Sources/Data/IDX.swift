/// An IDX array (the MNIST file format): a big-endian header (magic = 0, 0, type, number of dimensions;
/// then one UInt32 per dimension) followed by the elements. Only type 0x08 (unsigned byte) is read: it is
/// the only type MNIST-style image and label files use.
struct IDXArray {
    let shape: [Int]
    /// The element bytes (the header stripped).
    let values: ArraySlice<UInt8>

    /// Reads an IDX file, gunzipping it first if it starts with the gzip magic.
    /// - Parameter magic: the expected magic number (2051 for images, 2049 for labels).
    init(path: String, magic: UInt32, hint: String) throws {
        var bytes = try readFileBytes(path, hint: hint)
        if Gzip.isGzip(bytes) { bytes = try Gzip.decompress(bytes, source: path) }
        let r = ByteReader(bytes: bytes, source: path)
        let found = try r.u32be(0, field: "IDX magic")
        guard found == magic else {
            let kind = magic == 2051 ? "an images file (2051)" : magic == 2049 ? "a labels file (2049)" : "\(magic)"
            throw DataError.invalid(file: path, field: "IDX magic", value: "\(found)",
                                    reason: "expected \(kind); is this an IDX file of the right kind?")
        }
        let rank = Int(magic & 0xFF)
        var shape: [Int] = []
        for d in 0..<rank { shape.append(Int(try r.u32be(4 + 4 * d, field: "IDX dimension \(d)"))) }
        let start = 4 + 4 * rank
        let expected = checkedProduct(shape)
        guard bytes.count - start == expected else {
            throw DataError.invalid(file: path, field: "IDX data size", value: "\(bytes.count - start) bytes",
                                    reason: "the header's shape \(shape) needs \(expected.map(String.init) ?? "too many") bytes")
        }
        self.shape = shape
        self.values = bytes[start...]
    }
}

extension ImageDataset {
    /// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST.
    public static let fashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

    /// An MNIST-format dataset from an IDX images file (magic 2051: n, rows, cols, then uint8 pixels) and an
    /// IDX labels file (magic 2049: n, then uint8 labels), each gzipped or not. Pixels are scaled x/255·2−1.
    ///
    /// - Parameters:
    ///   - classCount: labels must lie below it (10 for MNIST and Fashion-MNIST).
    ///   - hint: how to obtain the files, quoted in the error when one is missing.
    public static func idx(imagesPath: String, labelsPath: String, name: String, classCount: Int = 10,
                           hint: String = "") throws -> ImageDataset {
        let images = try IDXArray(path: imagesPath, magic: 2051, hint: hint)
        let labels = try IDXArray(path: labelsPath, magic: 2049, hint: hint)
        guard images.shape[0] == labels.shape[0] else {
            throw DataError.invalid(file: labelsPath, field: "label count", value: "\(labels.shape[0])",
                                    reason: "\(imagesPath) holds \(images.shape[0]) images")
        }
        let labelValues = labels.values.map { Int($0) }
        if let i = labelValues.firstIndex(where: { $0 >= classCount }) {
            throw DataError.invalid(file: labelsPath, field: "label[\(i)]",
                                    value: "\(labelValues[i])", reason: "labels must lie in 0..<\(classCount)")
        }
        return try ImageDataset(name: name, source: imagesPath, height: images.shape[1], width: images.shape[2],
                                channels: 1, classCount: classCount, flipAugmentation: false,
                                images: PixelScale.fromHWC(images.values), labels: labelValues)
    }

    /// Fashion-MNIST (60 000 train / 10 000 test images of 28×28, 10 classes, MIT licence) from the
    /// directory Debian's `dataset-fashion-mnist` installs to (or any directory holding the four
    /// `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz` files).
    public static func fashionMNIST(_ split: DatasetSplit = .train,
                                    directory: String = fashionMNISTDirectory) throws -> ImageDataset {
        let hint = directory == fashionMNISTDirectory
            ? "Install it with: apt-get install -y dataset-fashion-mnist"
            : "Put the four Fashion-MNIST files {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz in \(directory) "
                + "(or install them to \(fashionMNISTDirectory) with: apt-get install -y dataset-fashion-mnist)"
        func load(_ prefix: String, _ name: String) throws -> ImageDataset {
            try idx(imagesPath: "\(directory)/\(prefix)-images-idx3-ubyte.gz",
                    labelsPath: "\(directory)/\(prefix)-labels-idx1-ubyte.gz", name: name, hint: hint)
        }
        switch split {
        case .train: return try load("train", "fashion-mnist-train")
        case .test: return try load("t10k", "fashion-mnist-test")
        case .all:
            return try concatenating([try load("train", "fashion-mnist-train"), try load("t10k", "fashion-mnist-test")],
                                     name: "fashion-mnist", source: directory)
        }
    }
}
