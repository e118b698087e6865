import Foundation
import RunModel

/// Writes a `RunExport` as the bytes Foundation's `JSONEncoder` with `[.sortedKeys, .prettyPrinted]` writes for it
/// (`RunExport.foundationEncoded()`), in one pass over the values into one byte buffer.
///
/// Why: `rdd-sweep export --format report` of a 10,000-trial sweep writes about 180 MB of JSON (each trial repeats its
/// shared stages' records and series), and Foundation's encoder boxes every value of it in a container first — about
/// a third of the export's time at 2,000 trials (callgrind, issue 29). The format, as that encoder writes it:
/// - an object is `{`, newline, its members one per line indented two spaces deeper than the object, each
///   `"key" : value`, separated by `,` + newline, then a newline and `}` at the object's indentation; an empty one is
///   `{`, two newlines, the indentation, `}`. Arrays the same with `[` `]`. No newline after the top-level value.
/// - keys in ascending order of their UTF-8 bytes (checked against Foundation, with non-ASCII keys, in
///   `RunExportJSONTests`); a key set with a non-ASCII key is ordered by asking Foundation, so the rule is only relied
///   on for ASCII keys.
/// - a `nil` optional member is left out (`encodeIfPresent`, what the synthesised `Codable` conformances use).
/// - strings: `"`, `\` and `/` escaped with a backslash, U+0008, U+0009, U+000A, U+000C, U+000D as `\b \t \n \f \r`,
///   the other code points below U+0020 as `\u00xx` (lowercase hex), everything else as its UTF-8 bytes.
/// - a `Double` as its `description` without a trailing `.0` ("3", "0.1", "1e-05", "1e+20", "-0"); an `Int` as its
///   `description`. A NaN or an infinity is not written: `encoded()` then lets Foundation fail with its own error.
/// The member lists below follow each type's `CodingKeys` (synthesised: the stored properties); `RunExportJSONTests`
/// compares this writer with Foundation on every committed export and on exports with every optional field set and
/// random texts and numbers, so a field added to a type without being added here fails there.
struct RunExportJSONWriter {
    struct NonFinite: Error {}

    private(set) var out: [UInt8] = []
    /// Foundation's order of a key set that has a non-ASCII key, by the keys in their given order.
    private var askedOrders: [[String]: [String]] = [:]

    init(capacity: Int = 1 << 16) { out.reserveCapacity(capacity) }

    // MARK: layout

    private mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// A newline and 128 spaces: a newline and an indentation are one slice of it.
    private static let newlineAndSpaces: [UInt8] = [0x0A] + Array(repeating: 0x20, count: 128)

    private mutating func newline(_ indent: Int) {
        if indent < Self.newlineAndSpaces.count {
            out.append(contentsOf: Self.newlineAndSpaces[0...indent])
        } else {
            out.append(0x0A)
            for _ in 0..<indent { out.append(0x20) }
        }
    }

    /// Starts the next member of an object at `indent` that has `n` members so far: `,` after the previous one, a
    /// newline, the key and ` : `; the caller writes the value (at `indent + 2`).
    private mutating func member(_ n: inout Int, _ indent: Int, _ key: String) {
        element(&n, indent)
        string(key)
        raw(" : ")
    }

    /// The same for a field name of the export's types: plain ASCII letters, nothing to escape.
    private mutating func member(_ n: inout Int, _ indent: Int, _ key: StaticString) {
        element(&n, indent)
        out.append(0x22)
        raw(key)
        raw("\" : ")
    }

    /// Starts the next element of an array at `indent` that has `n` elements so far.
    private mutating func element(_ n: inout Int, _ indent: Int) {
        if n > 0 { out.append(0x2C) }   // ,
        newline(indent + 2)
        n += 1
    }

    /// Ends an object or array at `indent` that has `n` members: an empty one keeps an empty line.
    private mutating func close(_ bracket: UInt8, _ n: Int, _ indent: Int) {
        if n == 0 { out.append(0x0A) }
        newline(indent)
        out.append(bracket)
    }

    private mutating func array<C: Collection>(_ items: C, _ indent: Int, _ write: (inout RunExportJSONWriter, C.Element, Int) throws -> Void) rethrows {
        out.append(0x5B)   // [
        var n = 0
        for item in items {
            element(&n, indent)
            try write(&self, item, indent + 2)
        }
        close(0x5D, n, indent)
    }

    // Members of optional values: left out when nil.
    private mutating func string(_ n: inout Int, _ indent: Int, _ key: StaticString, _ v: String?) {
        if let v { member(&n, indent, key); string(v) }
    }
    private mutating func int(_ n: inout Int, _ indent: Int, _ key: StaticString, _ v: Int?) {
        if let v { member(&n, indent, key); int(v) }
    }
    private mutating func double(_ n: inout Int, _ indent: Int, _ key: StaticString, _ v: Double) throws {
        member(&n, indent, key); try double(v)
    }

