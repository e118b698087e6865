import Foundation

extension ImageDataset {
    /// Rows of the embedded digits file in the training split (the rest, 252 rows, is the test split).
    ///
    /// Why 1545: scikit-learn's digits are the *test* part of UCI optdigits, written on preprinted forms of ~130
    /// digits each (every form starts 0 1 2 … 9), and the rows are stored form after form. Row 1545 is
    /// where the last two forms begin, so cutting there keeps each form (each writer's block) on one side:
    /// the test images come from handwriting the model never saw, which a random or "first 1500" split
    /// would not guarantee (row 1500 falls inside a form). The test split still has 22–26 images per class.
    /// A contiguous cut also needs no RNG, so it cannot drift if the RNG changes.
    public static let digitsTrainCount = 1545

    /// The embedded scikit-learn digits (1797 images of 8×8, 17 grey levels 0…16, 10 classes; CC BY 4.0, see
    /// `Resources/digits-DESCR.rst`), scaled to [−1, 1] as x / 16 · 2 − 1.
    ///
    /// - Parameters:
    ///   - split: `.train` = rows 0..<1545, `.test` = rows 1545..<1797, `.all` = every row (see `digitsTrainCount`).
    ///   - csvPath: read this gzip CSV instead of the embedded copy (64 pixels then the label on each row).
    public static func digits(_ split: DatasetSplit = .all, csvPath: String? = nil) throws -> ImageDataset {
        let path: String
        if let csvPath {
            path = csvPath
        } else {
            guard let url = Bundle.module.url(forResource: "digits.csv", withExtension: "gz", subdirectory: "Resources")
            else {
                throw DataError.missingFile(path: "digits.csv.gz in the rdd_Data resource bundle",
                                            hint: "The Data target's resource bundle is incomplete; rebuild the package.")
            }
            path = url.path
        }
        let text = try Gzip.decompress(try readFileBytes(path), source: path)
        var images: [Float] = []
        var labels: [Int] = []
        images.reserveCapacity(1797 * 64)
        var row = 0
        for line in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
            guard fields.count == 65 else {
                throw DataError.invalid(file: path, field: "row \(row) field count", value: "\(fields.count)",
                                        reason: "each row needs 64 pixels and a label")
            }
            for (column, f) in fields.enumerated() {
                let s = String(decoding: f, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                let limit = column < 64 ? 16 : 9
                guard let v = Int(s), v >= 0, v <= limit else {
                    throw DataError.invalid(file: path, field: "row \(row) column \(column)", value: "'\(s)'",
                                            reason: column < 64 ? "pixels are integers 0…16" : "labels are integers 0…9")
                }
                if column < 64 { images.append(Float(v) / 16 * 2 - 1) } else { labels.append(v) }
            }
            row += 1
        }
        let all = try ImageDataset(name: "digits", source: path, height: 8, width: 8, channels: 1, classCount: 10,
                                   images: images, labels: labels)
        let cut = min(digitsTrainCount, all.count)
        switch split {
        case .all: return all
        case .train: return try all.subset(Array(0..<cut), name: "digits-train")
        case .test: return try all.subset(Array(cut..<all.count), name: "digits-test")
        }
    }
}
