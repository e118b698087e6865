import Foundation
import XCTest
@testable import Data

/// The embedded scikit-learn digits: content, split and CSV validation.
final class DigitsTests: XCTestCase {
    func testEmbeddedDigitsContent() throws {
        let ds = try ImageDataset.digits(.all)
        XCTAssertEqual([ds.count, ds.height, ds.width, ds.channels, ds.classCount], [1797, 8, 8, 1, 10])
        // Row 0 of digits.csv starts 0,0,5,13,9,1,0,0 and is a 0.
        XCTAssertEqual(Array(ds.images[0..<8]), [0, 0, 5, 13, 9, 1, 0, 0].map { Float($0) / 16 * 2 - 1 })
        XCTAssertEqual(ds.labels[0], 0)
        XCTAssertEqual(Array(ds.labels[0..<10]), Array(0..<10))
        // Class counts as scikit-learn documents them (np.bincount(load_digits().target)).
        XCTAssertEqual(ds.classCounts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
        XCTAssertEqual(ds.images.min(), -1)
        XCTAssertEqual(ds.images.max(), 1)
        XCTAssertFalse(ds.flipAugmentation)
    }

    func testDigitsSplitIsTheDocumentedFormBoundary() throws {
        let all = try ImageDataset.digits(.all)
        let train = try ImageDataset.digits(.train)
        let test = try ImageDataset.digits(.test)
        XCTAssertEqual(ImageDataset.digitsTrainCount, 1545)
        XCTAssertEqual(train.count, 1545)
        XCTAssertEqual(test.count, 252)
        XCTAssertEqual(train.images + test.images, all.images)
        XCTAssertEqual(train.labels + test.labels, all.labels)
        // The cut is at the start of a handwriting form: forms begin 0 1 2 … 9 (then 0 1 2 … again, here with
        // two digits missing from the file).
        XCTAssertEqual(Array(test.labels[0..<20]), Array(0..<10) + [0, 1, 2, 3, 4, 5, 6, 9, 0, 1])
        // ... and the previous form ends ... 9 0 8 9 8 (every full form ends this way).
        XCTAssertEqual(Array(train.labels.suffix(5)), [9, 0, 8, 9, 8])
        XCTAssertEqual(test.classCounts, [25, 26, 24, 26, 26, 26, 26, 25, 22, 26])
        XCTAssertEqual(test.name, "digits-test")
    }

    func testDigitsCSVValidation() throws {
        let dir = try makeTempDirectory(self)
        func csv(_ rows: [String]) throws -> String {
            let path = dir + "/d\(rows.hashValue).csv.gz"
            try writeBytes(gzipStored(Array(rows.joined(separator: "\n").utf8)), to: path)
            return path
        }
        let row = Array(repeating: "16", count: 64).joined(separator: ",")
        let ok = try ImageDataset.digits(csvPath: try csv([row + ",3", row + ",4"]))
        XCTAssertEqual(ok.labels, [3, 4])
        XCTAssertEqual(ok.images, Array(repeating: 1, count: 128))
        assertDataError(try ImageDataset.digits(csvPath: try csv([row + ",3", row])), field: "row 1 field count",
                        contains: "64")
        assertDataError(try ImageDataset.digits(csvPath: try csv([row + ",3", "17," + row.dropFirst(3) + ",2"])),
                        field: "row 1 column 0", contains: "'17'")
        assertDataError(try ImageDataset.digits(csvPath: try csv([row + ",x"])), field: "row 0 column 64")
        assertDataError(try ImageDataset.digits(csvPath: dir + "/absent.csv.gz"), contains: "absent.csv.gz")
    }
}
