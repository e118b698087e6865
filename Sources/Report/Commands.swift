import Foundation
import ArgumentParser

// The one definition of the `rdd-report` command line (issue 22): every subcommand and its options, as
// swift-argument-parser types. The executable parses its arguments with it and so does the notebook runner
// (the words after `rdd-report` on a notebook line), so a notebook accepts exactly what the shell does, with
// the same help and errors. Parsing yields a `ReportInvocation`; running one is `runFromCommandLine` (the CLI)
// or `runNotebook` (Notebook.swift).

/// One parsed `rdd-report` command line.
public enum ReportInvocation: Equatable {
    /// table1 … terms, all.
    case report(ReportRequest)
    /// `sweep NAME[@REV]`: the options, and the request that carries the source and --out.
    case sweep(SweepReportOptions, source: ReportRequest)
    /// `compare A B`.
    case compare(String, String, source: ReportRequest)
    /// `plateau`: the fewest distillation steps at which every stage with a learning curve has stopped improving.
    case plateau(PlateauOptions, source: ReportRequest)
    /// `notebook FILE` (the command line only: a notebook cannot run one).
    case notebook(path: String)
}

extension ReportKind {
    /// The subcommand's one-line help.
    public var abstract: String {
        switch self {
        case .table1: return "Table 1: unconditional, methods × {1, 2, 4} steps + baselines."
        case .table2: return "Table 2: class-conditional, methods × {1, 2, 4} steps + baselines."
        case .table3: return "Table 3: loss ablation at 1 step."
        case .fig5: return "Fig. 5: PNG grid of PD, RCFD and RDD samples from the same noise."
        case .fig6: return "Fig. 6: FID and peak memory against the distillation batch size."
        case .fig7: return "Fig. 7: FID against τ_IS and τ_M, with RCFD's 4-step FID."
        case .fig8: return "Fig. 8: FID against the queue size N_q and contrast sample V."
        case .fig9: return "Fig. 9: FID against the loss weights α and β, with RCFD's 4-step FID."
        case .speedup: return "Speed-up vs DDIM at 1024 steps: the controlled benchmark (rdd-bench sampling), then every evaluation's seconds per image."
        case .terms: return "Loss-term diagnostics per distillation stage, with a plot of the gradient shares."
        case .all: return "Every report, written under --out-dir with an index.md."
        case .curves: return "Learning curves: per configuration, loss terms and (with evaluation.every) the student's FID against the step; SVGs + index.md under --out-dir."
        }
    }
}

/// `rdd-report`: the root command. Parse with `invocation(_:)`; the executable runs `main(loader:)`.
public struct ReportCommandLine: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "rdd-report",
        abstract: "Tables, figures (SVG/PNG), verdicts and notebooks from a run export or database (never trains or samples).",
        discussion: "Every report reads --export FILE (a JSON export), or --db PATH (a run database); with neither, results/runs.sqlite when it exists, else results/export.json; and writes Markdown to stdout or to --out; figures are written next to --out (fig7 --out results/reports/fig7.md also writes results/reports/fig7.svg). Rules: docs/reports.md.",
        subcommands: [Table1.self, Table2.self, Table3.self, Fig5.self, Fig6.self, Fig7.self, Fig8.self, Fig9.self,
                      Speedup.self, Terms.self, All.self, Curves.self, SweepCommand.self, CompareCommand.self, PlateauCommand.self,
                      NotebookCommand.self])
    public init() {}

    /// Parses the words after `rdd-report`. Bad input throws a `ReportError` carrying the parser's message.
    public static func invocation(_ arguments: [String]) throws -> ReportInvocation {
        let command: ParsableCommand
        do { command = try parseAsRoot(arguments) } catch {
            throw ReportError("rdd-report \(arguments.joined(separator: " ")): \(message(for: error))")
        }
        guard let sub = command as? ReportSubcommand else {
            throw ReportError("rdd-report: missing subcommand; one of \(configuration.subcommands.map { $0.configuration.commandName ?? "" }.joined(separator: ", "))")
        }
        return sub.invocation
    }

    /// The executable: parse the process's arguments, run, map errors to exit statuses (help and parse errors
    /// as swift-argument-parser does; a refused `sweep`/`compare` prints its message and exits with 2).
    public static func main(loader: ExportLoader) {
        do {
            var command = try parseAsRoot()
            guard let sub = command as? ReportSubcommand else { try command.run(); return }
            try runFromCommandLine(sub.invocation, loader: loader)
        } catch {
            exit(withError: error)
        }
    }
}

