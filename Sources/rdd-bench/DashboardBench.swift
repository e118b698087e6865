import ArgumentParser
import Dashboard
import Foundation
import GRDB
import Pipeline
import Sweep
#if canImport(FoundationNetworking)
import FoundationNetworking
import RunModel
#endif

/// `rdd-bench dashboard`: the dashboard's pages over a synthetic run database of the size of a large study
/// (default 10,000 trials, 1,000,000 journal metric rows), built with the real schema (RunDatabase's migrations).
struct DashboardBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dashboard",
        abstract: "Time the dashboard's pages over a synthetic run database (docs/dashboard.md, \"Performance\").")
    @Option(help: "Trials of the synthetic sweep (4 methods × 50 α values × seeds).") var trials = 10_000
    @Option(help: "Journal metric rows, spread over the trials' distillation stages.") var metricRows = 1_000_000
    @Option(help: "Timed requests per page.") var repeats = 10
    @Option(help: "Directory for the synthetic root (kept when given; a temporary one is removed).") var dir: String?

    func run() throws {
        let root = dir ?? NSTemporaryDirectory() + "rdd-dashboard-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        let dbPath = RunDatabase.path(root: root)
        if !FileManager.default.fileExists(atPath: dbPath) {
            let t0 = Date()
            try makeSyntheticDatabase(path: dbPath, trials: trials, metricRows: metricRows)
            print(String(format: "synthetic database: %d trials, %d metric rows, %.0f MB, built in %.1f s", trials, metricRows,
                         Double((try? FileManager.default.attributesOfItem(atPath: dbPath)[.size] as? Int) ?? 0) / 1e6, Date().timeIntervalSince(t0)))
        }
        let d = Dashboard(root: root)
        for path in ["/sweeps/synthetic/trials", "/", "/sweeps/synthetic/live", "/sweeps/synthetic/trials/1234", "/api/sweeps/synthetic/trials"] {
            var ms: [Double] = []
            var bytes = 0, status = 0
            for _ in 0..<repeats {
                let t = Date()
                let r = d.respond(method: "GET", path: path, query: [])
                ms.append(Date().timeIntervalSince(t) * 1000)
                bytes = r.body.count; status = r.status
            }
            ms.sort()
            print(String(format: "in process  %-34@ status %d, %6.1f MB, median %7.1f ms, max %7.1f ms (%d requests)", path as NSString, status,
                         Double(bytes) / 1e6, ms[ms.count / 2], ms.last!, repeats))
        }
        // Through the socket, as a browser gets it.
        let server = try DashboardServer(root: root, host: "127.0.0.1", port: 0)
        let sem = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var url = ""; var error: Error? }
        let box = Box()
        Task { do { box.url = try await server.start() } catch { box.error = error }; sem.signal() }
        sem.wait()
        if let e = box.error { throw e }
        var ms: [Double] = []
        for _ in 0..<repeats {
            let t = Date()
            let (data, _) = try fetch(box.url + "sweeps/synthetic/trials")
            ms.append(Date().timeIntervalSince(t) * 1000)
            precondition(data.count > 0)
        }
        ms.sort()
        print(String(format: "over HTTP   /sweeps/synthetic/trials            median %7.1f ms, max %7.1f ms (%d requests)", ms[ms.count / 2], ms.last!, repeats))
        Task { await server.stop(); sem.signal() }
        sem.wait()
    }

    func fetch(_ url: String) throws -> (Data, Int) {
        let sem = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var data = Data(); var status = 0; var error: Error? }
        let box = Box()
        URLSession.shared.dataTask(with: URL(string: url)!) { d, r, e in
            box.data = d ?? Data(); box.status = (r as? HTTPURLResponse)?.statusCode ?? 0; box.error = e; sem.signal()
        }.resume()
        sem.wait()
        if let e = box.error { throw e }
        return (box.data, box.status)
    }
}

