import Foundation
import ArgumentParser
import Report
import Sweep

/// Export files, and run databases through Sweep's builder (`--db`).
let exportLoader = ExportLoader(database: { try Reports.runExport(databasePath: $0) })

/// `rdd-report`: the paper's tables and figures, verdicts and notebooks from a run export.
@main
struct RDDReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rdd-report",
        abstract: "Tables, figures (SVG/PNG), verdicts and notebooks from a run export or database (never trains or samples).",
        discussion: "Every report reads --export FILE (a JSON export), or --db PATH (a run database); with neither, results/runs.sqlite when it exists, else results/export.json; and writes Markdown to stdout or to --out; figures are written next to --out (fig7 --out results/reports/fig7.md also writes results/reports/fig7.svg). Rules: docs/reports.md.",
        subcommands: [Table1.self, Table2.self, Table3.self, Fig5.self, Fig6.self, Fig7.self, Fig8.self, Fig9.self,
                      Speedup.self, Terms.self, All.self, SweepCommand.self, Compare.self, Notebook.self])
}

/// Where a report reads from: `--db` or `--export` when given; otherwise the run database the sweeps write,
/// results/runs.sqlite, when it exists (so `rdd-sweep run …` then `rdd-report table3` just works), else the
/// export file results/export.json (a committed export reproduces its reports).
func source(export: String?, db: String?) -> (export: String, database: String?) {
    if export != nil || db != nil { return (export ?? defaultExport, db) }
    return FileManager.default.fileExists(atPath: defaultDatabase) ? (defaultExport, defaultDatabase) : (defaultExport, nil)
}
let defaultExport = "results/export.json", defaultDatabase = "results/runs.sqlite"

/// Where every report reads from and writes to.
struct Source: ParsableArguments {
    @Option(help: "The run export (JSON written by rdd-sweep export).") var export: String?
    @Option(help: "Read this run database directly instead of --export.") var db: String?
    @Option(help: "Write the Markdown here (figures next to it) instead of stdout.") var out: String?

    /// A request reading this source and writing to --out.
    func request(_ kind: ReportKind) -> ReportRequest {
        var r = ReportRequest(kind: kind)
        (r.export, r.database) = source(export: export, db: db)
        r.out = out
        return r
    }

    /// Prints a report that was not written to --out (and says that its figures were not written).
    func emit(_ md: String, wrote: Bool, stem: String) {
        guard !wrote else { return }
        FileHandle.standardOutput.write(Data(md.utf8))
        if md.contains("](\(stem).svg)") || md.contains("](\(stem).png)") {
            FileHandle.standardError.write(Data("rdd-report: figures are written only with --out\n".utf8))
        }
    }
}

/// Options every paper report takes: the source, and which trials.
struct Common: ParsableArguments {
    @OptionGroup var source: Source
    @Option(help: "Only trials of this preset.") var preset: String?
    @Option(help: "Only trials of this sweep (NAME or NAME@REVISION), e.g. table1-inception.") var sweep: String?
}

/// A report subcommand: builds the request and runs it.
protocol ReportCommand: ParsableCommand {
    static var kind: ReportKind { get }
    var common: Common { get }
    func customise(_ r: inout ReportRequest)
}

extension ReportCommand {
    func customise(_ r: inout ReportRequest) {}
    func run() throws {
        var r = common.source.request(Self.kind)
        r.preset = common.preset
        r.sweep = common.sweep
        customise(&r)
        let (md, wrote) = try runReport(r, loader: exportLoader)
        common.source.emit(md, wrote: wrote, stem: r.kind.rawValue)
    }
}

/// Runs a report of bad-input-checked arguments: a refusal (ReportError) prints its message and exits with 2.
func refusingWithStatus2(_ body: () throws -> Void) throws {
    do { try body() } catch let e as ReportError {
        FileHandle.standardError.write(Data("\(e.message)\n".utf8))
        throw ExitCode(2)
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Two sweeps (NAME[@REV]) or two trials (NAME/INDEX) side by side: configuration keys that differ, metrics with CIs, differences B − A.")
    @Argument(help: "A: a sweep NAME[@REV] or a trial NAME/INDEX (INDEX from 0 in the sweep's trial order).") var a: String
    @Argument(help: "B, the same way.") var b: String
    @OptionGroup var source: Source
    func run() throws {
        try refusingWithStatus2 {
            let (md, wrote) = try runCompareReport(a, b, source: source.request(.table1), loader: exportLoader)
            source.emit(md, wrote: wrote, stem: "compare")
        }
    }
}

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sweep",
        abstract: "Any sweep: every metric per axis (and in full for 2–3 axes), paired differences against a baseline, a plot per numeric axis.")
    @Argument(help: "The sweep: NAME (its latest revision) or NAME@REVISION.") var name: String
    @OptionGroup var source: Source
    @Option(name: .customLong("metric"), help: "A metric to report (repeatable; default: every recorded metric).") var metrics: [String] = []
    @Option(help: "The baseline value of an axis, AXIS=VALUE (default: the spec's first value; rcfd, else pd, for the method).") var baseline: String?
    @Option(help: "Only the students of this step count (default: every step count evaluated).") var steps: Int?
    func run() throws {
        var o = SweepReportOptions(name: name)
        o.metrics = metrics; o.baseline = baseline; o.steps = steps
        // Bad input (unknown sweep, baseline, metric or step count): the message and exit status 2.
        try refusingWithStatus2 {
            let (md, wrote) = try runSweepReport(o, source: source.request(.table1), loader: exportLoader)
            source.emit(md, wrote: wrote, stem: "sweep")
        }
    }
}