/// A subcommand: its parsed options as an invocation.
protocol ReportSubcommand: ParsableCommand {
    var invocation: ReportInvocation { get }
}

/// Where a report reads from: `--db` or `--export` when given; otherwise the run database the sweeps write,
/// results/runs.sqlite, when it exists (so `rdd-sweep run …` then `rdd-report table3` just works), else the
/// export file results/export.json (a committed export reproduces its reports).
struct InputOptions: ParsableArguments {
    @Option(help: "The run export (JSON written by rdd-sweep export).") var export: String?
    @Option(help: "Read this run database directly instead of --export.") var db: String?

    static let defaultDatabase = "results/runs.sqlite"

    func request(_ kind: ReportKind) -> ReportRequest {
        var r = ReportRequest(kind: kind)   // its export defaults to results/export.json
        if let export { r.export = export }
        r.database = db ?? (export == nil && FileManager.default.fileExists(atPath: Self.defaultDatabase) ? Self.defaultDatabase : nil)
        return r
    }
}

/// The options of every single report: the source, which trials, and where the Markdown goes.
struct ReportOptions: ParsableArguments {
    @OptionGroup var input: InputOptions
    @Option(help: "Only trials of this preset.") var preset: String?
    @Option(help: "Only trials of this sweep (NAME or NAME@REVISION), e.g. table1-inception, or of several: a comma-separated list, e.g. v2-table1,v2-ddim1024.") var sweep: String?
    @Option(help: "Write the Markdown here (figures next to it) instead of stdout.") var out: String?

    func request(_ kind: ReportKind) -> ReportRequest {
        var r = input.request(kind)
        r.preset = preset
        r.sweep = sweep
        r.out = out
        return r
    }
}

/// A report whose only options are `ReportOptions`: its kind names it and gives its help.
protocol PlainReport: ReportSubcommand {
    static var kind: ReportKind { get }
    var options: ReportOptions { get }
}
extension PlainReport {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: kind.rawValue, abstract: kind.abstract) }
    var invocation: ReportInvocation { .report(options.request(Self.kind)) }
}

struct Table1: PlainReport { static let kind = ReportKind.table1; @OptionGroup var options: ReportOptions }
struct Table2: PlainReport { static let kind = ReportKind.table2; @OptionGroup var options: ReportOptions }
struct Table3: PlainReport { static let kind = ReportKind.table3; @OptionGroup var options: ReportOptions }
struct Fig6: PlainReport { static let kind = ReportKind.fig6; @OptionGroup var options: ReportOptions }
struct Fig7: PlainReport { static let kind = ReportKind.fig7; @OptionGroup var options: ReportOptions }
struct Fig8: PlainReport { static let kind = ReportKind.fig8; @OptionGroup var options: ReportOptions }
struct Fig9: PlainReport { static let kind = ReportKind.fig9; @OptionGroup var options: ReportOptions }

/// Where the speed-up report finds the controlled benchmark records (`speedup` and `all`).
struct BenchmarkOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory of the controlled benchmark records, sampling-<preset>.json (rdd-bench sampling --output).", valueName: "dir"))
    var benchmarks = "results/benchmarks"
}

struct Speedup: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "speedup", abstract: ReportKind.speedup.abstract)
    @OptionGroup var options: ReportOptions
    @OptionGroup var benchmark: BenchmarkOptions
    var invocation: ReportInvocation {
        var r = options.request(.speedup)
        r.benchmarks = benchmark.benchmarks
        return .report(r)
    }
}

struct Fig5: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "fig5", abstract: ReportKind.fig5.abstract)
    @OptionGroup var options: ReportOptions
    @Option(help: "Directory the evaluations' artifactDirectory paths are relative to.") var resultsRoot = "results"
    @Option(help: "Trial seed (default: the lowest seed evaluated for all three methods).") var seed: Int?
    @Option(help: "Student step count.") var steps = 1
    @Option(help: "Samples per row.") var count = 8
    var invocation: ReportInvocation {
        var r = options.request(.fig5)
        r.resultsRoot = resultsRoot; r.seed = seed; r.steps = steps; r.count = count
        return .report(r)
    }
}