/// A run database with one sweep "synthetic" over distill.method × distill.alpha × seed: one shared teacher, per
/// trial a distillation stage (its journal: `metricRows / trials` rows of loss, loss terms, lr and seconds_per_step)
/// and three evaluations (1, 2 and 4 student steps, FID and classifier score). Every trial is completed.
func makeSyntheticDatabase(path: String, trials n: Int, metricRows: Int) throws {
    let db = try RunDatabase(writerAt: path)
    let methods = ["pd", "rcfd", "rdd", "cfd+ii_p2p"]
    let alphas = (0..<50).map { 0.02 * Double($0 + 1) }
    var base = try JSON.encode(ExperimentConfig.defaults(preset: "tiny"))
    let names = ["loss", "cfd", "is_p2p", "m_p2p", "lr", "seconds_per_step"]
    let perStage = max(1, metricRows / max(1, n))
    let now = Date().timeIntervalSince1970
    try db.write { db in
        try db.execute(sql: """
            INSERT INTO sweeps (id, name, revision, spec_file, spec_json, spec_hash, preset, axes_json, code_version, created)
            VALUES (1, 'synthetic', 1, 'synthetic.json', '{}', 'synthetic', 'tiny', '["distill.method","distill.alpha","seed"]', ?, ?)
            """, arguments: [CodeVersion.string, now])
        let stage = try db.makeStatement(sql: """
            INSERT INTO stages (identity, kind, name, config_json, inputs_json, code_version, status, attempts, total_steps, last_step, threads,
                                created, started, finished, seconds, peak_rss_kib, artifact_dir, ran_by_sweep)
            VALUES (?, ?, ?, '{}', '{}', ?, 'completed', 1, ?, ?, 1, ?, ?, ?, ?, 100000, ?, 1)
            """)
        let trial = try db.makeStatement(sql: "INSERT INTO trials (id, sweep_id, trial_index, trial_key, axes_json, config_json, status, completed) VALUES (?, 1, ?, ?, ?, ?, 'completed', ?)")
        let link = try db.makeStatement(sql: "INSERT INTO trial_stages (trial_id, name, role, stage) VALUES (?, ?, ?, ?)")
        let metric = try db.makeStatement(sql: "INSERT INTO metrics (stage, step, name, value) VALUES (?, ?, ?, ?)")
        let eval = try db.makeStatement(sql: """
            INSERT INTO evaluations (stage, metric, value, label, feature_network, samples, reference, sampler, steps, nfe, model_label, seconds_per_image)
            VALUES (?, ?, ?, ?, 'classifier', 256, 'digits-test', 'ddim', ?, ?, ?, 0.001)
            """)
        func id(_ s: String) -> String { String(repeating: "0", count: max(0, 64 - s.count)) + s }
        let teacher = id("7e")
        try stage.execute(arguments: [teacher, "teacher", "teacher", CodeVersion.string, 1000, 1000, now, now, now, 60.0, "stages/" + teacher])
        var rng = SystemRandomNumberGenerator()
        for i in 0..<n {
            let m = methods[i % methods.count], a = alphas[(i / methods.count) % alphas.count], seed = i / (methods.count * alphas.count)
            base.set(["distill", "method"][...], .string(m))
            base.set(["distill", "alpha"][...], .double(a))
            base.set(["seed"][...], .int(Int64(seed)))
            let axes = "{\"distill.method\":\"\(m)\",\"distill.alpha\":\(a),\"seed\":\(seed)}"
            try trial.execute(arguments: [i + 1, i, axes, axes, base.serialized(sortedKeys: true), now])
            try link.execute(arguments: [i + 1, "teacher", "teacher", teacher])
            let distill = id(String(format: "d%x", i))
            try stage.execute(arguments: [distill, "distill", "distill-\(m)-1", CodeVersion.string, perStage, perStage, now, now, now, 30.0, "stages/" + distill])
            try link.execute(arguments: [i + 1, "distill-\(m)-1", "distill-\(m)-1", distill])
            for k in 0..<perStage {
                let name = names[k % names.count], step = k / names.count
                try metric.execute(arguments: [distill, step, name, Double.random(in: 0..<1, using: &rng)])
            }
            for steps in [1, 2, 4] {
                let e = id(String(format: "e%x%x", steps, i))
                try stage.execute(arguments: [e, "eval", "eval-\(m)-\(steps)", CodeVersion.string, nil, nil, now, now, now, 5.0, "stages/" + e])
                try link.execute(arguments: [i + 1, "eval-\(m)-\(steps)", "student@\(steps)", e])
                try eval.execute(arguments: [e, "fid", 4 + Double.random(in: 0..<2, using: &rng), "FID (synthetic)", steps, steps, m])
                try eval.execute(arguments: [e, "classifier_score", 8 + Double.random(in: 0..<1, using: &rng), "classifier score (synthetic)", steps, steps, m])
            }
        }
    }
}
