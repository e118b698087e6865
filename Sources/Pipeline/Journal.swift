import Foundation

/// An append-only JSON-lines log of a stage's metrics (`journal.jsonl` in the stage directory).
///
/// Workers never touch the run database: they append here and the scheduler — the one SQLite writer —
/// ingests the lines (docs/harness-design: "one writer per SQLite file"). Each line is one complete
/// JSON object written with a single `write` and flushed, so a killed worker leaves at most a torn
/// last line, which readers skip. A resumed stage truncates entries past its checkpoint step, so a
/// metric is never recorded twice.
public final class Journal {
    public struct Entry: Codable, Equatable, Sendable {
        public var step: Int
        public var name: String
        public var value: Double
        public init(step: Int, name: String, value: Double) { self.step = step; self.name = name; self.value = value }
    }

    public let path: String
    private let handle: FileHandle

    /// Opens (creating if needed) the journal; with `resumeFrom`, drops entries with step > that step.
    public init(path: String, resumeFrom: Int? = nil) throws {
        self.path = path
        let fm = FileManager.default
        if let keepUpTo = resumeFrom, fm.fileExists(atPath: path) {
            // Keep the complete lines up to the checkpoint byte for byte (re-printing parsed numbers
            // could change their last digits).
            let text = (fm.contents(atPath: path).flatMap { String(data: $0, encoding: .utf8) }) ?? ""
            let kept = text.split(separator: "\n").filter { line in Journal.parse(line).map { $0.step <= keepUpTo } ?? false }
            try atomicWrite(Data(kept.map { $0 + "\n" }.joined().utf8), to: path)
        } else if resumeFrom == nil {
            try atomicWrite(Data(), to: path)
        }
        if !fm.fileExists(atPath: path) { _ = fm.createFile(atPath: path, contents: nil) }   // a failure shows as the open error below
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw PipelineError("journal '\(path)': cannot open for appending")
        }
        handle = h
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    static func line(_ e: Entry) -> String {
        let v = e.value.isFinite ? "\(e.value)" : "\"\(e.value)\""
        let name = e.name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "{\"step\":\(e.step),\"name\":\"\(name)\",\"value\":\(v)}\n"
    }

    /// Appends metrics for one step.
    public func log(step: Int, _ metrics: [(String, Double)]) {
        let text = metrics.map { Journal.line(Entry(step: step, name: $0.0, value: $0.1)) }.joined()
        handle.write(Data(text.utf8))
    }

    /// Flushes to disk (called at checkpoints).
    public func sync() { try? handle.synchronize() }

    /// All complete entries of a journal file (a torn last line is skipped).
    public static func read(path: String) -> [Entry] { read(path: path, from: 0).entries }

    /// The complete lines of a journal from byte `offset` on, and the offset after the last complete line (a
    /// torn last line is left for the next read). A file shorter than `offset` was truncated back to a
    /// checkpoint by a resumed stage: it is read from the start. The one reader of journals: the
    /// scheduler's incremental ingestion and the tests use it alike.
    public static func read(path: String, from offset: Int) -> (entries: [Entry], offset: Int) {
        guard let h = FileHandle(forReadingAtPath: path) else { return ([], offset) }
        defer { try? h.close() }
        let size = Int(h.seekToEndOfFile())
        let start = size < offset ? 0 : offset
        h.seek(toFileOffset: UInt64(start))
        let data = h.readDataToEndOfFile()
        guard let lastNewline = data.lastIndex(of: 0x0A) else { return ([], start) }
        let complete = data[data.startIndex...lastNewline]
        let entries = complete.split(separator: 0x0A).compactMap { parse(Substring(decoding: $0, as: UTF8.self)) }
        return (entries, start + complete.count)
    }

    /// Parses one line written by `line(_:)`; nil for a torn or foreign line. Numbers go through
    /// `Double(String)`, which round-trips the printed shortest representation exactly (Foundation's
    /// JSONSerialization on Linux rounds some doubles 1–3 ulp off, which would break "identical numbers
    /// after resume").
    public static func parse(_ line: Substring) -> Entry? {
        guard line.hasPrefix("{\"step\":"), line.hasSuffix("}"),
              let nameStart = line.range(of: ",\"name\":\""), let valueStart = line.range(of: "\",\"value\":", options: .backwards),
              nameStart.upperBound <= valueStart.lowerBound,
              let step = Int(line[line.index(line.startIndex, offsetBy: 8)..<nameStart.lowerBound]) else { return nil }
        let name = line[nameStart.upperBound..<valueStart.lowerBound].replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
        var raw = line[valueStart.upperBound..<line.index(before: line.endIndex)]
        if raw.hasPrefix("\"") && raw.hasSuffix("\"") && raw.count >= 2 { raw = raw.dropFirst().dropLast() }
        guard let value = Double(raw) else { return nil }
        return Entry(step: step, name: name, value: value)
    }
}

/// An error from a pipeline stage, with a message that names what went wrong.
public struct PipelineError: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Writes `data` to `path` atomically: temporary file in the same directory, fsync, rename.
public func atomicWrite(_ data: Data, to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    let tmp = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    guard FileManager.default.createFile(atPath: tmp, contents: data) else {
        throw PipelineError("cannot write '\(tmp)' (for '\(path)')")
    }
    let fd = open(tmp, O_RDONLY)
    if fd >= 0 { fsync(fd); close(fd) }
    if rename(tmp, path) != 0 {
        let err = String(cString: strerror(errno))
        unlink(tmp)
        throw PipelineError("cannot move '\(tmp)' to '\(path)': \(err)")
    }
}
