import Foundation
import XCTest
@testable import Data

/// CIFAR-10 binary batches and Downsampled-ImageNet-64 npz batches, written by the test in the official
/// layouts (CHW planes per image), valid and corrupt.
final class ColorDatasetTests: XCTestCase {
    /// A CHW image with a distinct value for every (channel, pixel): byte = (c·7 + p·3 + seed) mod 256.
    func chwImage(side: Int, seed: Int) -> [UInt8] {
        (0..<3).flatMap { c in (0..<(side * side)).map { p in UInt8((c * 7 + p * 3 + seed) % 256) } }
    }

    /// Checks that `ds` image `n` is `chw` transposed to HWC and scaled.
    func assertHWC(_ ds: ImageDataset, _ n: Int, _ chw: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        let plane = ds.height * ds.width
        var expected = [Float](repeating: 0, count: plane * 3)
        for c in 0..<3 { for p in 0..<plane { expected[p * 3 + c] = scaled(chw[c * plane + p]) } }
        XCTAssertEqual(Array(ds.image(n)), expected, file: file, line: line)
    }

    // MARK: CIFAR-10

    func cifarRecord(label: UInt8, seed: Int) -> [UInt8] { [label] + chwImage(side: 32, seed: seed) }

    func testCIFARBinaryRecordsBecomeNHWC() throws {
        let dir = try makeTempDirectory(self)
        for b in 1...5 { try writeBytes(cifarRecord(label: UInt8(b), seed: b) + cifarRecord(label: 0, seed: 50 + b),
                                        to: "\(dir)/data_batch_\(b).bin") }
        try writeBytes(cifarRecord(label: 9, seed: 99), to: "\(dir)/test_batch.bin")
        let train = try ImageDataset.cifar10(.train, directory: dir)
        XCTAssertEqual([train.count, train.height, train.width, train.channels, train.classCount], [10, 32, 32, 3, 10])
        XCTAssertEqual(train.labels, [1, 0, 2, 0, 3, 0, 4, 0, 5, 0])
        XCTAssertTrue(train.flipAugmentation)
        assertHWC(train, 0, chwImage(side: 32, seed: 1))
        assertHWC(train, 9, chwImage(side: 32, seed: 55))
        // Pixel (y 0, x 1) of image 0: R = 3 + 1, G = 7 + 3 + 1, B = 14 + 3 + 1.
        XCTAssertEqual(Array(train.images[3...5]), [4, 11, 18].map(scaled))
        let test = try ImageDataset.cifar10(.test, directory: dir)
        XCTAssertEqual(test.labels, [9])
        assertHWC(test, 0, chwImage(side: 32, seed: 99))
        XCTAssertEqual(try ImageDataset.cifar10(.all, directory: dir).count, 11)
    }

    func testCIFARRefusesCorruptAndMissingFiles() throws {
        let dir = try makeTempDirectory(self)
        let good = cifarRecord(label: 3, seed: 0)
        try writeBytes(good + good.prefix(100), to: dir + "/short.bin")
        assertDataError(try ImageDataset.cifar10(batchFiles: [dir + "/short.bin"]), field: "file size",
                        contains: "\(dir)/short.bin")
        try writeBytes(good + cifarRecord(label: 10, seed: 0), to: dir + "/label.bin")
        assertDataError(try ImageDataset.cifar10(batchFiles: [dir + "/label.bin"]), field: "record 1 label",
                        contains: "10")
        do {
            _ = try ImageDataset.cifar10(.test, directory: dir)
            XCTFail("expected an error")
        } catch let DataError.missingFile(path, hint) {
            XCTAssertEqual(path, dir + "/test_batch.bin")
            XCTAssertTrue(hint.contains("cifar-10-binary.tar.gz") && hint.contains(dir), hint)
        }
    }

    // MARK: Downsampled ImageNet 64×64

