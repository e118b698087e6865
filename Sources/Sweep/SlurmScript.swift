import Foundation
import Pipeline
import RunModel

/// What one Slurm job array asks for: `sbatch` resource options of the stages it runs.
///
/// Values come, lowest precedence first, from built-in defaults, the spec's `execution.slurm`, its
/// `execution.slurm.stages.<kind>` (so a teacher can ask for more time than an evaluation), then the
/// command line (`rdd-sweep run --executor slurm --time … --mem …`). Every value is validated against a
/// strict pattern before it reaches a script (`SlurmResources.problems`), so a script line can never
/// carry shell syntax or a second option.
public struct SlurmResources: Equatable, Sendable {
    public var partition: String?
    public var account: String?
    public var qos: String?
    /// `--cpus-per-task`; also the worker's RDD_THREADS (a resumed stage keeps the count it started with).
    public var cpusPerTask: Int?
    /// `--mem`, e.g. "4G", "500M".
    public var mem: String?
    /// `--time`, e.g. "30", "01:00:00", "1-12:00:00".
    public var time: String?
    /// `--signal`, e.g. "B:USR1@120": the batch shell (which is the worker, `exec`ed) is warned that
    /// many seconds before the time limit; the worker checkpoints, requeues its job and exits.
    public var signal: String?
    /// `%K` of `--array=0-N%K`: at most K tasks of one array run at once.
    public var throttle: Int?
    /// Further `sbatch` options, each "--name" or "--name=value" (e.g. "--constraint=avx2").
    public var options: [String] = []

    public init(partition: String? = nil, account: String? = nil, qos: String? = nil, cpusPerTask: Int? = nil, mem: String? = nil,
                time: String? = nil, signal: String? = nil, throttle: Int? = nil, options: [String] = []) {
        self.partition = partition; self.account = account; self.qos = qos; self.cpusPerTask = cpusPerTask; self.mem = mem
        self.time = time; self.signal = signal; self.throttle = throttle; self.options = options
    }

    /// Built-in defaults: one CPU, the B:USR1@120 preemption warning; no partition, account, memory or
    /// time (the cluster's defaults apply).
    public static let defaults = SlurmResources(cpusPerTask: 1, signal: "B:USR1@120")

    public static let keys = ["partition", "account", "qos", "cpusPerTask", "mem", "time", "signal", "throttle", "options"]

    /// `self` with every value `over` sets replacing ours (options are appended).
    public func overlaid(with over: SlurmResources) -> SlurmResources {
        var r = self
        r.partition = over.partition ?? partition
        r.account = over.account ?? account
        r.qos = over.qos ?? qos
        r.cpusPerTask = over.cpusPerTask ?? cpusPerTask
        r.mem = over.mem ?? mem
        r.time = over.time ?? time
        r.signal = over.signal ?? signal
        r.throttle = over.throttle ?? throttle
        r.options = options + over.options
        return r
    }

    /// Options rdd-sweep writes itself; a spec or flag may not set them.
    static let reservedOptions = ["--array", "--dependency", "--kill-on-invalid-dep", "--output", "--error", "--open-mode", "--job-name",
                                  "--parsable", "--wrap", "--requeue", "--no-requeue", "--cpus-per-task", "--mem", "--time", "--partition",
                                  "--account", "--qos", "--signal", "--chdir", "--export", "--array-throttle", "-a", "-d", "-o", "-e", "-J",
                                  "-c", "-t", "-p", "-A", "-q", "-D"]

