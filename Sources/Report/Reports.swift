import Foundation

/// A file a report writes next to its Markdown (a figure).
public struct ReportFile: Equatable {
    public var name: String
    public var data: Data
    public init(name: String, data: Data) { self.name = name; self.data = data }
}

/// What a report produces: Markdown and the files its links point at.
public struct ReportOutput: Equatable {
    public var markdown: String
    public var files: [ReportFile]
    public init(markdown: String, files: [ReportFile] = []) { self.markdown = markdown; self.files = files }
}

/// How a report names its figure files and links to them and to other reports.
///
/// Figures are written next to the Markdown as `<stem>.svg` / `<stem>.png`; `prefix` is prepended to
/// every link (empty when the Markdown sits next to its files; "generated/" for a notebook whose
/// outputs live in generated/).
public struct LinkStyle: Equatable {
    public var stem: String
    public var prefix: String
    public init(stem: String, prefix: String = "") { self.stem = stem; self.prefix = prefix }
    public func assetName(_ ext: String) -> String { stem + "." + ext }
    public func asset(_ ext: String) -> String { prefix + assetName(ext) }
    /// A Markdown link to an anchor in another report written to the same directory ("terms.md#…").
    public func link(_ text: String, report: String, anchor: String) -> String { "[\(text)](\(prefix)\(report).md#\(anchor))" }
}

/// The report subcommands.
public enum ReportKind: String, CaseIterable {
    case table1, table2, table3, fig5, fig6, fig7, fig8, fig9, speedup, terms, all
    /// Learning curves: a directory (`--out-dir`) of one SVG per configuration and an index; not part of `all`.
    case curves

    /// Writes a directory (`--out-dir`: its files and `index.md`) rather than one Markdown file.
    public var writesDirectory: Bool { self == .all || self == .curves }
}

/// One report invocation, as the command line and the notebooks give it.
public struct ReportRequest: Equatable {
    public var kind: ReportKind
    public var export = "results/export.json"
    /// `--db PATH`: read the run database instead of the export (needs an `ExportLoader` that can, as rdd-report's).
    public var database: String?
    public var out: String?
    public var outDir = "results/reports"
    public var resultsRoot = "results"
    /// `--benchmarks DIR`: where the speed-up report finds each preset's controlled benchmark record,
    /// `sampling-<preset>.json` (written by `rdd-bench sampling --output`).
    public var benchmarks = "results/benchmarks"
    public var preset: String?
    /// `--sweep NAME[@REV][,NAME[@REV]…]`: only those sweeps' trials (e.g. an Inception-FID sweep reported on its own, or
    /// Table 1's students with the DDIM-1024 row of another sweep).
    public var sweep: String?
    public var trials: [String] = []
    public var seed: Int?
    public var steps = 1
    public var count = 8

    public init(kind: ReportKind) { self.kind = kind }

