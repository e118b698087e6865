import Foundation
import GRDB
import Pipeline

// One page of a sweep's trials table, sorted, filtered and paged by SQLite (docs/dashboard.md, "Performance"): a
// sweep of 10,000 trials must not be read whole for a page that shows 100 of them.

/// Which page of a sweep's trials table to read: the rows that pass `filter`, ordered by `sort`, `per` of them
/// from row `(page − 1) · per`.
public struct TrialsQuery: Equatable, Sendable {
    /// The column the rows are ordered by; ties (and trials without the metric, last either way) by trial index.
    public enum Sort: Equatable, Sendable {
        case trial
        case status
        /// An axis of the sweep by its path ("distill.alpha"): the trial's value of it.
        case axis(String)
        /// A metric column `role/metric` ("student@1/fid").
        case metric(String)

        /// From a column name as the page's headers name them: "trial", "status", an axis path, `role/metric`.
        public init(column: String) {
            switch column {
            case "", "trial": self = .trial
            case "status": self = .status
            default: self = column.contains("/") ? .metric(column) : .axis(column)
            }
        }

        public var column: String {
            switch self {
            case .trial: return "trial"
            case .status: return "status"
            case .axis(let a): return a
            case .metric(let m): return m
            }
        }
    }

    public var sort: Sort = .trial
    public var descending = false
    /// Lower-cased words; a trial passes when each appears in its index, status or an axis value.
    public var filter: [String] = []
    /// 1-based.
    public var page = 1
    public var per = TrialsQuery.defaultPer

    public static let defaultPer = 100
    /// The most rows one page may ask for (a page of 500 rows is ≈ 0.4 MB of HTML).
    public static let maxPer = 500

    public init(sort: Sort = .trial, descending: Bool = false, filter: String = "", page: Int = 1, per: Int = TrialsQuery.defaultPer) {
        self.sort = sort
        self.descending = descending
        self.filter = filter.lowercased().split(whereSeparator: \.isWhitespace).map(String.init)
        self.page = page
        self.per = per
    }
}

/// A query that names something the sweep does not have (an unknown sort column) or asks for an impossible page.
public struct TrialsQueryError: Error, CustomStringConvertible {
    public var description: String
}

/// One page of a sweep's trials table: `table` holds the page's trials only, with every metric column of the sweep.
public struct TrialsPage {
    public var table: TrialsTable
    public var query: TrialsQuery
    /// Trials of the sweep, and those that pass the filter.
    public var total: Int
    public var matching: Int
    /// Pages of `query.per` rows the matching trials fill (at least 1).
    public var pages: Int { max(1, (matching + query.per - 1) / query.per) }
}

