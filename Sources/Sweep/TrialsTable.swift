import Foundation
import GRDB
import Pipeline
import RunModel

/// Trials × metrics of one sweep: one row per trial (by index) with its axis values and every evaluation
/// metric as the column `<role>/<metric>` ("student@1/fid", "ddim@8/classifier_score"). `rdd-sweep export`
/// writes it as CSV or JSON; the dashboard's trials page and `/api/sweeps/NAME/trials` show it.
public struct TrialsTable {
    /// One evaluation metric of one trial, with everything that labels it.
    public struct Metric {
        public var value: Double
        public var label: String
        public var samples: Int
        public var featureNetwork: String
        public var reference: String
        public var sampler: String
        public var steps: Int
        public var nfe: Int
        /// The evaluation stage's identity.
        public var stage: String
        /// What was sampled: a method ("rdd") or a training-free sampler ("ddim").
        public var model: String
    }
    public struct Trial {
        public var index: Int
        public var key: String
        public var state: TrialStatus
        /// What the table prints for `state`.
        public var status: String { state.displayName }
        /// Axis values in spec order.
        public var axes: [(String, JSON)]
        /// The resolved configuration's `conditional` (which of the paper's Tables 1 and 2 it stands beside).
        public var conditional: Bool
        /// Column → metric, ordered by role then metric name.
        public var metrics: [(column: String, metric: Metric)]

        /// An axis value as text ("rdd", "0.5").
        public func axis(_ path: String) -> String? { axes.first { $0.0 == path }.map { $0.1.stringValue ?? $0.1.serialized() } }
    }

    public var sweep: SweepRecord
    /// Every metric column of the sweep, sorted.
    public var columns: [String]
    public var trials: [Trial]
}

extension Reports {
    /// The trials × metrics table of sweep `ref` (nil: the only sweep).
    public func trialsTable(sweep ref: String?) throws -> TrialsTable {
        let db = try openReader()
        return try db.read { db in try trialsTable(db, try resolveSweep(db, ref)) }
    }

    func trialsTable(_ db: Database, _ sw: SweepRecord) throws -> TrialsTable {
        let trials = try RunLedger.trialLines(db, sweep: sw.id)
        var byTrial: [Int: [(column: String, metric: TrialsTable.Metric)]] = [:]
        var columns = Set<String>()
        for (index, role, e) in try RunLedger.sweepEvaluations(db, sweep: sw.id) {
            let col = "\(role)/\(e.metric)"
            columns.insert(col)
            byTrial[index, default: []].append((col, TrialsTable.Metric(
                value: e.value, label: e.label, samples: e.samples, featureNetwork: e.featureNetwork, reference: e.reference,
                sampler: e.sampler, steps: e.steps, nfe: e.nfe, stage: e.stage, model: e.modelLabel)))
        }
        return TrialsTable(sweep: sw, columns: columns.sorted(), trials: trials.map { t in
            TrialsTable.Trial(index: t.index, key: t.key, state: t.status,
                              axes: ((try? JSONParser.parse(t.axesJSON).value)?.objectPairs) ?? [],
                              conditional: t.conditional, metrics: byTrial[t.index] ?? [])
        })
    }

    /// The table as `rdd-sweep export --format csv|json` writes it.
    func exportText(_ table: TrialsTable, format: ExportFormat) -> String {
        let sw = table.sweep
        switch format {
        case .csv:
            var lines = [(["sweep", "trial", "status"] + sw.axes + table.columns).map(csvField).joined(separator: ",")]
            for t in table.trials {
                let m = Dictionary(t.metrics.map { ($0.column, $0.metric.value) }, uniquingKeysWith: { a, _ in a })
                var fields = [sw.label, "\(t.index)", t.status]
                fields += sw.axes.map { t.axis($0) ?? "" }
                fields += table.columns.map { c in m[c].map { "\($0)" } ?? "" }
                lines.append(fields.map(csvField).joined(separator: ","))
            }
            return lines.joined(separator: "\n") + "\n"
        case .report:
            return ""
        case .json:
            let out: [JSON] = table.trials.map { t in
                let metrics: [(String, JSON)] = t.metrics.map { col, e in
                    (col, .object([
                        ("value", .double(e.value)), ("label", .string(e.label)), ("samples", .int(Int64(e.samples))),
                        ("featureNetwork", .string(e.featureNetwork)), ("reference", .string(e.reference)),
                        ("sampler", .string(e.sampler)), ("steps", .int(Int64(e.steps))), ("nfe", .int(Int64(e.nfe))),
                        ("stage", .string(e.stage)),
                    ]))
                }
                return .object([("sweep", .string(sw.label)), ("trial", .int(Int64(t.index))), ("key", .string(t.key)),
                                ("status", .string(t.status)), ("axes", .object(t.axes)), ("metrics", .object(metrics))])
            }
            return prettyJSON(.array(out)) + "\n"
        }
    }
}
