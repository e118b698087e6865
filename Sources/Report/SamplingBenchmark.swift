import Foundation

// The controlled speed-up measurement (issue 20 §6): `rdd-bench sampling --output FILE` times a k-step student
// and DDIM at 1024 steps in one run, on one U-Net, at one thread count, alternating the two sides each round so
// both see the same machine load; this record is what it writes and what heads the `speedup` report. The
// per-trial times of the evaluation stages come from different runs, thread counts and loads, so they are no
// controlled measurement; this is.

/// One `rdd-bench sampling` run: what was timed, on what, under which load, and each round's times.
public struct SamplingBenchmark: Codable, Equatable, Sendable {
    /// The format this code reads and writes.
    public static let currentFormatVersion = 1

    /// The times of one side (student or DDIM-1024) in one round: `samples` images.
    public struct Side: Codable, Equatable, Sendable {
        /// Wall time of sampling the round's N images, seconds.
        public var seconds: Double
        /// N / seconds.
        public var imagesPerSecond: Double
        public init(seconds: Double, samples: Int) {
            self.seconds = seconds
            imagesPerSecond = seconds > 0 ? Double(samples) / seconds : 0   // a record with a 0 s side is refused on reading
        }
    }

    /// One round: the student's N images, then DDIM-1024's N images from the same noise.
    public struct Round: Codable, Equatable, Sendable {
        public var student: Side
        public var teacher: Side
        /// teacher.seconds / student.seconds (equal N on both sides).
        public var speedup: Double { teacher.seconds / student.seconds }
        public init(student: Side, teacher: Side) { self.student = student; self.teacher = teacher }
    }

    public var formatVersion: Int
    /// The command line that made the record (`rdd-bench sampling …`).
    public var command: [String]
    /// Start and end of the run, ISO 8601 UTC.
    public var started: String
    public var finished: String
    /// Code version, commit, CPU model (/proc/cpuinfo), vector ISA of the kernels in use, threads.
    public var provenance: Provenance
    /// CPUs the process could use (its affinity mask).
    public var cores: Int
    /// /proc/loadavg's 1-, 5- and 15-minute load averages before the first round and after the last.
    public var loadAverageStart: [Double]
    public var loadAverageEnd: [Double]
    /// The preset whose U-Net was timed, the network ("U-Net ch 32 × [1, 2] at 8×8×1, 443,137 parameters") and
    /// its weights ("untrained (seed 0)": the work per image does not depend on them; or a checkpoint path).
    public var preset: String
    public var network: String
    public var weights: String
    /// Images per side per round (N) and the sampling batch.
    public var samples: Int
    public var batch: Int
    /// The student's steps k, and the network evaluations per image of each side.
    public var studentSteps: Int
    public var studentNFE: Int
    public var teacherNFE: Int
    public var rounds: [Round]
    /// Free text given with `--note` (e.g. why a record was taken under load).
    public var note: String?

    public init(command: [String], started: String, finished: String, provenance: Provenance, cores: Int,
                loadAverageStart: [Double], loadAverageEnd: [Double], preset: String, network: String, weights: String,
                samples: Int, batch: Int, studentSteps: Int, studentNFE: Int, teacherNFE: Int, rounds: [Round], note: String? = nil) {
        formatVersion = Self.currentFormatVersion
        self.command = command; self.started = started; self.finished = finished; self.provenance = provenance
        self.cores = cores; self.loadAverageStart = loadAverageStart; self.loadAverageEnd = loadAverageEnd
        self.preset = preset; self.network = network; self.weights = weights; self.samples = samples; self.batch = batch
        self.studentSteps = studentSteps; self.studentNFE = studentNFE; self.teacherNFE = teacherNFE
        self.rounds = rounds; self.note = note
    }

    /// The measured speed-up over all rounds: DDIM-1024's total time over the student's (equal N per side).
    public var speedup: Double {
        rounds.map(\.teacher.seconds).reduce(0, +) / rounds.map(\.student.seconds).reduce(0, +)
    }

    /// The ideal speed-up: teacher NFE / student NFE.
    public var nfeRatio: Double { Double(teacherNFE) / Double(max(1, studentNFE)) }

    /// Other work was running when the benchmark started: the 1-minute load average before the first round
    /// was ≥ 1 (an idle machine reads well below 1; the benchmark's own threads are not yet counted then).
    public var underLoad: Bool { (loadAverageStart.first ?? 0) >= 1 }

    /// The conventional file of a preset's record: `sampling-<preset>.json` in the benchmarks directory.
    public static func fileName(preset: String) -> String { "sampling-\(preset).json" }

    /// The command that makes the record of `preset` at the conventional path.
    public static func command(preset: String) -> String {
        "rdd-bench sampling --preset \(preset) --student-steps 1 --samples 16 --batch 16 --rounds 3 --threads 2 --output results/benchmarks/\(fileName(preset: preset))"
    }

