import Foundation
import GRDB
import Pipeline
import RunModel

/// Ingestion of what workers write in their stage directories (journal, result.json, done.json) into the
/// stage's rows. Idempotent: re-reading a directory gives the same rows, so every row can be re-derived
/// from the stage directories after a crash. Static, because `rdd-bench harness` measures `upsertMetrics`
/// on a bare database (HarnessBench.measureMetricIngestion).
extension RunLedger {
    /// Upserts journal entries of a running stage (a resumed stage rewrites the steps after its
    /// checkpoint with the same values, so upsert keeps one row per (stage, step, name)).
    static func upsertMetrics(_ db: Database, stage: String, _ entries: [Journal.Entry]) throws {
        let st = try db.cachedStatement(sql: """
            INSERT INTO metrics (stage, step, name, value) VALUES (?, ?, ?, ?)
            ON CONFLICT (stage, step, name) DO UPDATE SET value = excluded.value
            """)
        for e in entries { try st.execute(arguments: [stage, e.step, e.name, e.value.isNaN ? nil : e.value]) }
    }

    /// Replaces a completed stage's metrics by its final journal, its evaluations by result.json and its
    /// provenance by done.json's, and fills the stage's cost (seconds, peak memory, threads, finish time) from the worker's done.json where the
    /// row has none: a stage adopted from disk (imported from another root, or finished while no scheduler
    /// watched) keeps what it took where it ran. A scheduler that saw the worker finish overwrites these.
    static func ingestCompleted(_ db: Database, stage: String, directory: String) throws {
        if let done = WorkerDone.read(directory: directory) {
            try db.execute(sql: """
                UPDATE stages SET seconds = COALESCE(seconds, ?), peak_rss_kib = COALESCE(peak_rss_kib, ?),
                  threads = COALESCE(threads, ?), finished = COALESCE(finished, ?) WHERE identity = ?
                """, arguments: [done.seconds, done.peakRSSKiB, done.threads.flatMap { Int($0) }, done.finished, stage])
            // The completing worker's record is the truth about who computed the stage (also for an adopted one).
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            let provenance = try done.provenance.map { String(decoding: try enc.encode($0), as: UTF8.self) }
            try db.execute(sql: "UPDATE stages SET provenance_json = ? WHERE identity = ?", arguments: [provenance, stage])
        }
        try db.execute(sql: "DELETE FROM metrics WHERE stage = ?", arguments: [stage])
        try upsertMetrics(db, stage: stage, Journal.read(path: directory + "/journal.jsonl"))
        let resultPath = directory + "/result.json"
        if let data = FileManager.default.contents(atPath: resultPath) {
            // Structure checked by the Codable type; numbers taken from JSONParser (exact: `Double(String)`, see Journal.parse).
            _ = try JSONDecoder().decode(EvaluationResult.self, from: data)
            let r = try JSONParser.parse(String(decoding: data, as: UTF8.self)).value
            func num(_ j: JSON?) -> Double? {
                switch j { case .double(let d)?: return d; case .int(let i)?: return Double(i); case .string(let s)?: return Double(s); default: return nil }
            }
            try db.execute(sql: "DELETE FROM evaluations WHERE stage = ?", arguments: [stage])
            for m in r["metrics"]?.arrayValue ?? [] {
                try db.execute(sql: """
                    INSERT INTO evaluations (stage, metric, value, label, feature_network, samples, reference, sampler, steps, nfe, model_label, seconds_per_image)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [stage, m["name"]?.stringValue, num(m["value"]), m["label"]?.stringValue, m["featureNetwork"]?.stringValue,
                                     m["samples"]?.intValue, m["reference"]?.stringValue, m["sampler"]?.stringValue, m["steps"]?.intValue,
                                     m["nfe"]?.intValue, r["modelLabel"]?.stringValue, num(r["secondsPerImage"])])
            }
        }
    }
}
