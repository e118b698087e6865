import Foundation
import XCTest
@testable import Data

/// IDX (MNIST format) files written by the test, gzipped and raw, valid and corrupt; then the real
/// Fashion-MNIST files from Debian's dataset-fashion-mnist package.
final class IDXTests: XCTestCase {
    /// 3 images of 2×3 with pixel (n, y, x) = 40n + 10y + x + offset, labels 7, 0, 9.
    let pixels: [UInt8] = {
        var p: [UInt8] = []
        for n in 0..<3 { for y in 0..<2 { for x in 0..<3 { p.append(UInt8(40 * n + 10 * y + x + 1)) } } }
        return p
    }()
    let labelBytes: [UInt8] = [7, 0, 9]

    func imagesFile(count: Int = 3, magic: Int = 2051, extra: [UInt8] = []) -> [UInt8] {
        be32(magic) + be32(count) + be32(2) + be32(3) + pixels + extra
    }

    func labelsFile(_ labels: [UInt8]? = nil) -> [UInt8] {
        let l = labels ?? labelBytes
        return be32(2049) + be32(l.count) + l
    }

    func testIDXRawAndGzippedGiveTheSameScaledNHWCData() throws {
        let dir = try makeTempDirectory(self)
        try writeBytes(imagesFile(), to: dir + "/img")
        try writeBytes(labelsFile(), to: dir + "/lab")
        try writeBytes(gzipStored(imagesFile()), to: dir + "/img.gz")
        try writeBytes(gzipStored(labelsFile()), to: dir + "/lab.gz")
        let raw = try ImageDataset.idx(imagesPath: dir + "/img", labelsPath: dir + "/lab", name: "t")
        let gz = try ImageDataset.idx(imagesPath: dir + "/img.gz", labelsPath: dir + "/lab.gz", name: "t")
        XCTAssertEqual(raw.images, gz.images)
        XCTAssertEqual(raw.labels, [7, 0, 9])
        XCTAssertEqual([raw.count, raw.height, raw.width, raw.channels, raw.classCount], [3, 2, 3, 1, 10])
        XCTAssertFalse(raw.flipAugmentation)
        // Image 2, row 1, column 2 holds 40·2 + 10 + 2 + 1 = 93 → 93/255·2 − 1.
        XCTAssertEqual(raw.images[2 * 6 + 1 * 3 + 2], 93 / 255 * 2 - 1, accuracy: 1e-6)
        XCTAssertEqual(raw.images[0], scaled(1))
        XCTAssertEqual(raw.images, pixels.map(scaled))
    }

    func testIDXRefusesCorruptFiles() throws {
        let dir = try makeTempDirectory(self)
        try writeBytes(labelsFile(), to: dir + "/lab")
        func load(_ images: [UInt8], labels: [UInt8]? = nil) throws -> ImageDataset {
            try writeBytes(images, to: dir + "/img")
            if let labels { try writeBytes(labels, to: dir + "/lab2") }
            return try ImageDataset.idx(imagesPath: dir + "/img", labelsPath: dir + (labels == nil ? "/lab" : "/lab2"),
                                        name: "t")
        }
        assertDataError(try load(imagesFile(magic: 2049)), field: "IDX magic", contains: "2049")
        assertDataError(try load(imagesFile(extra: [1])), field: "IDX data size", contains: "\(dir)/img")
        assertDataError(try load(Array(imagesFile().prefix(30))), field: "IDX data size")
        assertDataError(try load(Array(imagesFile().prefix(10))), field: "IDX dimension 1")
        assertDataError(try load(imagesFile(), labels: labelsFile([1, 2])), field: "label count", contains: "3 images")
        assertDataError(try load(imagesFile(), labels: labelsFile([1, 12, 2])), field: "label[1]", contains: "12")
        // A header claiming 2^32 − 1 images of 2^32 − 1 × 2^32 − 1 pixels overflows Int: an error, not a trap.
        assertDataError(try load(be32(2051) + be32(-1) + be32(-1) + be32(-1) + pixels), field: "IDX data size",
                        contains: "too many")
        let gz = gzipStored(imagesFile())
        assertDataError(try load(Array(gz.prefix(gz.count / 2))), field: "gzip stream", contains: "truncated")
    }

    func testFashionMNISTMissingFilesNameTheAptCommand() throws {
        let dir = try makeTempDirectory(self)
        do {
            _ = try ImageDataset.fashionMNIST(.train, directory: dir)
            XCTFail("expected an error")
        } catch let DataError.missingFile(path, hint) {
            XCTAssertEqual(path, dir + "/train-images-idx3-ubyte.gz")
            XCTAssertTrue(hint.contains("apt-get install -y dataset-fashion-mnist"), hint)
        }
    }

    func testFashionMNISTRealFilesLoad() throws {
        let dir = ImageDataset.fashionMNISTDirectory
        guard FileManager.default.fileExists(atPath: dir + "/t10k-labels-idx1-ubyte.gz") else {
            throw XCTSkip("Fashion-MNIST not installed at \(dir) (apt-get install -y dataset-fashion-mnist; scripts/setup.sh does)")
        }
        // Pixels (row 10, columns 13…15) of each split's first image, read from the files with numpy.
        let known: [DatasetSplit: [UInt8]] = [.train: [193, 228, 218], .test: [4, 0, 53]]
        for (split, n) in [(DatasetSplit.train, 60_000), (.test, 10_000)] {
            let ds = try ImageDataset.fashionMNIST(split, directory: dir)
            XCTAssertEqual([ds.count, ds.height, ds.width, ds.channels, ds.classCount], [n, 28, 28, 1, 10])
            // Fashion-MNIST is exactly balanced: n/10 images per class.
            XCTAssertEqual(ds.classCounts, Array(repeating: n / 10, count: 10))
            // Pixels 0 and 255 both occur among the first 100 images (min/max over all 47 M values is slow in debug).
            let head = ds.images[0 ..< 100 * 784]
            XCTAssertEqual(head.min(), -1)
            XCTAssertEqual(head.max(), 1)
            // The first image of both splits is an ankle boot (class 9).
            XCTAssertEqual(ds.labels.first, 9)
            XCTAssertEqual(Array(ds.images[(10 * 28 + 13)...(10 * 28 + 15)]), known[split]!.map(scaled))
        }
    }
}