    /// Problems with the values, each "field = value: what is wrong" (`field` prefixed by `prefix`).
    public func problems(prefix: String = "") -> [String] {
        var out: [String] = []
        func check(_ name: String, _ v: String?, _ pattern: String, _ expected: String) {
            guard let v else { return }
            if v.range(of: pattern, options: .regularExpression) == nil { out.append("\(prefix)\(name) = \(JSON.string(v).serialized()): expected \(expected)") }
        }
        let word = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
        check("partition", partition, "^[A-Za-z0-9][A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*)*$", "a partition name (letters, digits, '.', '_', '-'; several separated by commas)")
        check("account", account, word, "an account name (letters, digits, '.', '_', '-')")
        check("qos", qos, word, "a QOS name (letters, digits, '.', '_', '-')")
        check("mem", mem, "^[0-9]+[KMGT]?$", "a size like 500M, 4G or 4096 (megabytes)")
        check("time", time, "^([0-9]+|[0-9]+:[0-9]{1,2}|[0-9]+:[0-9]{1,2}:[0-9]{1,2}|[0-9]+-[0-9]{1,2}(:[0-9]{1,2}(:[0-9]{1,2})?)?|UNLIMITED|INFINITE)$",
              "a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS")
        if let s = signal {
            if s.range(of: "^B:(SIG)?(USR1|USR2|TERM|INT)(@[0-9]+)?$", options: .regularExpression) == nil {
                let why = s.hasPrefix("B:") ? "the worker checkpoints on USR1, USR2, TERM or INT"
                    : "it must start with 'B:' — the batch shell is the worker; without B: Slurm signals only job steps, and there are none"
                out.append("\(prefix)signal = \(JSON.string(s).serialized()): expected B:<signal>@<seconds> such as B:USR1@120 (\(why))")
            }
        }
        if let c = cpusPerTask, c < 1 { out.append("\(prefix)cpusPerTask = \(c): expected an integer ≥ 1") }
        if let t = throttle, t < 1 { out.append("\(prefix)throttle = \(t): expected an integer ≥ 1") }
        for (i, o) in options.enumerated() {
            let name = String(o.prefix(while: { $0 != "=" }))
            if o.range(of: "^--[a-z][a-z0-9-]*(=[^\\n\\r\"\\\\]*)?$", options: .regularExpression) == nil {
                out.append("\(prefix)options[\(i)] = \(JSON.string(o).serialized()): expected one sbatch long option, \"--name\" or \"--name=value\" (no newline, quote or backslash)")
            } else if Self.reservedOptions.contains(name) {
                let own = ["--cpus-per-task": "cpusPerTask", "--mem": "mem", "--time": "time", "--partition": "partition", "--account": "account",
                           "--qos": "qos", "--signal": "signal"][name]
                out.append("\(prefix)options[\(i)] = \(JSON.string(o).serialized()): \(name) is written by rdd-sweep\(own.map { "; set '\($0)' instead" } ?? "")")
            }
        }
        return out
    }
}

/// The `execution.slurm` settings of a spec: defaults for every job plus overrides per stage kind.
public struct SlurmSettings: Equatable, Sendable {
    public var all = SlurmResources()
    public var perKind: [StageKind: SlurmResources] = [:]

    public init(all: SlurmResources = SlurmResources(), perKind: [StageKind: SlurmResources] = [:]) {
        self.all = all; self.perKind = perKind
    }

    /// Resources of a stage kind: defaults, then the spec, then its kind's overrides, then `flags`.
    public func resources(for kind: StageKind, flags: SlurmResources = SlurmResources()) -> SlurmResources {
        SlurmResources.defaults.overlaid(with: all).overlaid(with: perKind[kind] ?? SlurmResources()).overlaid(with: flags)
    }

    /// Parses `execution.slurm` (JSON path `specPath`); each problem goes to `err(path, message)`.
    static func parse(_ j: JSON, specPath: String, err: (String, String) -> Void) -> SlurmSettings {
        var s = SlurmSettings()
        guard let kv = j.objectPairs else {
            err(specPath, "slurm = \(j.serialized()): expected an object of sbatch resources (\(SlurmResources.keys.joined(separator: ", ")), stages)")
            return s
        }
        s.all = parseResources(kv.filter { $0.0 != "stages" }, specPath: specPath, err: err, extra: ["stages"])
        if let st = j["stages"] {
            if let skv = st.objectPairs {
                let kinds = StageKind.allCases.map(\.rawValue)
                for (k, v) in skv {
                    let p = specPath + ".stages." + k
                    guard let kind = StageKind(rawValue: k) else { err(p, "\(k) = \(v.serialized()): unknown stage kind '\(k)'\(didYouMean(k, kinds))"); continue }
                    guard let o = v.objectPairs else { err(p, "\(k) = \(v.serialized()): expected an object of sbatch resources"); continue }
                    s.perKind[kind] = parseResources(o, specPath: p, err: err, extra: [])
                }
            } else { err(specPath + ".stages", "stages = \(st.serialized()): expected an object mapping stage kinds (\(StageKind.allCases.map(\.rawValue).joined(separator: ", "))) to resources") }
        }
        return s
    }

