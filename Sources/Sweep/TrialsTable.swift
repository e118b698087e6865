import Foundation
import GRDB
import Pipeline

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
        public var status: String
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
        // json_extract: SQLite reads one key of each configuration, so 10,000 trials cost no JSON parsing here.
        let trials = try Row.fetchAll(db, sql: """
            SELECT trial_index, trial_key, status, axes_json, COALESCE(json_extract(config_json, '$.conditional'), 0) AS conditional
            FROM trials WHERE sweep_id = ? ORDER BY trial_index
            """, arguments: [sw.id])
        let evals = try Row.fetchAll(db, sql: """
            SELECT t.trial_index, ts.role, e.* FROM trials t JOIN trial_stages ts ON ts.trial_id = t.id JOIN evaluations e ON e.stage = ts.stage
            WHERE t.sweep_id = ? ORDER BY t.trial_index, ts.role, e.metric
            """, arguments: [sw.id])
        var byTrial: [Int: [(column: String, metric: TrialsTable.Metric)]] = [:]
        var columns = Set<String>()
        for e in evals {
            let col = "\(e["role"] as String)/\(e["metric"] as String)"
            columns.insert(col)
            byTrial[e["trial_index"], default: []].append((col, TrialsTable.Metric(
                value: e["value"], label: e["label"], samples: e["samples"], featureNetwork: e["feature_network"], reference: e["reference"],
                sampler: e["sampler"], steps: e["steps"], nfe: e["nfe"], stage: e["stage"], model: e["model_label"])))
        }
        return TrialsTable(sweep: sw, columns: columns.sorted(), trials: trials.map { t in
            let idx: Int = t["trial_index"]
            return TrialsTable.Trial(index: idx, key: t["trial_key"], status: t["status"],
                                     axes: ((try? JSONParser.parse(t["axes_json"] as String).value)?.objectPairs) ?? [],
                                     conditional: (t["conditional"] as Int? ?? 0) != 0, metrics: byTrial[idx] ?? [])
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
