import XCTest
import Foundation
import CZlib
@testable import Report

/// The PNG encoder and the SVG writer, checked as a reader would: inflate, CRCs, XML.
final class ImageTests: XCTestCase {
    func gradient(_ w: Int, _ h: Int, _ c: Int) -> Image8 {
        var img = Image8(width: w, height: h, channels: c)
        for y in 0..<h { for x in 0..<w { for k in 0..<c { img[x, y, k] = UInt8((x * 37 + y * 11 + k * 90) & 0xFF) } } }
        return img
    }

    func testPNGRoundTripGreyAndRGB() throws {
        for c in [1, 3] {
            let img = gradient(13, 7, c)
            let png = try encodePNG(img)
            XCTAssertEqual(try decodePNG(png), img, "channels \(c)")
        }
    }

    /// Walks the chunks by hand: signature, IHDR fields, CRC-32 of every chunk, and the IDAT zlib stream
    /// inflated with zlib's own `uncompress` to (1 + width·channels)·height bytes of filter-0 scanlines.
    func testPNGChunksCRCsAndInflate() throws {
        let img = gradient(5, 4, 3)
        let b = [UInt8](try encodePNG(img))
        XCTAssertEqual(Array(b[0..<8]), [137, 80, 78, 71, 13, 10, 26, 10])
        var i = 8
        var types: [String] = []
        var idat: [UInt8] = []
        while i < b.count {
            let len = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            let typed = Array(b[(i + 4)..<(i + 8 + len)])
            let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            let stored = UInt32(b[i + 8 + len]) << 24 | UInt32(b[i + 9 + len]) << 16 | UInt32(b[i + 10 + len]) << 8 | UInt32(b[i + 11 + len])
            let type = String(decoding: typed.prefix(4), as: UTF8.self)
            XCTAssertEqual(crc, stored, "CRC of \(type)")
            if type == "IHDR" { XCTAssertEqual(Array(typed[4...]), [0, 0, 0, 5, 0, 0, 0, 4, 8, 2, 0, 0, 0]) }
            if type == "IDAT" { idat += typed[4...] }
            types.append(type)
            i += 12 + len
        }
        XCTAssertEqual(types, ["IHDR", "IDAT", "IEND"])
        var raw = [UInt8](repeating: 0, count: 100)
        var n = uLong(raw.count)
        XCTAssertEqual(raw.withUnsafeMutableBufferPointer { r in idat.withUnsafeBufferPointer { uncompress(r.baseAddress, &n, $0.baseAddress, uLong($0.count)) } }, Z_OK)
        XCTAssertEqual(Int(n), (1 + 5 * 3) * 4)
        XCTAssertEqual(raw[0], 0, "filter byte")
        XCTAssertEqual(Array(raw[1..<16]), Array(img.pixels[0..<15]))
    }

    func testDecodeRefusesACorruptedChunk() throws {
        var b = [UInt8](try encodePNG(gradient(4, 4, 1)))
        b[40] ^= 0xFF
        XCTAssertThrowsError(try decodePNG(Data(b)))
    }

    func testSVGIsWellFormedWithEscapedText() {
        var p = SVGPlot.Panel(title: "τ <&> \"x\"", xLabel: "x", yLabel: "y",
                              series: [SVGPlot.Series(name: "a&b", points: [.init(x: 1, y: 2, error: 0.5), .init(x: 2, y: 3)])])
        p.references = [SVGPlot.Reference(label: "RCFD <ref>", y: 2.5, band: 0.1)]
        p.markers = [(x: 1.5, label: "stage")]
        let svg = SVGPlot(panels: [p, p], columns: 2).render()
        let el = assertValidXML(Data(svg.utf8), "plot")
        XCTAssertEqual(el["svg"], 1)
        XCTAssertEqual(el["polyline"], 2)
        XCTAssertEqual(el["circle"], 6, "2 points + 1 legend marker per panel")
        XCTAssertTrue(svg.contains("τ &lt;&amp;&gt; &quot;x&quot;"))
    }

    func testSVGWithoutDataStillParses() {
        let svg = SVGPlot(panels: [SVGPlot.Panel(title: "empty", xLabel: "x", yLabel: "y", series: [])]).render()
        assertValidXML(Data(svg.utf8), "empty plot")
    }
}