    static func parseResources(_ kv: [(String, JSON)], specPath: String, err: (String, String) -> Void, extra: [String]) -> SlurmResources {
        var r = SlurmResources()
        for (k, v) in kv {
            let p = specPath + "." + k
            func str() -> String? {
                if let s = v.stringValue { return s }
                if k == "mem" || k == "time", let i = v.intValue { return String(i) }
                err(p, "\(k) = \(v.serialized()): expected a string"); return nil
            }
            func int() -> Int? {
                if let i = v.intValue { return i }
                err(p, "\(k) = \(v.serialized()): expected an integer"); return nil
            }
            switch k {
            case "partition": r.partition = str()
            case "account": r.account = str()
            case "qos": r.qos = str()
            case "mem": r.mem = str()
            case "time": r.time = str()
            case "signal": r.signal = str()
            case "cpusPerTask": r.cpusPerTask = int()
            case "throttle": r.throttle = int()
            case "options":
                if let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) { r.options = a.compactMap(\.stringValue) }
                else { err(p, "options = \(v.serialized()): expected an array of strings such as [\"--constraint=avx2\"]") }
            default: err(p, "\(k) = \(v.serialized()): unknown key\(didYouMean(k, SlurmResources.keys + extra))")
            }
        }
        // Value checks, one message per field, naming the full JSON path.
        for m in r.problems() {
            let field = String(m.prefix(while: { $0 != " " && $0 != "[" }))
            err(specPath + "." + field, m)
        }
        return r
    }
}

/// One `sbatch` job array: the stages it runs (task i runs `stages[i]`), what it waits for, and where
/// its files go. `render()` is the whole script, deterministic (golden tests compare it byte for byte).
public struct SlurmArrayJob: Equatable {
    public struct Task: Equatable {
        public var identity: String
        public var name: String
        /// RDD_THREADS of the worker (a stage resumed from a checkpoint keeps its first count).
        public var threads: Int
    }
    public var sweep: String
    public var jobName: String
    public var tasks: [Task]
    public var resources: SlurmResources
    /// Array tasks ("123_4") or jobs ("123") that must complete successfully first.
    public var dependencies: [String]
    /// Results root (absolute): stage directories are `<root>/stages/<identity>`.
    public var root: String
    /// Directory of the script and of Slurm's per-task output files.
    public var logDirectory: String
    public var workerExecutable: String
    public var checkpointEvery: Int
    public var logEvery: Int

    /// Slurm's output file of task `task` of job `jobID` (the `--output` pattern, expanded).
    public func outputPath(jobID: String, task: Int) -> String { "\(logDirectory)/\(jobName)_\(jobID)_\(task).out" }

    /// Problems that make the job unsafe or impossible to write: values, identities, paths.
    public func problems() -> [String] {
        var out = resources.problems()
        for t in tasks where t.identity.range(of: "^[0-9a-f]{64}$", options: .regularExpression) == nil {
            out.append("stage identity \(JSON.string(t.identity).serialized()): expected 64 hexadecimal digits")
        }
        if !isSafeName(jobName) {
            out.append("job name \(JSON.string(jobName).serialized()): expected letters, digits and . _ + @ -")
        }
        // Second line of defence (the spec parser admits only safe names): sweep and stage names are
        // written into the script's comment header, where a line break would start an #SBATCH line.
        if !isSafeName(sweep) { out.append("sweep \(JSON.string(sweep).serialized()): expected letters, digits and . _ + @ -") }
        for t in tasks where !isSafeName(t.name) {
            out.append("stage name \(JSON.string(t.name).serialized()): expected letters, digits and . _ + @ -")
        }
        for d in dependencies where d.range(of: "^[0-9]+(_[0-9]+)?$", options: .regularExpression) == nil {
            out.append("dependency \(JSON.string(d).serialized()): expected a job id or JOBID_TASK")
        }
        // Paths go into #SBATCH lines, which sbatch parses itself: double quotes are allowed around a
        // value, but no quote, backslash, newline or '%' (a filename pattern character) inside.
        for (what, p) in [("results root", root), ("log directory", logDirectory), ("worker executable", workerExecutable)] {
            if !p.hasPrefix("/") || p.contains(where: { "\"\\\n\r%".contains($0) }) {
                out.append("\(what) \(JSON.string(p).serialized()): must be an absolute path without '\"', '\\', '%' or a line break for Slurm")
            }
        }
        if tasks.isEmpty { out.append("a job array needs at least one stage") }
        return out
    }

