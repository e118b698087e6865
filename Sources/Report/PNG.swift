import Foundation
import CZlib

/// An 8-bit image: grey (1 channel) or RGB (3 channels), rows top to bottom.
public struct Image8: Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, fill: UInt8 = 0) {
        precondition(channels == 1 || channels == 3, "Image8: 1 (grey) or 3 (RGB) channels")
        self.width = width; self.height = height; self.channels = channels
        pixels = [UInt8](repeating: fill, count: width * height * channels)
    }

    public subscript(x: Int, y: Int, c: Int) -> UInt8 {
        get { pixels[(y * width + x) * channels + c] }
        set { pixels[(y * width + x) * channels + c] = newValue }
    }
}

/// A minimal PNG encoder: one IHDR, one IDAT (zlib stream of the scanlines, filter 0), IEND.
///
/// PNG (ISO/IEC 15948): 8-byte signature, then chunks of length (big endian), type, data and the CRC-32
/// of type + data. IHDR = width, height, bit depth 8, colour type 0 (grey) or 2 (RGB), compression 0,
/// filter 0, interlace 0. Each scanline is preceded by its filter byte (0: none). zlib level 9 is
/// deterministic, so the same image always gives the same bytes.
public func encodePNG(_ image: Image8) throws -> Data {
    var out = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
    func chunk(_ type: String, _ data: [UInt8]) {
        let typed = Array(type.utf8) + data
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        out.append(contentsOf: be32(UInt32(data.count)) + typed + be32(crc))
    }
    chunk("IHDR", be32(UInt32(image.width)) + be32(UInt32(image.height)) + [8, image.channels == 3 ? 2 : 0, 0, 0, 0])
    let rowBytes = image.width * image.channels
    var raw = [UInt8]()
    raw.reserveCapacity((rowBytes + 1) * image.height)
    for y in 0..<image.height {
        raw.append(0)
        raw.append(contentsOf: image.pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
    }
    var destLen = compressBound(uLong(raw.count))
    var compressed = [UInt8](repeating: 0, count: Int(destLen))
    let status = compressed.withUnsafeMutableBufferPointer { d in
        raw.withUnsafeBufferPointer { s in compress2(d.baseAddress, &destLen, s.baseAddress, uLong(s.count), 9) }
    }
    guard status == Z_OK else { throw ReportError("PNG: zlib compress2 failed with status \(status)") }
    chunk("IDAT", Array(compressed.prefix(Int(destLen))))
    chunk("IEND", [])
    return out
}

/// Decodes PNGs written by `encodePNG` (8-bit grey/RGB, filter 0 or any of the five filters, no
/// interlace), checking every chunk's CRC: for tests and for reading figures back.
public func decodePNG(_ data: Data) throws -> Image8 {
    let b = [UInt8](data)
    guard b.count >= 8, Array(b[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw ReportError("PNG: bad signature") }
    func be32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
    var i = 8
    var width = 0, height = 0, channels = 0
    var idat = [UInt8]()
    var sawEnd = false
    while i + 12 <= b.count {
        let len = be32(i)
        guard i + 12 + len <= b.count else { throw ReportError("PNG: truncated chunk at \(i)") }
        let type = String(decoding: b[(i + 4)..<(i + 8)], as: UTF8.self)
        let typed = Array(b[(i + 4)..<(i + 8 + len)])
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        guard crc == UInt32(be32(i + 8 + len)) else { throw ReportError("PNG: CRC mismatch in chunk \(type)") }
        let d = Array(b[(i + 8)..<(i + 8 + len)])
        switch type {
        case "IHDR":
            width = Int(d[0]) << 24 | Int(d[1]) << 16 | Int(d[2]) << 8 | Int(d[3])
            height = Int(d[4]) << 24 | Int(d[5]) << 16 | Int(d[6]) << 8 | Int(d[7])
            guard d[8] == 8, d[9] == 0 || d[9] == 2, d[12] == 0 else { throw ReportError("PNG: only 8-bit grey/RGB, no interlace") }
            channels = d[9] == 2 ? 3 : 1
        case "IDAT": idat += d
        case "IEND": sawEnd = true
        default: break
        }
        i += 12 + len
    }
    guard sawEnd, width > 0, height > 0 else { throw ReportError("PNG: missing IHDR or IEND") }
    let rowBytes = width * channels
    var raw = [UInt8](repeating: 0, count: (rowBytes + 1) * height)
    var rawLen = uLong(raw.count)
    let st = raw.withUnsafeMutableBufferPointer { r in idat.withUnsafeBufferPointer { s in uncompress(r.baseAddress, &rawLen, s.baseAddress, uLong(s.count)) } }
    guard st == Z_OK, Int(rawLen) == raw.count else { throw ReportError("PNG: zlib inflate failed (status \(st), \(rawLen) of \(raw.count) bytes)") }
    var img = Image8(width: width, height: height, channels: channels)
    var prev = [UInt8](repeating: 0, count: rowBytes)
    for y in 0..<height {
        let f = raw[y * (rowBytes + 1)]
        var line = Array(raw[(y * (rowBytes + 1) + 1)..<((y + 1) * (rowBytes + 1))])
        for x in 0..<rowBytes {
            let a = x >= channels ? Int(line[x - channels]) : 0, up = Int(prev[x]), c = x >= channels ? Int(prev[x - channels]) : 0
            let pred: Int
            switch f {
            case 0: pred = 0
            case 1: pred = a
            case 2: pred = up
            case 3: pred = (a + up) / 2
            case 4:
                let p = a + up - c, pa = abs(p - a), pb = abs(p - up), pc = abs(p - c)
                pred = pa <= pb && pa <= pc ? a : (pb <= pc ? up : c)
            default: throw ReportError("PNG: unknown filter \(f) on row \(y)")
            }
            line[x] = UInt8((Int(line[x]) + pred) & 0xFF)
        }
        img.pixels.replaceSubrange((y * rowBytes)..<((y + 1) * rowBytes), with: line)
        prev = line
    }
    return img
}