struct Terms: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "terms", abstract: ReportKind.terms.abstract)
    @OptionGroup var options: ReportOptions
    @Option(name: .customLong("trial"), help: "A trial (sweep/key or key); repeat for several. Default: one per configuration.") var trials: [String] = []
    var invocation: ReportInvocation {
        var r = options.request(.terms)
        r.trials = trials
        return .report(r)
    }
}

struct All: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "all", abstract: ReportKind.all.abstract)
    @OptionGroup var input: InputOptions
    @Option(help: "Directory for the reports and figures.") var outDir = "results/reports"
    @Option(help: "Directory the evaluations' artifactDirectory paths are relative to (fig5).") var resultsRoot = "results"
    @Option(help: "Only trials of this preset.") var preset: String?
    @Option(help: "Only trials of this sweep (NAME or NAME@REVISION).") var sweep: String?
    @OptionGroup var benchmark: BenchmarkOptions
    var invocation: ReportInvocation {
        var r = input.request(.all)
        r.outDir = outDir; r.resultsRoot = resultsRoot; r.preset = preset; r.sweep = sweep; r.benchmarks = benchmark.benchmarks
        return .report(r)
    }
}

struct Curves: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "curves", abstract: ReportKind.curves.abstract)
    @OptionGroup var input: InputOptions
    @Option(help: "Directory for index.md and one SVG per configuration.") var outDir = "results/reports/curves"
    @Option(help: "Only trials of this preset.") var preset: String?
    @Option(help: "Only trials of this sweep (NAME or NAME@REVISION).") var sweep: String?
    var invocation: ReportInvocation {
        var r = input.request(.curves)
        r.outDir = outDir; r.preset = preset; r.sweep = sweep
        return .report(r)
    }
}

struct SweepCommand: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "sweep",
        abstract: "Any sweep: every metric per axis (and in full for 2–3 axes), paired differences against a baseline, a plot per numeric axis.")
    @Argument(help: "The sweep: NAME (its latest revision) or NAME@REVISION.") var name: String
    @OptionGroup var input: InputOptions
    @Option(help: "Write the Markdown here (figures next to it) instead of stdout.") var out: String?
    @Option(name: .customLong("metric"), help: "A metric to report (repeatable; default: every recorded metric).") var metrics: [String] = []
    @Option(help: "The baseline value of an axis, AXIS=VALUE (default: the spec's first value; rcfd, else pd, for the method).") var baseline: String?
    @Option(help: "Only the students of this step count (default: every step count evaluated).") var steps: Int?
    var invocation: ReportInvocation {
        var o = SweepReportOptions(name: name)
        o.metrics = metrics; o.baseline = baseline; o.steps = steps
        var r = input.request(.table1)
        r.out = out
        return .sweep(o, source: r)
    }
}

struct CompareCommand: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "compare",
        abstract: "Two sweeps (NAME[@REV]) or two trials (NAME/INDEX) side by side: configuration keys that differ, metrics with CIs, differences B − A.")
    @Argument(help: "A: a sweep NAME[@REV] or a trial NAME/INDEX (INDEX from 0 in the sweep's trial order).") var a: String
    @Argument(help: "B, the same way.") var b: String
    @OptionGroup var input: InputOptions
    @Option(help: "Write the Markdown here instead of stdout.") var out: String?
    var invocation: ReportInvocation {
        var r = input.request(.table1)
        r.out = out
        return .compare(a, b, source: r)
    }
}

struct PlateauCommand: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "plateau",
        abstract: "The fewest distillation steps per stage at which every stage with a learning curve (evaluation.every) has stopped improving, by the rule of docs/reports.md.")
    @OptionGroup var input: InputOptions
    @Option(help: "Only trials of this sweep (NAME or NAME@REVISION).") var sweep: String?
    @Option(help: "The largest relative fall of the loss and of the FID that counts as a plateau.") var threshold = 0.05
    @Option(help: "Write the Markdown here instead of stdout.") var out: String?
    var invocation: ReportInvocation {
        var r = input.request(.table1)
        r.out = out
        return .plateau(PlateauOptions(sweep: sweep, threshold: threshold), source: r)
    }
}

struct NotebookCommand: ReportSubcommand {
    static let configuration = CommandConfiguration(commandName: "notebook",
        abstract: "Re-run the rdd-report commands of a Markdown notebook's ```sh blocks and refresh their outputs in place.")
    @Argument(help: "The notebook (notebooks-md/*.md).") var file: String
    var invocation: ReportInvocation { .notebook(path: file) }
}