    /// Writes train_data_batch_1/2.npz and val_data.npz with numpy when available (batch 1 stored with np.savez,
    /// batch 2 deflated with np.savez_compressed, as the official files are), else stored zips from Swift.
    /// Without numpy the Python variant throws `XCTSkip` (runPython).
    /// Image k of the whole set has seed 10k, its label is (k mod 4)·300 + 1 (1-based).
    func writeImageNetFiles(_ dir: String, usePython: Bool) throws {
        let counts = [("train_data_batch_1", 3), ("train_data_batch_2", 2), ("val_data", 2)]
        if usePython {
            let script = """
            import numpy as np
            k = 0
            for name, n, compress in [('train_data_batch_1', 3, False), ('train_data_batch_2', 2, True),
                                      ('val_data', 2, True)]:
                data = np.zeros((n, 12288), dtype=np.uint8)
                labels = []
                for i in range(n):
                    c, p = np.meshgrid(np.arange(3), np.arange(4096), indexing='ij')
                    data[i] = ((c * 7 + p * 3 + 10 * k) % 256).reshape(-1)
                    labels.append((k % 4) * 300 + 1)
                    k += 1
                save = np.savez_compressed if compress else np.savez
                extra = dict(mean=data.mean(0)) if name.startswith('train') else {}
                save('\(dir)/' + name + '.npz', data=data, labels=labels, **extra)
            """
            try runPython(script)
            return
        }
        var k = 0
        for (name, n) in counts {
            var data: [UInt8] = [], labels: [UInt8] = []
            for _ in 0..<n {
                data += chwImage(side: 64, seed: 10 * k)
                labels += le32(UInt32((k % 4) * 300 + 1)) + [0, 0, 0, 0]
                k += 1
            }
            try writeBytes(zipStored([("data.npy", npyBytes(descr: "|u1", shape: [n, 12288], payload: data)),
                                      ("labels.npy", npyBytes(descr: "<i8", shape: [n], payload: labels))]),
                           to: "\(dir)/\(name).npz")
        }
    }

    func testImageNet64NpzBatches() throws {
        for usePython in [false, true] {              // the Swift-written files first: numpy missing skips only the rest
            let dir = try makeTempDirectory(self)
            try writeImageNetFiles(dir, usePython: usePython)
            let files = ["train_data_batch_1", "train_data_batch_2"].map { "\(dir)/\($0).npz" }
            let train = try ImageDataset.imageNet64(batchFiles: files)
            XCTAssertEqual([train.count, train.height, train.width, train.channels, train.classCount],
                           [5, 64, 64, 3, 1000])
            XCTAssertEqual(train.labels, [0, 300, 600, 900, 0], "labels are made 0-based")
            for k in 0..<5 { assertHWC(train, k, chwImage(side: 64, seed: 10 * k)) }
            let val = try ImageDataset.imageNet64(batchFiles: ["\(dir)/val_data.npz"])
            XCTAssertEqual(val.labels, [300, 600])
            assertHWC(val, 1, chwImage(side: 64, seed: 60))
            // limit stops inside the second file.
            let four = try ImageDataset.imageNet64(batchFiles: files, limit: 4)
            XCTAssertEqual(four.labels, [0, 300, 600, 900])
            XCTAssertEqual(four.images, Array(train.images.prefix(4 * 12288)))
        }
    }

    func testImageNet64RefusesBadFiles() throws {
        let dir = try makeTempDirectory(self)
        func npz(_ name: String, data: [UInt8], shape: [Int], labels: [UInt8], labelShape: [Int]) throws -> String {
            let path = "\(dir)/\(name).npz"
            try writeBytes(zipStored([("data.npy", npyBytes(descr: "|u1", shape: shape, payload: data)),
                                      ("labels.npy", npyBytes(descr: "|u1", shape: labelShape, payload: labels))]),
                           to: path)
            return path
        }
        let image = chwImage(side: 64, seed: 0)
        let zero = try npz("zero", data: image, shape: [1, 12288], labels: [0], labelShape: [1])
        assertDataError(try ImageDataset.imageNet64(batchFiles: [zero]), field: "labels[0]", contains: "1-based")
        let wrong = try npz("wrong", data: Array(image.prefix(3072)), shape: [1, 3072], labels: [1], labelShape: [1])
        assertDataError(try ImageDataset.imageNet64(batchFiles: [wrong]), field: "data", contains: "wrong.npz")
        let count = try npz("count", data: image, shape: [1, 12288], labels: [1, 2], labelShape: [2])
        assertDataError(try ImageDataset.imageNet64(batchFiles: [count]), field: "labels", contains: "1 labels")
        let noLabels = "\(dir)/nolabels.npz"
        try writeBytes(zipStored([("data.npy", npyBytes(descr: "|u1", shape: [1, 12288], payload: image))]), to: noLabels)
        assertDataError(try ImageDataset.imageNet64(batchFiles: [noLabels]), field: "key", contains: "'labels'")
        do {
            _ = try ImageDataset.imageNet64(.test, directory: dir)
            XCTFail("expected an error")
        } catch let DataError.missingFile(path, hint) {
            XCTAssertEqual(path, dir + "/val_data.npz")
            XCTAssertTrue(hint.contains("image-net.org") && hint.contains(dir), hint)
        }
    }
}