    /// Parses `<subcommand> [options]` (the words after `rdd-report`) with the command line's own definition
    /// (`ReportCommandLine`, Commands.swift); throws for `sweep`, `compare` and `notebook`, which are no report kind.
    public init(arguments: [String]) throws {
        guard case .report(let r) = try ReportCommandLine.invocation(arguments) else {
            throw ReportError("rdd-report \(arguments.first ?? ""): not one of the reports \(ReportKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = r
    }
}

/// Produces one report from an export. `links` decides file stems and link prefixes.
public func produceReport(_ kind: ReportKind, _ data: ReportData, request r: ReportRequest, links: LinkStyle) throws -> ReportOutput {
    switch kind {
    case .table1: return ReportOutput(markdown: table1Report(data, links: links))
    case .table2: return ReportOutput(markdown: table2Report(data, links: links))
    case .table3: return ReportOutput(markdown: table3Report(data, links: links))
    case .fig5:
        let (md, files) = fig5Report(data, resultsRoot: r.resultsRoot, seed: r.seed, steps: r.steps, count: r.count, links: links)
        return ReportOutput(markdown: md, files: files)
    case .fig6: let (md, f) = fig6Report(data, links: links); return ReportOutput(markdown: md, files: f)
    case .fig7: let (md, f) = fig7Report(data, links: links); return ReportOutput(markdown: md, files: f)
    case .fig8: let (md, f) = fig8Report(data, links: links); return ReportOutput(markdown: md, files: f)
    case .fig9: let (md, f) = fig9Report(data, links: links); return ReportOutput(markdown: md, files: f)
    case .speedup: return ReportOutput(markdown: try speedupReport(data, benchmarkDirectory: r.benchmarks, links: links))
    case .terms: let (md, f) = try termsReport(data, trials: r.trials, links: links); return ReportOutput(markdown: md, files: f)
    case .curves: return curvesReport(data, links: links)
    case .all:
        var files: [ReportFile] = []
        var index = "# Reports\n\nFrom a run export of \(data.export.trials.count) trials in \(data.export.sweeps.count) sweeps. Each report states its aggregation rule, N, feature network, data set and preset; verdict rules are in docs/reports.md.\n\n"
        var rows: [[String]] = []
        var reports: [(stem: String, link: String, claims: [ClaimLine])] = []
        func add(_ stem: String, _ o: ReportOutput) {
            files.append(ReportFile(name: stem + ".md", data: Data(o.markdown.utf8)))
            files += o.files
            // A verdict line is "- CLAIM: OUTCOME…" (ClaimLine); every outcome is counted, "metrics disagree" included.
            let claims = verdictClaims(o.markdown)
            reports.append((stem, "\(links.prefix)\(stem).md", claims))
            let counts = Outcome.allCases.map { w in (w, claims.filter { $0.outcome == w }.count) }
            rows.append(["[\(stem)](\(links.prefix)\(stem).md)", reportTitle(o.markdown),
                         counts.allSatisfy { $0.1 == 0 } ? "–" : counts.map { "\($0.1) \($0.0.rawValue)" }.joined(separator: ", ")])
        }
        for k in ReportKind.allCases where !k.writesDirectory {
            add(k.rawValue, try produceReport(k, data, request: r, links: LinkStyle(stem: k.rawValue, prefix: "")))
        }
        // Tables 1 and 2 once more on only the trials evaluated in Inception FID (experiments/table1-inception.json):
        // the main tables use the classifier FID wherever an evaluation lacks the Inception one.
        for (k, conditional) in [(ReportKind.table1, false), (.table2, true)] {
            var inception = data
            inception.metricFilter = "fid_inception"
            guard inception.completed.contains(where: { $0.conditional == conditional }) else { continue }
            let stem = k.rawValue + "-inception"
            var o = try produceReport(k, inception, request: r, links: LinkStyle(stem: stem, prefix: ""))
            o.markdown = retitled(o.markdown, suffix: " — in Inception FID (only the trials evaluated with `fid_inception`)")
            add(stem, o)
        }
        index += markdownTable(["Report", "Title", "Verdict lines"], rows) + "\n"
        if let claims = claimsSection(reports) { index += claims }
        return ReportOutput(markdown: index, files: files)
    }
}

/// `md` with `suffix` appended to its first "## " heading.
func retitled(_ md: String, suffix: String) -> String {
    var lines = md.components(separatedBy: "\n")
    if let i = lines.firstIndex(where: { $0.hasPrefix("## ") }) { lines[i] += suffix }
    return lines.joined(separator: "\n")
}

/// The first "## " heading of a report.
func reportTitle(_ md: String) -> String {
    md.split(separator: "\n").first { $0.hasPrefix("## ") }.map { String($0.dropFirst(3)) } ?? ""
}

/// Where a request's `RunExport` comes from: the export file (`--export`), or the run database (`--db`) through
/// `database`, which the front end supplies (rdd-report passes Sweep's builder). Report itself links no SQLite:
/// the database schema belongs to Sweep, its one writer.
public struct ExportLoader {
    public var database: ((String) throws -> RunExport)?
    public init(database: ((String) throws -> RunExport)? = nil) { self.database = database }
    /// Only export files.
    public static let fileOnly = ExportLoader()

    public func load(_ r: ReportRequest) throws -> RunExport {
        guard let db = r.database else { return try RunExport.load(path: r.export) }
        guard let database else {
            throw ReportError("--db \(db): this program cannot read run databases; use rdd-report, or export first (rdd-sweep export --format report)")
        }
        return try database(db)
    }
}

/// Loads the export and produces the report of a request (the whole CLI but for writing files).
public func produceReport(_ r: ReportRequest, links: LinkStyle, loader: ExportLoader = .fileOnly) throws -> ReportOutput {
    let ex = try loader.load(r)
    return try produceReport(r.kind, ReportData(ex, preset: r.preset, sweep: r.sweep), request: r, links: links)
}

/// The stem of a report's files from its --out path ("results/reports/fig7.md" → "fig7").
public func stem(ofOut out: String?, kind: ReportKind) -> String {
    out.map(stemOf) ?? kind.rawValue
}

/// Writes `data` to `path`, creating its directory; leaves the file untouched when the bytes are equal.
public func writeIfChanged(_ data: Data, to path: String) throws {
    let dir = (path as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    if FileManager.default.contents(atPath: path) == data { return }
    guard FileManager.default.createFile(atPath: path, contents: data) else { throw ReportError("cannot write '\(path)'") }
}

/// Runs a request as the CLI does: the Markdown goes to --out (files next to it) or is returned for stdout;
/// `all` and `curves` write everything under --out-dir (index.md and their files). Returns the Markdown.
@discardableResult
public func runReport(_ r: ReportRequest, linkPrefix: String = "", loader: ExportLoader = .fileOnly) throws -> (markdown: String, wroteFiles: Bool) {
    if r.kind.writesDirectory {
        let o = try produceReport(r, links: LinkStyle(stem: r.kind == .all ? "index" : r.kind.rawValue, prefix: linkPrefix), loader: loader)
        for f in o.files { try writeIfChanged(f.data, to: r.outDir + "/" + f.name) }
        try writeIfChanged(Data(o.markdown.utf8), to: r.outDir + "/index.md")
        return (o.markdown, true)
    }
    let o = try produceReport(r, links: LinkStyle(stem: stem(ofOut: r.out, kind: r.kind), prefix: linkPrefix), loader: loader)
    return (o.markdown, try write(o, to: r.out))
}

/// Writes a report's Markdown to `out` and its files next to it; false (nothing written) without `out`.
func write(_ o: ReportOutput, to out: String?) throws -> Bool {
    guard let out else { return false }
    let dir = (out as NSString).deletingLastPathComponent
    for f in o.files { try writeIfChanged(f.data, to: (dir.isEmpty ? "" : dir + "/") + f.name) }
    try writeIfChanged(Data(o.markdown.utf8), to: out)
    return true
}

/// "results/reports/fig7.md" → "fig7".
func stemOf(_ out: String) -> String {
    let name = (out as NSString).lastPathComponent
    return name.hasSuffix(".md") ? String(name.dropLast(3)) : name
}
