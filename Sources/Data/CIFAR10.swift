extension ImageDataset {
    /// What a user must do to obtain CIFAR-10 (it cannot be downloaded on the project's machines).
    static func cifar10Hint(_ directory: String) -> String {
        "CIFAR-10 is not installable here: on a machine with internet access download cifar-10-binary.tar.gz "
            + "from https://www.cs.toronto.edu/~kriz/cifar.html, extract it and put data_batch_1.bin … "
            + "data_batch_5.bin and test_batch.bin in \(directory) (the extracted folder cifar-10-batches-bin)."
    }

    /// CIFAR-10 from the official binary batches in `directory`: `.train` = data_batch_1…5.bin (50 000 images),
    /// `.test` = test_batch.bin (10 000). 32×32×3, 10 classes, flips recommended (the paper's augmentation).
    public static func cifar10(_ split: DatasetSplit = .train, directory: String) throws -> ImageDataset {
        let train = (1...5).map { "\(directory)/data_batch_\($0).bin" }
        let test = ["\(directory)/test_batch.bin"]
        let files = split == .train ? train : split == .test ? test : train + test
        return try cifar10(batchFiles: files, name: "cifar10-\(split.rawValue)", hint: cifar10Hint(directory))
    }

    /// CIFAR-10 from explicit binary batch files. Each record is 1 label byte (0…9) then 3072 pixel bytes:
    /// the 32×32 red plane, then green, then blue (row-major within a plane). A file whose size is not a
    /// whole number of records is refused as truncated or not a CIFAR-10 binary batch.
    public static func cifar10(batchFiles: [String], name: String = "cifar10", hint: String? = nil) throws -> ImageDataset {
        let record = 1 + 3072
        // Accumulate into one array (not one dataset per file, then concatenate) to halve peak memory.
        var allImages: [Float] = []
        var allLabels: [Int] = []
        for path in batchFiles {
            let bytes = try readFileBytes(path, hint: hint ?? cifar10Hint("the folder you pass"))
            guard !bytes.isEmpty, bytes.count % record == 0 else {
                throw DataError.invalid(file: path, field: "file size", value: "\(bytes.count) bytes",
                                        reason: "not a whole number of 3073-byte CIFAR-10 records "
                                            + "(truncated, or the python/matlab version instead of the binary one)")
            }
            let n = bytes.count / record
            var labels = [Int](repeating: 0, count: n)
            for i in 0..<n {
                let l = Int(bytes[i * record])
                guard l < 10 else {
                    throw DataError.invalid(file: path, field: "record \(i) label", value: "\(l)",
                                            reason: "CIFAR-10 labels are 0…9 (a CIFAR-100 file has 2 label bytes)")
                }
                labels[i] = l
            }
            let images = PixelScale.fromCHW(bytes, count: n, height: 32, width: 32, channels: 3) { $0 * record + 1 }
            allImages += images
            allLabels += labels
        }
        return try ImageDataset(name: name, source: batchFiles.count == 1 ? batchFiles[0] : batchFiles.joined(separator: ", "),
                                height: 32, width: 32, channels: 3, classCount: 10, flipAugmentation: true,
                                images: allImages, labels: allLabels)
    }
}
