extension ImageDataset {
    static func imageNet64Hint(_ directory: String) -> String {
        "Downsampled ImageNet is not installable here: a user with an image-net.org account downloads "
            + "\"Imagenet64_train_part1_npz\", \"Imagenet64_train_part2_npz\" and \"Imagenet64_val_npz\" "
            + "(https://image-net.org/download-images, Downsampled ImageNet 64x64) and puts train_data_batch_1.npz "
            + "… train_data_batch_10.npz and val_data.npz in \(directory)."
    }

    /// Downsampled ImageNet 64×64 (Chrabaszcz et al. 2017) from the npz batches in `directory`:
    /// `.train` = train_data_batch_1…10.npz, `.test` = val_data.npz.
    ///
    /// - Parameter limit: load at most this many images (in file order). The full training set is 1.28 M
    ///   images, 63 GB as Float32: a small preset should say how much it needs instead of loading it all.
    public static func imageNet64(_ split: DatasetSplit = .train, directory: String,
                                  limit: Int? = nil) throws -> ImageDataset {
        let train = (1...10).map { "\(directory)/train_data_batch_\($0).npz" }
        let val = ["\(directory)/val_data.npz"]
        let files = split == .train ? train : split == .test ? val : train + val
        return try imageNet64(batchFiles: files, name: "imagenet64-\(split.rawValue)", limit: limit,
                              hint: imageNet64Hint(directory))
    }

    /// Downsampled ImageNet 64×64 from explicit npz files. Each holds `data`: (N, 12288) uint8, each row the
    /// 64×64 red plane then green then blue; `labels`: N integers 1…1000 (stored 1-based; made 0-based here);
    /// and optionally `mean` (the training-set mean image, unused: images are scaled x/255·2−1 like CIFAR).
    /// Files are read in order until `limit` images are loaded.
    public static func imageNet64(batchFiles: [String], name: String = "imagenet64", limit: Int? = nil,
                                  hint: String? = nil) throws -> ImageDataset {
        if let limit, limit <= 0 {
            throw DataError.invalidArgument(dataset: batchFiles.first ?? name, argument: "limit", value: "\(limit)",
                                            reason: "must be positive")
        }
        guard !batchFiles.isEmpty else {
            throw DataError.invalidArgument(dataset: name, argument: "batchFiles", value: "[]", reason: "no files given")
        }
        let side = 64, size = side * side * 3
        var allImages: [Float] = []
        var allLabels: [Int] = []
        var loaded = 0
        for path in batchFiles {
            if let limit, loaded >= limit { break }
            let npz = try NpzArchive(path: path, hint: hint ?? imageNet64Hint("the folder you pass"))
            let data = try npz.array("data")
            guard data.dtype == .uint8, data.shape.count == 2, data.shape[1] == size else {
                throw DataError.invalid(file: data.source, field: "data", value: "\(data.dtype.rawValue) \(data.shape)",
                                        reason: "expected uint8 of shape (N, \(size)) (64×64×3 CHW rows)")
            }
            let labelArray = try npz.array("labels")
            var labels = try labelArray.ints()
            guard labelArray.shape.count <= 2, labels.count == data.shape[0] else {
                throw DataError.invalid(file: labelArray.source, field: "labels", value: "shape \(labelArray.shape)",
                                        reason: "expected \(data.shape[0]) labels, one per row of data")
            }
            if let i = labels.firstIndex(where: { $0 < 1 || $0 > 1000 }) {
                throw DataError.invalid(file: labelArray.source, field: "labels[\(i)]", value: "\(labels[i])",
                                        reason: "Downsampled ImageNet labels are 1-based, 1…1000")
            }
            let n = min(data.shape[0], limit.map { $0 - loaded } ?? Int.max)
            labels = labels.prefix(n).map { $0 - 1 }
            let images = PixelScale.fromCHW(data.payload, count: n, height: side, width: side, channels: 3) { $0 * size }
            allImages += images
            allLabels += labels
            loaded += n
        }
        return try ImageDataset(name: name, source: batchFiles.count == 1 ? batchFiles[0] : batchFiles.joined(separator: ", "),
                                height: side, width: side, channels: 3, classCount: 1000, flipAugmentation: true,
                                images: allImages, labels: allLabels)
    }
}