// MARK: - Running an invocation

extension ReportInvocation {
    /// The request that carries the source (--export/--db) and --out; nil for `notebook`.
    var source: ReportRequest? {
        switch self {
        case .report(let r), .sweep(_, let r), .compare(_, _, let r), .plateau(_, let r): return r
        case .notebook: return nil
        }
    }

    /// The stem of the invocation's files: --out's file name, else the subcommand's name ("index" for `all`).
    var fileStem: String {
        switch self {
        case .report(let r): return r.kind == .all ? "index" : r.kind == .curves ? "curves" : stem(ofOut: r.out, kind: r.kind)
        case .sweep(_, let r): return r.out.map(stemOf) ?? "sweep"
        case .compare(_, _, let r): return r.out.map(stemOf) ?? "compare"
        case .plateau(_, let r): return r.out.map(stemOf) ?? "plateau"
        case .notebook: return "notebook"
        }
    }

    /// The Markdown and figure files, with links styled by `links`.
    func render(links: LinkStyle, loader: ExportLoader) throws -> ReportOutput {
        switch self {
        case .report(let r): return try produceReport(r, links: links, loader: loader)
        case .sweep(let o, let r):
            let (md, files) = try sweepReport(ReportData(try loader.load(r)), options: o, links: links)
            return ReportOutput(markdown: md, files: files)
        case .compare(let a, let b, let r): return ReportOutput(markdown: try compareReport(ReportData(try loader.load(r)), a, b))
        case .plateau(let o, let r): return ReportOutput(markdown: try plateauReport(ReportData(try loader.load(r)), options: o))
        case .notebook: throw ReportError("rdd-report notebook renders no report")
        }
    }

    /// Writes what the command line writes: the Markdown to --out and its files next to it, or for `all`
    /// everything under --out-dir. Returns the directory written to, or nil (no --out: the Markdown is for stdout).
    @discardableResult
    func writeAsCommandLine(loader: ExportLoader) throws -> (markdown: String, directory: String?) {
        guard let r = source else { throw ReportError("rdd-report notebook writes no report") }
        if case .report(let r) = self, r.kind.writesDirectory {
            return (try runReport(r, loader: loader).markdown, r.outDir)
        }
        let o = try render(links: LinkStyle(stem: fileStem), loader: loader)
        guard try write(o, to: r.out), let out = r.out else { return (o.markdown, nil) }
        let dir = (out as NSString).deletingLastPathComponent
        return (o.markdown, dir.isEmpty ? "." : dir)
    }
}

/// Runs an invocation as the executable does: Markdown to --out or stdout (saying so when figures were not
/// written), `all` under --out-dir, `notebook` refreshed in place. A refused `sweep`, `compare` or `plateau` (bad
/// input: unknown sweep, baseline, metric, step count or trial; no learning curve) prints its message and exits with status 2.
public func runFromCommandLine(_ invocation: ReportInvocation, loader: ExportLoader) throws {
    switch invocation {
    case .notebook(let path):
        let changed = try runNotebook(path: path, loader: loader)
        print(changed ? "\(path): outputs refreshed" : "\(path): up to date")
    case .report(let r) where r.kind == .all:
        try invocation.writeAsCommandLine(loader: loader)
        print("wrote \(r.outDir)/index.md and \(ReportKind.allCases.filter { !$0.writesDirectory }.count) reports")
    case .report(let r) where r.kind == .curves:
        try invocation.writeAsCommandLine(loader: loader)
        print("wrote \(r.outDir)/index.md and its figures")
    case .report, .sweep, .compare, .plateau:
        let (md, directory): (String, String?)
        do { (md, directory) = try invocation.writeAsCommandLine(loader: loader) } catch let e as ReportError {
            if case .report = invocation { throw e }
            FileHandle.standardError.write(Data("\(e.message)\n".utf8))
            throw ExitCode(2)
        }
        guard directory == nil else { return }
        FileHandle.standardOutput.write(Data(md.utf8))
        if md.contains("](\(invocation.fileStem).svg)") || md.contains("](\(invocation.fileStem).png)") {
            FileHandle.standardError.write(Data("rdd-report: figures are written only with --out\n".utf8))
        }
    }
}
