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
                      Speedup.self, Terms.self, All.self, Notebook.self])
}

/// Where a report reads from: `--db` or `--export` when given; otherwise the run database the sweeps write,
/// results/runs.sqlite, when it exists (so `rdd-sweep run …` then `rdd-report table3` just works), else the
/// export file results/export.json (a committed export reproduces its reports).
func source(export: String?, db: String?) -> (export: String, database: String?) {
    if export != nil || db != nil { return (export ?? defaultExport, db) }
    return FileManager.default.fileExists(atPath: defaultDatabase) ? (defaultExport, defaultDatabase) : (defaultExport, nil)
}
let defaultExport = "results/export.json", defaultDatabase = "results/runs.sqlite"

/// Options every report takes.
struct Common: ParsableArguments {
    @Option(help: "The run export (JSON written by rdd-sweep export).") var export: String?
    @Option(help: "Read this run database directly instead of --export.") var db: String?
    @Option(help: "Write the Markdown here (figures next to it) instead of stdout.") var out: String?
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
        var r = ReportRequest(kind: Self.kind)
        (r.export, r.database) = source(export: common.export, db: common.db)
        r.out = common.out
        r.preset = common.preset
        r.sweep = common.sweep
        customise(&r)
        let (md, wrote) = try runReport(r, loader: exportLoader)
        if !wrote {
            FileHandle.standardOutput.write(Data(md.utf8))
            if md.contains("](\(r.kind.rawValue).svg)") || md.contains("](\(r.kind.rawValue).png)") {
                FileHandle.standardError.write(Data("rdd-report: figures are written only with --out\n".utf8))
            }
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