    /// The sbatch script. Resources are `#SBATCH` lines (validated values); everything the shell
    /// reads is single-quoted; the worker is `exec`ed so that `--signal=B:…` reaches it directly.
    public func render() -> String {
        let r = resources
        var s = "#!/bin/bash\n"
        s += "# rdd-sweep: sweep \(sweep), job array of \(tasks.count) stage\(tasks.count == 1 ? "" : "s") (generated; the run database maps task → stage)\n"
        for (i, t) in tasks.enumerated() { s += "#   task \(i): \(t.name) [\(t.identity)]\n" }
        var lines = ["--job-name=\(jobName)", "--array=0-\(tasks.count - 1)" + (r.throttle.map { "%\($0)" } ?? ""),
                     "--output=\"\(logDirectory)/%x_%A_%a.out\"", "--open-mode=append", "--requeue"]
        if !dependencies.isEmpty { lines += ["--dependency=afterok:" + dependencies.joined(separator: ":"), "--kill-on-invalid-dep=yes"] }
        if let c = r.cpusPerTask { lines.append("--cpus-per-task=\(c)") }
        if let m = r.mem { lines.append("--mem=\(m)") }
        if let t = r.time { lines.append("--time=\(t)") }
        if let p = r.partition { lines.append("--partition=\(p)") }
        if let a = r.account { lines.append("--account=\(a)") }
        if let q = r.qos { lines.append("--qos=\(q)") }
        if let g = r.signal { lines.append("--signal=\(g)") }
        lines += r.options
        for l in lines { s += "#SBATCH \(l)\n" }
        s += """
            set -eu
            ROOT=\(shellQuote(root))
            EXE=\(shellQuote(workerExecutable))
            STAGES=(\(tasks.map(\.identity).joined(separator: " ")))
            NAMES=(\(tasks.map { shellQuote($0.name) }.joined(separator: " ")))
            THREADS=(\(tasks.map { String($0.threads) }.joined(separator: " ")))
            I=$SLURM_ARRAY_TASK_ID
            DIR="$ROOT/stages/${STAGES[$I]}"
            export RDD_THREADS="${THREADS[$I]}"
            printf '\\n=== rdd-sweep %s: Slurm job %s_%s (job id %s, restart %s) of stage %s [%s] on %s at %s, RDD_THREADS=%s ===\\n' \\
              \(shellQuote(sweep)) "$SLURM_ARRAY_JOB_ID" "$I" "$SLURM_JOB_ID" "${SLURM_RESTART_COUNT:-0}" "${NAMES[$I]}" "${STAGES[$I]}" \\
              "$(hostname)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$RDD_THREADS" | tee -a "$DIR/worker.log"
            exec "$EXE" worker "$DIR/request.json" --checkpoint-every \(checkpointEvery) --log-every \(logEvery) --slurm >>"$DIR/worker.log" 2>&1

            """
        return s
    }
}

/// Whether `s` is a name safe in a shell word, a file name and a Slurm header: a letter or digit, then
/// letters, digits and `. _ + @ -` (every sweep, stage and job name rdd-sweep makes is one).
public func isSafeName(_ s: String) -> Bool {
    s.range(of: "^[A-Za-z0-9][A-Za-z0-9._+@-]*$", options: .regularExpression) != nil
}

/// `'text'` for bash, with embedded single quotes as `'\''`: nothing inside is expanded.
public func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
