import XCTest
@testable import Inception

/// The pickle reader on byte strings written by CPython's `pickle.dumps` (hex below; regenerate with
/// the one-liners in the comments), and its errors.
final class PickleTests: XCTestCase {
    func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    func dict(_ v: PickleValue, file: StaticString = #filePath, line: UInt = #line) throws -> PickleDict {
        guard case .dict(let d) = v else { XCTFail("expected a dict, got \(v.summary)", file: file, line: line); throw CancellationError() }
        return d
    }

    /// pickle.dumps({'a': [1, -2, 3.5, None, True, False], 'b': (1, 2), 'c': 'héllo', 'big': 70000,
    ///               'neg': -70000, 'l': 2**40, 't3': (1,2,3), 't1': (7,)}, protocol=2)
    func testProtocol2Scalars() throws {
        let v = try unpickle(bytes("80027d71002858010000006171015d7102284b014afeffffff47400c0000000000004e88896558010000006271034b014b028671045801000000637105580600000068c3a96c6c6f7106580300000062696771074a7011010058030000006e656771084a90eefeff58010000006c71098a0600000000000158020000007433710a4b014b024b0387710b58020000007431710c4b0785710d752e"), source: "p2")
        let d = try dict(v)
        XCTAssertEqual(d.pairs.map { $0.key.string ?? "?" }, ["a", "b", "c", "big", "neg", "l", "t3", "t1"])
        guard case .list(let a)? = d["a"] else { return XCTFail("a is not a list") }
        XCTAssertEqual(a.items.count, 6)
        XCTAssertEqual(a.items[0].int, 1)
        XCTAssertEqual(a.items[1].int, -2)
        guard case .float(let f) = a.items[2] else { return XCTFail("a[2] is \(a.items[2].summary)") }
        XCTAssertEqual(f, 3.5)
        guard case .none = a.items[3], case .bool(true) = a.items[4], case .bool(false) = a.items[5] else {
            return XCTFail("a[3...5] are \(a.items[3...].map(\.summary))")
        }
        XCTAssertEqual(d["b"]?.ints, [1, 2])
        XCTAssertEqual(d["c"]?.string, "héllo")
        XCTAssertEqual(d["big"]?.int, 70000)
        XCTAssertEqual(d["neg"]?.int, -70000)
        XCTAssertEqual(d["l"]?.int, 1 << 40)
        XCTAssertEqual(d["t3"]?.ints, [1, 2, 3])
        XCTAssertEqual(d["t1"]?.ints, [7])
    }

    /// pickle.dumps({'a': [1, -2, 3.5], 'b': (1, 2), 's': 'x', 'bytes': b'\x00\x01', 'l': -2**40}, protocol=4)
    func testProtocol4FramesMemoizeBytes() throws {
        let d = try dict(try unpickle(bytes("80049548000000000000007d94288c0161945d94284b014afeffffff47400c000000000000658c0162944b014b0286948c0173948c0178948c0562797465739443020001948c016c948a060000000000ff752e"), source: "p4"))
        XCTAssertEqual(d["a"]?.sequence?.count, 3)
        XCTAssertEqual(d["b"]?.ints, [1, 2])
        XCTAssertEqual(d["s"]?.string, "x")
        guard case .bytes(let b)? = d["bytes"] else { return XCTFail("bytes is \(d["bytes"]?.summary ?? "absent")") }
        XCTAssertEqual(b, [0, 1])
        XCTAssertEqual(d["l"]?.int, -(1 << 40))
    }

    /// l = [1, 2]; pickle.dumps({'x': l, 'y': l}, protocol=2): the memo entry is stored before the list is
    /// filled, so the second reference must see the filled list (reference semantics).
    func testMemoisedContainerIsSharedAfterFilling() throws {
        let d = try dict(try unpickle(bytes("80027d71002858010000007871015d7102284b014b026558010000007971036802752e"), source: "shared"))
        XCTAssertEqual(d["x"]?.ints, [1, 2])
        XCTAssertEqual(d["y"]?.ints, [1, 2])
    }

    /// f = Foo(); f.x = 3; f.name = 'n'; pickle.dumps(f, protocol=2) and protocol=4 (STACK_GLOBAL).
    func testObjectsWithNewobjAndBuild() throws {
        for (hex, proto) in [("8002635f5f6d61696e5f5f0a466f6f0a7100298171017d71022858010000007871034b0358040000006e616d65710458010000006e710575622e", 2),
                             ("8004952d000000000000008c085f5f6d61696e5f5f948c03466f6f9493942981947d94288c0178944b038c046e616d65948c016e9475622e", 4)] {
            guard case .instance(let inst) = try unpickle(bytes(hex), source: "obj\(proto)") else { return XCTFail("protocol \(proto): not an instance") }
            XCTAssertEqual(inst.qualifiedName, "__main__.Foo", "protocol \(proto)")
            XCTAssertTrue(inst.args.isEmpty)
            guard case .dict(let state)? = inst.state else { return XCTFail("protocol \(proto): no BUILD state") }
            XCTAssertEqual(state["x"]?.int, 3)
            XCTAssertEqual(state["name"]?.string, "n")
        }
    }

    /// pickle.dumps(collections.OrderedDict([('k', 1)]), protocol=2): REDUCE of OrderedDict then SETITEM.
    func testOrderedDict() throws {
        let d = try dict(try unpickle(bytes("800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000006b71024b01732e"), source: "od"))
        XCTAssertEqual(d["k"]?.int, 1)
    }

    func testErrorsNameTheOffsetAndOpcode() {
        // An unsupported opcode (0x64 'd', DICT from protocol 0) at byte 2.
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x64, 0x2E], source: "bad.pkl")) { e in
            guard case let InceptionError.invalid(file, field, value, _) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(file, "bad.pkl")
            XCTAssertEqual(field, "opcode at byte 2")
            XCTAssertEqual(value, "0x64")
        }
        // Truncated BINUNICODE (declares 16 bytes, has 1) and a missing STOP.
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x58, 16, 0, 0, 0, 0x61], source: "t.pkl")) { e in
            XCTAssertTrue("\(e)".contains("truncated"), "\(e)")
        }
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x4B, 0x01], source: "nostop.pkl")) { e in
            XCTAssertTrue("\(e)".contains("no STOP"), "\(e)")
        }
        // BINGET of a key never stored.
        XCTAssertThrowsError(try unpickle([0x80, 0x02, 0x68, 0x05, 0x2E], source: "memo.pkl")) { e in
            XCTAssertTrue("\(e)".contains("memo key 5"), "\(e)")
        }
    }

    func testSHA1KnownVectors() {
        XCTAssertEqual(SHA1.hex([]), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(SHA1.hex(Array("abc".utf8)), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(SHA1.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        // 1000 × 'a' (several blocks, length not a multiple of 64): hashlib.sha1(b'a' * 1000).hexdigest()
        XCTAssertEqual(SHA1.hex([UInt8](repeating: 0x61, count: 1000)), "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }
}
