import Report
import Sweep

/// `rdd-report`: the paper's tables and figures, verdicts and notebooks from a run export. The command line
/// (every subcommand and option) is defined once in Report (`ReportCommandLine`, Sources/Report/Commands.swift),
/// where the notebook runner parses its `rdd-report …` lines with it too; this executable only adds the run
/// database reader (`--db`), which lives in Sweep next to the database's schema and its one writer.
@main
enum RDDReport {
    static func main() {
        ReportCommandLine.main(loader: ExportLoader(database: { try Reports.runExport(databasePath: $0) }))
    }
}