extension Reports {
    /// Page `q` of the trials table of sweep `ref`. Sorting, filtering and paging are SQLite's (the trials of the
    /// sweep by the `trials` key `(sweep_id, trial_index)`; a metric sort looks up one evaluation per trial by the
    /// keys of `trial_stages` and `evaluations`); only the page's trials are read into memory.
    public func trialsPage(sweep ref: String, _ q: TrialsQuery) throws -> TrialsPage {
        guard q.page >= 1, (1...TrialsQuery.maxPer).contains(q.per) else {
            throw TrialsQueryError(description: "page must be ≥ 1 and per 1…\(TrialsQuery.maxPer), got page=\(q.page) per=\(q.per)")
        }
        let db = try openReader()
        return try db.read { db in
            let sw = try resolveSweep(db, ref)
            let columns = try TrialsColumns.shared.columns(db, database: dbPath, sweep: sw.id)
            var arguments: StatementArguments = [sw.id]
            // Each word must occur in the trial's index, status or one of its axis values (not the axis names, which
            // every row shares).
            var filter = ""
            for w in q.filter {
                filter += """
                     AND instr(lower(t.trial_index || ' ' || t.status || ' ' ||
                     (SELECT group_concat(value, ' ') FROM json_each(t.axes_json))), ?) > 0
                    """
                arguments += [w]
            }
            let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trials WHERE sweep_id = ?", arguments: [sw.id]) ?? 0
            let dir = q.descending ? "DESC" : "ASC"
            var key = "", keyArguments: StatementArguments = []
            switch q.sort {
            case .trial: break
            case .status: key = "t.status"
            case .axis(let a):
                guard sw.axes.contains(a) else {
                    throw TrialsQueryError(description: "sweep \(sw.label) has no axis or column '\(a)' to sort by; its axes: \(sw.axes.joined(separator: ", ")), columns: trial, status, \(columns.joined(separator: ", "))")
                }
                key = "json_extract(t.axes_json, ?)"
                keyArguments = ["$.\"\(a)\""]
            case .metric(let c):
                guard columns.contains(c), let slash = c.lastIndex(of: "/") else {
                    throw TrialsQueryError(description: "sweep \(sw.label) has no metric column '\(c)' to sort by; its columns: \(columns.joined(separator: ", "))")
                }
                key = """
                    (SELECT e.value FROM trial_stages ts JOIN evaluations e ON e.stage = ts.stage
                     WHERE ts.trial_id = t.id AND ts.role = ? AND e.metric = ? ORDER BY ts.name LIMIT 1)
                    """
                keyArguments = [String(c[..<slash]), String(c[c.index(after: slash)...])]
            }
            // Trials without a value (a metric not evaluated yet) come last in either direction (NULLS LAST: the key is
            // computed once per trial). With a filter, the window count gives the matching trials in the same pass.
            let order = key.isEmpty ? "t.trial_index \(dir)" : "\(key) \(dir) NULLS LAST, t.trial_index"
            let rows = try Row.fetchAll(db, sql: """
                SELECT t.id, t.trial_index, t.trial_key, t.status, t.axes_json,
                       COALESCE(json_extract(t.config_json, '$.conditional'), 0) AS conditional\(q.filter.isEmpty ? "" : ", COUNT(*) OVER () AS matching")
                FROM trials t WHERE t.sweep_id = ?\(filter) ORDER BY \(order) LIMIT ? OFFSET ?
                """, arguments: arguments + keyArguments + [q.per, (q.page - 1) * q.per])
            let matching = q.filter.isEmpty ? total : try rows.first.map { $0["matching"] as Int }
                ?? Int.fetchOne(db, sql: "SELECT COUNT(*) FROM trials t WHERE t.sweep_id = ?" + filter, arguments: arguments) ?? 0
            let ids = rows.map { $0["id"] as Int64 }
            var byTrial: [Int64: [(column: String, metric: TrialsTable.Metric)]] = [:]
            if !ids.isEmpty {
                let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
                for e in try Row.fetchAll(db, sql: """
                    SELECT ts.trial_id, ts.role, e.* FROM trial_stages ts JOIN evaluations e ON e.stage = ts.stage
                    WHERE ts.trial_id IN (\(marks)) ORDER BY ts.trial_id, ts.role, e.metric
                    """, arguments: StatementArguments(ids)) {
                    byTrial[e["trial_id"], default: []].append(("\(e["role"] as String)/\(e["metric"] as String)", TrialsTable.Metric(evaluation: e)))
                }
            }
            let trials = rows.map { t in
                TrialsTable.Trial(index: t["trial_index"], key: t["trial_key"], state: t["status"],
                                  axes: ((try? JSONParser.parse(t["axes_json"] as String).value)?.objectPairs) ?? [],
                                  conditional: (t["conditional"] as Int? ?? 0) != 0, metrics: byTrial[t["id"]] ?? [])
            }
            return TrialsPage(table: TrialsTable(sweep: sw, columns: columns, trials: trials), query: q, total: total, matching: matching)
        }
    }
}

/// The metric columns of each sweep, kept while no evaluation is added or removed: finding them reads every
/// evaluation of the sweep (≈ 0.1 s of CPU at 10,000 trials), and the trials page asks for them on every request.
final class TrialsColumns: @unchecked Sendable {
    static let shared = TrialsColumns()
    private let lock = NSLock()
    private var cache: [String: (signature: [Int64], columns: [String])] = [:]

    func columns(_ db: Database, database: String, sweep: Int64) throws -> [String] {
        // Rows of `evaluations` are only inserted and deleted (never updated in place): their count and largest rowid
        // change with every change, and both are read from the table's b-tree without visiting the rows.
        let signature = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS n, COALESCE(MAX(rowid), 0) AS last FROM evaluations").map { [$0["n"] as Int64, $0["last"] as Int64] } ?? []
        let key = "\(database)|\(sweep)"
        lock.lock()
        if let c = cache[key], c.signature == signature { lock.unlock(); return c.columns }
        lock.unlock()
        let columns = try String.fetchAll(db, sql: """
            SELECT DISTINCT ts.role || '/' || e.metric AS col FROM trials t JOIN trial_stages ts ON ts.trial_id = t.id
            JOIN evaluations e ON e.stage = ts.stage WHERE t.sweep_id = ? ORDER BY col
            """, arguments: [sweep])
        lock.lock()
        cache[key] = (signature, columns)
        lock.unlock()
        return columns
    }
}

extension TrialsTable.Metric {
    /// From a row of `evaluations` (`e.*`).
    init(evaluation e: Row) {
        self.init(value: e["value"], label: e["label"], samples: e["samples"], featureNetwork: e["feature_network"], reference: e["reference"],
                  sampler: e["sampler"], steps: e["steps"], nfe: e["nfe"], stage: e["stage"], model: e["model_label"])
    }
}