    /// Hands the bytes written so far to `sink` and forgets them (keeping the buffer's capacity).
    mutating func drain(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try out.withUnsafeBytes { try sink($0) }
        out.removeAll(keepingCapacity: true)
    }

    /// Appends text as it is (no quoting).
    mutating func append(_ text: String) { out.append(contentsOf: text.utf8) }

    // MARK: scalars

    /// Which bytes a string escapes: below 0x20, `"`, `\\` and `/`.
    private static let escaped: [Bool] = (0..<256).map { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x2F }

    mutating func string(_ s: String) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            Self.escaped.withUnsafeBufferPointer { escaped in
            for i in 0..<bytes.count where escaped[Int(bytes[i])] {
                let b = bytes[i]
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
                out.append(0x5C)   // \
                switch b {
                case 0x22, 0x5C, 0x2F: out.append(b)
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
                }
            }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(0x22)
    }

    /// An integer's decimal digits (its `description`), written without making a String.
    mutating func int(_ v: Int) {
        if v < 0 { out.append(0x2D) }   // -
        var m = v.magnitude, digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[19 - n] = UInt8(ascii: "0") + UInt8(m % 10); m /= 10; n += 1 } while m > 0
            out.append(contentsOf: d[(20 - n)...])
        }
    }

    mutating func double(_ v: Double) throws {
        guard v.isFinite else { throw NonFinite() }
        var d = v.description
        d.withUTF8 { d in
            // "3.0" → "3": Foundation writes an integral double without the fraction.
            let integral = d.count >= 2 && d[d.count - 1] == UInt8(ascii: "0") && d[d.count - 2] == UInt8(ascii: ".")
            out.append(contentsOf: integral ? UnsafeBufferPointer(rebasing: d[..<(d.count - 2)]) : d)
        }
    }

    // MARK: key order

    /// `keys` in the order Foundation writes them with `.sortedKeys`: ascending UTF-8 bytes for ASCII keys; a set with
    /// another key is read off Foundation's encoding of a dictionary of them (once per key set).
    mutating func sorted(_ keys: [String]) -> [String] {
        if keys.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x80 } }) {
            return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
        if let known = askedOrders[keys] { return known }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        var order = keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        if let data = try? e.encode(Dictionary(uniqueKeysWithValues: keys.map { ($0, 0) })),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Int], object.count == keys.count {
            // Foundation's key order is the order of the keys' first bytes in its text: find each quoted key there.
            let text = String(decoding: data, as: UTF8.self)
            var at: [String: String.Index] = [:]
            for k in keys {
                let quoted = String(decoding: try! JSONEncoder().encode(k), as: UTF8.self) + ":"
                if let r = text.range(of: quoted) { at[k] = r.lowerBound }
            }
            if at.count == keys.count { order = keys.sorted { at[$0]! < at[$1]! } }
        }
        askedOrders[keys] = order
        return order
    }

    // MARK: the export's types (members in sorted key order)

    /// Writes the export whole (`encoded()`).
    mutating func write(_ e: RunExport) throws {
        begin(formatVersion: e.formatVersion, sweeps: e.sweeps)
        for t in e.trials { try trial(t) }
        end()
    }

    /// The export's text up to its first trial: `{`, `formatVersion`, `sweeps`, and `"trials" : [`. Then `trial` for
    /// each trial and `end()`: the bytes of `write(_:)`, a trial at a time.
    mutating func begin(formatVersion: Int, sweeps: [SweepRecord]) {
        out.append(0x7B); var n = 0   // {
        int(&n, 0, "formatVersion", formatVersion)
        member(&n, 0, "sweeps"); array(sweeps, 2) { w, s, i in w.write(s, indent: i) }
        member(&n, 0, "trials")
        out.append(0x5B)   // [
        trialsWritten = 0
    }

    private var trialsWritten = 0

    mutating func trial(_ t: TrialRecord) throws {
        var n = trialsWritten
        element(&n, 2)
        trialsWritten = n
        try write(t, indent: 4)
    }

    mutating func end() {
        close(0x5D, trialsWritten, 2)
        close(0x7D, 3, 0)   // the top level has three members
    }

    mutating func write(_ s: SweepRecord, indent: Int) {
        out.append(0x7B); var n = 0
        if let axes = s.axes {
            member(&n, indent, "axes")
            array(axes, indent + 2) { w, a, i in
                w.out.append(0x7B); var n = 0
                w.string(&n, i, "path", a.path)
                w.string(&n, i, "source", a.source)
                w.member(&n, i, "values"); w.array(a.values, i + 2) { w, v, _ in w.string(v) }
                w.close(0x7D, n, i)
            }
        }
        string(&n, indent, "description", s.description)
        string(&n, indent, "name", s.name)
        string(&n, indent, "preset", s.preset)
        string(&n, indent, "root", s.root)
        string(&n, indent, "specHash", s.specHash)
        string(&n, indent, "specPath", s.specPath)
        close(0x7D, n, indent)
    }

    mutating func write(_ t: TrialRecord, indent: Int) throws {
        out.append(0x7B); var n = 0
        member(&n, indent, "axes")
        do {
            out.append(0x7B); var m = 0
            for k in sorted(Array(t.axes.keys)) { member(&m, indent + 2, k); string(t.axes[k]!) }
            close(0x7D, m, indent + 2)
        }
        string(&n, indent, "configJSON", t.configJSON)
        member(&n, indent, "evaluations"); try array(t.evaluations, indent + 2) { w, e, i in try w.write(e, indent: i) }
        string(&n, indent, "key", t.key)
        string(&n, indent, "replicate", t.replicate?.rawValue)
        member(&n, indent, "stages"); try array(t.stages, indent + 2) { w, s, i in try w.write(s, indent: i) }
        string(&n, indent, "status", t.status.rawValue)
        string(&n, indent, "sweep", t.sweep)
        close(0x7D, n, indent)
    }

    mutating func write(_ e: EvaluationRecord, indent: Int) throws {
        out.append(0x7B); var n = 0
        string(&n, indent, "artifactDirectory", e.artifactDirectory)
        string(&n, indent, "featureNetwork", e.result.featureNetwork)
        string(&n, indent, "label", e.result.label)
        string(&n, indent, "metric", e.result.name)
        string(&n, indent, "model", e.model)
        int(&n, indent, "nfe", e.result.nfe)
        string(&n, indent, "reference", e.result.reference)
        string(&n, indent, "sampler", e.result.sampler)   // "sampler" < "samples": 'r' < 's'
        int(&n, indent, "samples", e.result.samples)
        try double(&n, indent, "secondsPerImage", e.secondsPerImage)
        string(&n, indent, "stage", e.stage)
        int(&n, indent, "steps", e.result.steps)
        try double(&n, indent, "value", e.result.value)
        close(0x7D, n, indent)
    }

    mutating func write(_ s: StageRecord, indent: Int) throws {
        out.append(0x7B); var n = 0
        string(&n, indent, "codeVersion", s.codeVersion)
        string(&n, indent, "finishedAt", s.finishedAt)
        string(&n, indent, "identity", s.identity)
        string(&n, indent, "kind", s.kind.rawValue)
        string(&n, indent, "name", s.name)
        int(&n, indent, "peakMemoryBytes", s.peakMemoryBytes)
        if let p = s.provenance { member(&n, indent, "provenance"); write(p, indent: indent + 2) }
        try double(&n, indent, "seconds", s.seconds)
        member(&n, indent, "series")
        do {
            let i = indent + 2
            out.append(0x7B); var m = 0
            for k in sorted(Array(s.series.keys)) {
                member(&m, i, k)
                try points(s.series[k]!, i + 2)
            }
            close(0x7D, m, i)
        }
        string(&n, indent, "startedAt", s.startedAt)
        string(&n, indent, "status", s.status.rawValue)
        int(&n, indent, "threads", s.threads)
        close(0x7D, n, indent)
    }

    /// A series as an array at `indent` of `{"step" : …, "value" : …}` objects: most of an export's bytes (every
    /// distillation stage's journal), so the fixed text between the numbers is made once per series.
    private mutating func points(_ series: [SeriesPoint], _ indent: Int) throws {
        guard !series.isEmpty else { out.append(0x5B); close(0x5D, 0, indent); return }
        func spaces(_ n: Int) -> [UInt8] { Array(repeating: 0x20, count: n) }
        let open = [0x0A] + spaces(indent + 2) + Array("{".utf8) + [0x0A] + spaces(indent + 4) + Array("\"step\" : ".utf8)
        let middle = Array(",".utf8) + [0x0A] + spaces(indent + 4) + Array("\"value\" : ".utf8)
        let end = [0x0A] + spaces(indent + 2) + Array("}".utf8)
        out.append(0x5B)   // [
        for (i, p) in series.enumerated() {
            if i > 0 { out.append(0x2C) }
            out.append(contentsOf: open)
            int(p.step)
            out.append(contentsOf: middle)
            try double(p.value)
            out.append(contentsOf: end)
        }
        close(0x5D, series.count, indent)
    }

    mutating func write(_ p: Provenance, indent: Int) {
        out.append(0x7B); var n = 0
        string(&n, indent, "blasConfig", p.blasConfig)
        string(&n, indent, "blasCore", p.blasCore)
        string(&n, indent, "blasISA", p.blasISA)
        string(&n, indent, "codeVersion", p.codeVersion)
        string(&n, indent, "commit", p.commit)
        member(&n, indent, "commitModified"); if p.commitModified { raw("true") } else { raw("false") }
        string(&n, indent, "cpu", p.cpu)
        member(&n, indent, "cpuFeatures"); array(p.cpuFeatures, indent + 2) { w, f, _ in w.string(f) }
        string(&n, indent, "ownGemmISA", p.ownGemmISA)
        int(&n, indent, "threads", p.threads)
        close(0x7D, n, indent)
    }
}