    /// Decodes a record, refusing (with the file, field and value) another format version, a bad field or an
    /// empty or inconsistent round list.
    public static func decode(_ data: Data, path: String) throws -> SamplingBenchmark {
        let b: SamplingBenchmark
        do { b = try JSONDecoder().decode(SamplingBenchmark.self, from: data) } catch let e as DecodingError {
            throw ReportError("\(path): not a sampling benchmark record: \(describe(e))")
        }
        guard b.formatVersion == currentFormatVersion else {
            throw ReportError("\(path): formatVersion \(b.formatVersion) is not the one this code reads (\(currentFormatVersion)); rerun `rdd-bench sampling --output \(path)`")
        }
        guard !b.rounds.isEmpty, b.rounds.allSatisfy({ $0.student.seconds > 0 && $0.teacher.seconds > 0 }) else {
            throw ReportError("\(path): rounds must be non-empty with every student and teacher time > 0")
        }
        guard b.samples >= 1, b.studentNFE >= 1, b.teacherNFE >= 1 else {
            throw ReportError("\(path): samples \(b.samples), studentNFE \(b.studentNFE), teacherNFE \(b.teacherNFE): each must be ≥ 1")
        }
        return b
    }

    /// The record of `preset` in `directory`, nil when there is none; a record of another preset under
    /// this preset's name is refused.
    public static func load(directory: String, preset: String) throws -> SamplingBenchmark? {
        let path = directory + "/" + fileName(preset: preset)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let b = try decode(data, path: path)
        guard b.preset == preset else {
            throw ReportError("\(path): preset \"\(b.preset)\" in a file named for preset \"\(preset)\"")
        }
        return b
    }

    /// The record as the benchmark writes it: sorted keys, indented, so a re-encoded record is byte-identical.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try enc.encode(self) + Data("\n".utf8)
    }
}

/// "field a.b: expected Double, found a string" for a decoding error.
private func describe(_ e: DecodingError) -> String {
    func path(_ c: [CodingKey]) -> String { c.isEmpty ? "the top level" : "field " + c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
    switch e {
    case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])) is missing"
    case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
    @unknown default: return "\(e)"
    }
}

/// The speed-up report's head: one line per preset, the controlled benchmark's result or the command that
/// makes it.
func controlledBenchmarkLine(preset: String, _ b: SamplingBenchmark?) -> String {
    guard let b else {
        return "- preset \(preset): no controlled benchmark recorded (no \(SamplingBenchmark.fileName(preset: preset)) in the benchmarks directory, `rdd-report speedup --benchmarks DIR`, default results/benchmarks); make it on an idle machine with `\(SamplingBenchmark.command(preset: preset))`.\n"
    }
    let p = b.provenance
    let kernels = (p.ownGemmISA.map { "own GEMM kernel \($0) + " } ?? "") + "\(p.blasName) core \(p.blasCore)\(p.blasISA.map { " (\($0))" } ?? "")"
    func load(_ l: [Double]) -> String { l.first.map { fixed($0, 2) } ?? "?" }
    let rounds = b.rounds.enumerated().map { i, r in
        "\(i + 1): student \(fixed(r.student.seconds, 3)) s (\(fixed(r.student.imagesPerSecond, 1)) images/s), DDIM-1024 \(fixed(r.teacher.seconds, 2)) s (\(fixed(r.teacher.imagesPerSecond, 3)) images/s), \(fixed(r.speedup, 0))×"
    }.joined(separator: "; ")
    var out = "- preset \(b.preset): \(b.studentSteps)-step student vs DDIM-1024 on the same U-Net (\(b.network), \(b.weights)), "
    out += "N = \(b.samples) images per side in each of \(b.rounds.count) round\(b.rounds.count == 1 ? "" : "s") (batch \(b.batch)), \(p.threads) thread\(p.threads == 1 ? "" : "s"), "
    out += "CPU \(p.cpu) (\(kernels)), load average \(load(b.loadAverageStart)) at start and \(load(b.loadAverageEnd)) at end on \(b.cores) core\(b.cores == 1 ? "" : "s"), "
    out += "\(b.started), \(p.codeVersion) at \(p.commitText): **speed-up \(fixed(b.speedup, 0))×** (NFE ratio \(fixed(b.nfeRatio, 0))×; total DDIM-1024 time over total student time). "
    out += "Rounds — \(rounds).\n"
    if b.underLoad {
        out += "  - Taken under load: the 1-minute load average was \(load(b.loadAverageStart)) before the first round (other work was running), so read the ratio, not the seconds; an idle-machine record replaces it.\n"
    }
    if let note = b.note, !note.isEmpty { out += "  - Note: \(note)\n" }
    out += "  - Command: `\(b.command.map(shellQuoted).joined(separator: " "))`.\n"
    return out
}

/// `word` as a POSIX shell reads it back: unchanged when it holds only safe characters, else in single quotes.
func shellQuoted(_ word: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=,:+@%")
    if !word.isEmpty, word.allSatisfy(safe.contains) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
