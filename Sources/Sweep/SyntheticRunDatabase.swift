import Foundation
import GRDB
import Pipeline
import RunModel

/// A run database with one sweep "synthetic" over distill.method × distill.alpha × seed: one shared teacher, per
/// trial a distillation stage (its journal: `metricRows / trials` rows of loss, loss terms, lr and seconds_per_step)
/// and three evaluations (1, 2 and 4 student steps, FID and classifier score). Every trial is completed but the last
/// `unfinished`: their distillation stage is queued (the first two running, half-way, with a heartbeat), their
/// evaluations queued with no results, the trials queued (running). Used by `rdd-bench dashboard` and DashboardTests.
public enum SyntheticRunDatabase {
    public static func make(path: String, trials n: Int, metricRows: Int, unfinished: Int = 0) throws {
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
                                    created, started, finished, seconds, peak_rss_kib, artifact_dir, ran_by_sweep, heartbeat)
                VALUES (?, ?, ?, '{}', '{}', ?, ?, 1, ?, ?, 1, ?, ?, ?, ?, 100000, ?, 1, ?)
                """)
            let trial = try db.makeStatement(sql: "INSERT INTO trials (id, sweep_id, trial_index, trial_key, axes_json, config_json, status, completed) VALUES (?, 1, ?, ?, ?, ?, ?, ?)")
            let link = try db.makeStatement(sql: "INSERT INTO trial_stages (trial_id, name, role, stage) VALUES (?, ?, ?, ?)")
            let metric = try db.makeStatement(sql: "INSERT INTO metrics (stage, step, name, value) VALUES (?, ?, ?, ?)")
            let eval = try db.makeStatement(sql: """
                INSERT INTO evaluations (stage, metric, value, label, feature_network, samples, reference, sampler, steps, nfe, model_label, seconds_per_image)
                VALUES (?, ?, ?, ?, 'classifier', 256, 'digits-test', 'ddim', ?, ?, ?, 0.001)
                """)
            func id(_ s: String) -> String { String(repeating: "0", count: max(0, 64 - s.count)) + s }
            let teacher = id("7e")
            try stage.execute(arguments: [teacher, "teacher", "teacher", CodeVersion.string, "completed", 1000, 1000, now, now, now, 60.0, "stages/" + teacher, nil])
            var rng = SystemRandomNumberGenerator()
            for i in 0..<n {
                let m = methods[i % methods.count], a = alphas[(i / methods.count) % alphas.count], seed = i / (methods.count * alphas.count)
                base.set(["distill", "method"][...], .string(m))
                base.set(["distill", "alpha"][...], .double(a))
                base.set(["seed"][...], .int(Int64(seed)))
                let axes = "{\"distill.method\":\"\(m)\",\"distill.alpha\":\(a),\"seed\":\(seed)}"
                // The last `unfinished` trials: the first two running (their distillation half-way), the others queued.
                let open = i >= n - unfinished, running = open && i < n - unfinished + 2
                let status = open ? (running ? "running" : "queued") : "completed"
                try trial.execute(arguments: [i + 1, i, axes, axes, base.serialized(sortedKeys: true), status, open ? nil : now])
                try link.execute(arguments: [i + 1, "teacher", "teacher", teacher])
                let distill = id(String(format: "d%x", i))
                let logged = open ? (running ? perStage / 2 : 0) : perStage
                try stage.execute(arguments: [distill, "distill", "distill-\(m)-1", CodeVersion.string, status, perStage, open ? logged / names.count : perStage,
                                              now, running || !open ? now : nil, open ? nil : now, open ? nil : 30.0, "stages/" + distill, running ? now : nil])
                try link.execute(arguments: [i + 1, "distill-\(m)-1", "distill-\(m)-1", distill])
                for k in 0..<logged {
                    let name = names[k % names.count], step = k / names.count
                    try metric.execute(arguments: [distill, step, name, Double.random(in: 0..<1, using: &rng)])
                }
                for steps in [1, 2, 4] {
                    let e = id(String(format: "e%x%x", steps, i))
                    try stage.execute(arguments: [e, "eval", "eval-\(m)-\(steps)", CodeVersion.string, open ? "queued" : "completed", nil, nil,
                                                  now, open ? nil : now, open ? nil : now, open ? nil : 5.0, "stages/" + e, nil])
                    try link.execute(arguments: [i + 1, "eval-\(m)-\(steps)", "student@\(steps)", e])
                    if open { continue }
                    try eval.execute(arguments: [e, "fid", 4 + Double.random(in: 0..<2, using: &rng), "FID (synthetic)", steps, steps, m])
                    try eval.execute(arguments: [e, "classifier_score", 8 + Double.random(in: 0..<1, using: &rng), "classifier score (synthetic)", steps, steps, m])
                }
            }
        }
    }
}