struct Table1: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Table 1: unconditional, methods × {1, 2, 4} steps + baselines.")
    static let kind = ReportKind.table1
    @OptionGroup var common: Common
}
struct Table2: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Table 2: class-conditional, methods × {1, 2, 4} steps + baselines.")
    static let kind = ReportKind.table2
    @OptionGroup var common: Common
}
struct Table3: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Table 3: loss ablation at 1 step.")
    static let kind = ReportKind.table3
    @OptionGroup var common: Common
}
struct Fig5: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Fig. 5: PNG grid of PD, RCFD and RDD samples from the same noise.")
    static let kind = ReportKind.fig5
    @OptionGroup var common: Common
    @Option(help: "Directory the evaluations' artifactDirectory paths are relative to.") var resultsRoot = "results"
    @Option(help: "Trial seed (default: the lowest seed evaluated for all three methods).") var seed: Int?
    @Option(help: "Student step count.") var steps = 1
    @Option(help: "Samples per row.") var count = 8
    func customise(_ r: inout ReportRequest) { r.resultsRoot = resultsRoot; r.seed = seed; r.steps = steps; r.count = count }
}
struct Fig6: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Fig. 6: FID and peak memory against the distillation batch size.")
    static let kind = ReportKind.fig6
    @OptionGroup var common: Common
}
struct Fig7: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Fig. 7: FID against τ_IS and τ_M, with RCFD's 4-step FID.")
    static let kind = ReportKind.fig7
    @OptionGroup var common: Common
}
struct Fig8: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Fig. 8: FID against the queue size N_q and contrast sample V.")
    static let kind = ReportKind.fig8
    @OptionGroup var common: Common
}
struct Fig9: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Fig. 9: FID against the loss weights α and β, with RCFD's 4-step FID.")
    static let kind = ReportKind.fig9
    @OptionGroup var common: Common
}
struct Speedup: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Measured seconds per image of every student and baseline vs DDIM at 1024 steps.")
    static let kind = ReportKind.speedup
    @OptionGroup var common: Common
}
struct Terms: ReportCommand {
    static let configuration = CommandConfiguration(abstract: "Loss-term diagnostics per distillation stage, with a plot of the gradient shares.")
    static let kind = ReportKind.terms
    @OptionGroup var common: Common
    @Option(name: .customLong("trial"), help: "A trial (sweep/key or key); repeat for several. Default: one per configuration.") var trials: [String] = []
    func customise(_ r: inout ReportRequest) { r.trials = trials }
}

struct All: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Every report, written under --out-dir with an index.md.")
    @Option(help: "The run export.") var export: String?
    @Option(help: "Read this run database directly instead of --export.") var db: String?
    @Option(help: "Directory for the reports and figures.") var outDir = "results/reports"
    @Option(help: "Directory the evaluations' artifactDirectory paths are relative to (fig5).") var resultsRoot = "results"
    @Option(help: "Only trials of this preset.") var preset: String?
    func run() throws {
        var r = ReportRequest(kind: .all)
        (r.export, r.database) = source(export: export, db: db)
        r.outDir = outDir; r.resultsRoot = resultsRoot; r.preset = preset
        try runReport(r, loader: exportLoader)
        print("wrote \(outDir)/index.md and \(ReportKind.allCases.count - 1) reports")
    }
}

struct Notebook: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-run the rdd-report commands of a Markdown notebook's ```sh blocks and refresh their outputs in place.")
    @Argument(help: "The notebook (notebooks-md/*.md).") var file: String
    func run() throws {
        let changed = try runNotebook(path: file, loader: exportLoader)
        print(changed ? "\(file): outputs refreshed" : "\(file): up to date")
    }
}
