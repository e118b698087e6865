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
            let kept = Journal.read(path: path).filter { $0.step <= keepUpTo }
            let text = kept.map { Journal.line($0) }.joined()
            try atomicWrite(Data(text.utf8), to: path)
        } else if resumeFrom == nil {
            try atomicWrite(Data(), to: path)
        }
        if !fm.fileExists(atPath: path) { fm.createFile(atPath: path, contents: nil) }
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
    public static func read(path: String) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return [] }
        var out: [Entry] = []
        for line in text.split(separator: "\n") {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = obj["step"] as? Int, let name = obj["name"] as? String else { continue }
            let value: Double
            if let v = obj["value"] as? Double { value = v } else if let s = obj["value"] as? String, let v = Double(s) { value = v } else { continue }
            out.append(Entry(step: step, name: name, value: value))
        }
        return out
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
