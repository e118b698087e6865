import Foundation
import Pipeline
import RunModel

/// A sweep specification (docs/sweeps.md, schemas/sweep-spec.schema.json):
///
///     { "name": "tiny-ablation", "preset": "tiny",
///       "base":  { "teacher": { "steps": 20 } },            // overrides of ExperimentConfig, nested
///       "grid":  { "distill.method": ["pd", "rdd"] },       // cartesian product, by dotted path
///       "zip":   [ { "distill.alpha": [1, 2], "distill.beta": [0.1, 0.2] } ],   // paired lists
///       "trials": [ { "distill.method": "pd" }, … ],        // explicit list of assignments
///       "seeds": [0, 1, 2],                                  // the `seed` axis, innermost
///       "execution": { "checkpointEvery": 100, "logEvery": 10,
///                      "slurm": { "time": "01:00:00", "stages": { "teacher": { "time": "04:00:00" } } } } }
///
/// Trials = trials × grid × each zip group × seeds, in that nesting (the first varies slowest); within a
/// grid the last key varies fastest. A trial's index is its position in that order, its key the
/// canonical JSON of its axis values.
public struct SweepSpec {
    public var file: String
    public var text: String
    public var name: String
    public var description: String?
    public var preset: String
    public var base: JSON
    public var grid: [(String, [JSON])]
    public var zip: [[(String, [JSON])]]
    public var trials: [[(String, JSON)]]
    public var seeds: [JSON]?
    public var checkpointEvery: Int
    public var logEvery: Int
    /// `execution.slurm`: sbatch resources for `rdd-sweep run --executor slurm` (docs/sweeps.md, "Slurm").
    public var slurm = SlurmSettings()
    /// Line of each JSON path of the spec (for messages about expanded trials).
    public var lines: [String: Int] = [:]
    /// Default of `--max-trials`: more trials than this are refused before expansion.
    public static let defaultMaxTrials = 10_000

    public static let topLevelKeys = ["$schema", "name", "description", "preset", "base", "grid", "zip", "trials", "seeds", "execution"]
    public static let executionKeys = ["checkpointEvery", "logEvery", "slurm"]
}

/// One expanded trial: its stable index and key, the axis values that made it, its resolved configuration.
public struct ExpandedTrial {
    public var index: Int
    /// Axis path → value, in axis order.
    public var axes: [(String, JSON)]
    /// Canonical JSON of the axis values (sorted keys): stable across reorderings of the spec.
    public var key: String
    public var config: ExperimentConfig
    /// Canonical JSON of `config`.
    public var configJSON: String

    /// "distill.method=rdd seed=1".
    public var axesSummary: String {
        axes.isEmpty ? "(base)" : axes.map { "\($0.0)=\($0.1.stringValue ?? $0.1.serialized())" }.joined(separator: " ")
    }
}

/// Everything wrong with a spec, each message naming the file, the JSON path and the value.
public struct SpecError: Error, CustomStringConvertible, LocalizedError {
    public var messages: [String]
    public var description: String {
        "invalid sweep spec (\(messages.count) problem\(messages.count == 1 ? "" : "s")):\n  " + messages.joined(separator: "\n  ")
    }
    public var errorDescription: String? { description }
}

// MARK: - Configuration key schema

/// Lets the schema see the type inside an absent optional (`Mirror` shows no child for nil).
protocol OptionalWrapping { static var wrappedType: Any.Type { get } }
extension Optional: OptionalWrapping { static var wrappedType: Any.Type { Wrapped.self } }

/// The keys of `ExperimentConfig` and their types, read off a default configuration with `Mirror`
/// (so a field added to the configuration is known here without a second list to maintain).
public indirect enum KeySchema {
    case integer(unsigned: Bool)
    case number
    case boolean
    case string
    /// A `ConfigEnum` field: one of these strings.
    case enumeration([String])
    /// A `ConfigText` field: a string of the type's form (`Baseline`: "KIND:STEPS").
    case text(any ConfigText.Type)
    case array(KeySchema)
    case optional(KeySchema)
    case unknown
    case object([(String, KeySchema)])

    public static func of(_ value: Any) -> KeySchema {
        if let e = value as? any ConfigEnum { return .enumeration(type(of: e).validNames) }
        if let t = value as? any ConfigText { return .text(type(of: t)) }
        // An array of them, which may be empty in the defaults (`evaluation.baselines`), so its type is read off the array's.
        if let a = value as? any ConfigTextArray { return .array(.text(type(of: a).element)) }
        let m = Mirror(reflecting: value)
        let typeName = "\(type(of: value))"
        if m.displayStyle == .optional {
            let inner = typeName.hasPrefix("Optional<") ? String(typeName.dropFirst(9).dropLast()) : ""
            if let c = m.children.first { return .optional(of(c.value)) }
            // An absent enum field (e.g. `evaluation.reference`) still has a fixed set of values.
            if let e = (type(of: value) as? any OptionalWrapping.Type)?.wrappedType as? any ConfigEnum.Type { return .optional(.enumeration(e.validNames)) }
            return .optional(named(inner))
        }
        if m.displayStyle == .struct { return .object(m.children.map { ($0.label ?? "?", of($0.value)) }) }
        if m.displayStyle == .collection {
            if let c = m.children.first { return .array(of(c.value)) }
            let inner = typeName.hasPrefix("Array<") ? String(typeName.dropFirst(6).dropLast()) : ""
            return .array(named(inner))
        }
        return named(typeName)
    }

    static func named(_ t: String) -> KeySchema {
        switch t {
        case "Int", "Int64", "Int32": return .integer(unsigned: false)
        case "UInt64", "UInt32", "UInt": return .integer(unsigned: true)
        case "Float", "Double": return .number
        case "Bool": return .boolean
        case "String": return .string
        default: return .unknown
        }
    }

    public var keys: [String] { if case .object(let kv) = self { return kv.map(\.0) }; return [] }

    public func child(_ k: String) -> KeySchema? {
        if case .object(let kv) = self { return kv.first(where: { $0.0 == k })?.1 }
        return nil
    }

    /// Every dotted path of the schema's leaves and objects.
    public func allPaths(prefix: String = "") -> [String] {
        guard case .object(let kv) = self else { return [] }
        return kv.flatMap { k, v in [prefix + k] + v.allPaths(prefix: prefix + k + ".") }
    }

    var typeDescription: String {
        switch self {
        case .integer(let u): return u ? "a non-negative integer" : "an integer"
        case .number: return "a number"
        case .boolean: return "true or false"
        case .string: return "a string"
        case .enumeration(let names): return "one of \(names.joined(separator: ", "))"
        case .text(let t): return "a string \(t.form)"
        case .array(let e): return "an array of \(e.pluralDescription)"
        case .optional(let e): return e.typeDescription + " or null"
        case .unknown: return "a value"
        case .object: return "an object"
        }
    }

    var pluralDescription: String {
        switch self {
        case .integer: return "integers"
        case .number: return "numbers"
        case .boolean: return "booleans"
        case .string: return "strings"
        case .text(let t): return "strings \(t.form)"
        default: return "values"
        }
    }

    /// Problems with `v` at `path` (each "path = value: problem").
    func check(_ v: JSON, path: String) -> [String] {
        func bad() -> [String] { ["\(path) = \(v.serialized()): expected \(typeDescription), got \(v.kindName)"] }
        switch (self, v) {
        case (.unknown, _): return []
        case (.optional, .null): return []
        case (.optional(let e), _): return e.check(v, path: path)
        case (.integer(let u), .int(let i)): return u && i < 0 ? ["\(path) = \(i): expected a non-negative integer"] : []
        case (.integer, .double(let d)):
            return ["\(path) = \(v.serialized()): expected \(typeDescription), got the non-integer number \(d)"]
        case (.number, .int), (.number, .double), (.boolean, .bool), (.string, .string): return []
        case (.enumeration(let names), .string(let s)): return names.contains(s) ? [] : ["\(path) = \(v.serialized()): \(enumProblem(s, names))"]
        case (.text(let t), .string(let s)): return t.problem(s).map { ["\(path) = \(v.serialized()): \($0)"] } ?? []
        case (.array(let e), .array(let a)): return a.enumerated().flatMap { e.check($0.1, path: "\(path)[\($0.0)]") }
        case (.object(let kv), .object(let vv)):
            var out: [String] = []
            for (k, x) in vv {
                let p = path.isEmpty ? k : path + "." + k
                if let s = kv.first(where: { $0.0 == k })?.1 { out += s.check(x, path: p) }
                else { out.append("\(p) = \(x.serialized()): unknown key '\(k)'\(didYouMean(k, kv.map(\.0)))") }
            }
            return out
        default: return bad()
        }
    }
}

/// An array of `ConfigText` values: `KeySchema.of` reads the element type off it when the array is empty.
protocol ConfigTextArray { static var element: any ConfigText.Type { get } }
extension Array: ConfigTextArray where Element: ConfigText { static var element: any ConfigText.Type { Element.self } }

/// Levenshtein distance (for "did you mean").
public func editDistance(_ a: String, _ b: String) -> Int { levenshtein(a, b) }

/// "; did you mean 'alpha'?" for the closest candidates (distance ≤ max(2, length/3)), else "; valid keys: …".
public func didYouMean(_ key: String, _ candidates: [String], listIfNone: Bool = true) -> String {
    let scored = candidates.map { ($0, editDistance(key, $0)) }.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
    let limit = max(2, key.count / 3)
    let close = scored.filter { $0.1 <= limit }
    if let best = close.first {
        let ties = close.filter { $0.1 == best.1 }.map { "'\($0.0)'" }
        return "; did you mean \(ties.joined(separator: " or "))?"
    }
    // A key that is a suffix of a longer path ("alpha" → "distill.alpha").
    let suffix = candidates.filter { $0.hasSuffix("." + key) }
    if !suffix.isEmpty { return "; did you mean \(suffix.map { "'\($0)'" }.joined(separator: " or "))?" }
    return listIfNone ? "; valid keys: \(candidates.joined(separator: ", "))" : ""
}

// MARK: - Parsing and expansion

extension SweepSpec {
    /// Reads, parses and validates a spec file.
    public static func load(path: String) throws -> SweepSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SpecError(messages: ["\(path): cannot read the file"])
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// Parses a spec and checks its shape (types, unknown keys); `expand()` checks the trials.
    public static func parse(_ text: String, file: String) throws -> SweepSpec {
        let parsed: (value: JSON, lines: [String: Int])
        do { parsed = try JSONParser.parse(text) } catch let e as JSONParser.ParseError {
            throw SpecError(messages: ["\(file):\(e.line):\(e.column): not valid JSON: \(e.message)"])
        }
        var errors: [String] = []
        func err(_ specPath: String, _ msg: String) {
            let line = parsed.lines[specPath].map { ":\($0)" } ?? ""
            errors.append("\(file)\(line): \(specPath.isEmpty ? "(top level)" : specPath): \(msg)")
        }
        guard let top = parsed.value.objectPairs else {
            throw SpecError(messages: ["\(file): the spec must be a JSON object, got \(parsed.value.kindName)"])
        }
        for (k, v) in top where !topLevelKeys.contains(k) {
            err(k, "\(k) = \(v.serialized()): unknown top-level key '\(k)'\(didYouMean(k, topLevelKeys.filter { $0 != "$schema" }))")
        }
        var spec = SweepSpec(file: file, text: text, name: "", description: nil, preset: "tiny", base: .object([]), grid: [], zip: [],
                             trials: [], seeds: nil, checkpointEvery: 100, logEvery: 10)
        spec.lines = parsed.lines
        let root = parsed.value
        if let n = root["name"] {
            if let s = n.stringValue, !s.isEmpty, s.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]*$", options: .regularExpression) != nil, !s.contains("@") {
                spec.name = s
            } else { err("name", "name = \(n.serialized()): must be a non-empty string of letters, digits, '.', '_' and '-'") }
        } else { err("", "missing 'name' (a string naming the sweep in the run database)") }
        if let d = root["description"] {
            if let s = d.stringValue { spec.description = s } else { err("description", "description = \(d.serialized()): expected a string") }
        }
        if let p = root["preset"] {
            if let s = p.stringValue, Preset.all.contains(where: { $0.name == s }) { spec.preset = s }
            else { err("preset", "preset = \(p.serialized()): must be one of \(Preset.all.map(\.name).joined(separator: ", "))\(p.stringValue.map { didYouMean($0, Preset.all.map(\.name), listIfNone: false) } ?? "")") }
        } else { err("", "missing 'preset' (tiny, small or paper)") }

        let defaults = (try? ExperimentConfig.defaults(preset: spec.preset)) ?? (try! ExperimentConfig.defaults(preset: "tiny"))
        let schema = KeySchema.of(defaults)
        let allPaths = schema.allPaths()

        /// Checks a dotted config path and a value for it; returns whether the path is known.
        @discardableResult
        func checkAssignment(_ path: String, _ value: JSON, specPath: String) -> Bool {
            let parts = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if parts.first == "preset" { err(specPath, "\(path) = \(value.serialized()): the preset is chosen by the top-level 'preset' key"); return false }
            var node = schema
            for (i, k) in parts.enumerated() {
                guard let c = node.child(k) else {
                    let here = parts[..<i].joined(separator: ".")
                    let candidates = i == 0 ? allPaths : node.keys.map { here + "." + $0 }
                    let attempted = (parts[..<i] + [k]).joined(separator: ".")
                    err(specPath, "\(path) = \(value.serialized()): unknown key '\(attempted)'\(didYouMean(attempted, candidates.isEmpty ? allPaths : candidates))")
                    return false
                }
                node = c
            }
            for m in node.check(value, path: path) { err(specPath, m) }
            return true
        }
        /// Checks the values of one axis; an unknown path is reported once, with its first value.
        func checkAxis(_ path: String, _ values: [JSON], specPath: String) {
            for (i, v) in values.enumerated() where !checkAssignment(path, v, specPath: "\(specPath)[\(i)]") { return }
        }

        if let b = root["base"] {
            if case .object(let kv) = b {
                for (k, v) in kv where k == "preset" { err("base.preset", "preset = \(v.serialized()): the preset is chosen by the top-level 'preset' key") }
                let filtered = JSON.object(kv.filter { $0.0 != "preset" })
                for m in schema.check(filtered, path: "") {
                    let p = String(m.prefix(while: { $0 != " " }))
                    err("base." + p, m)
                }
                spec.base = filtered
            } else { err("base", "base = \(b.serialized()): expected an object of ExperimentConfig overrides, got \(b.kindName)") }
        }
        if let g = root["grid"] {
            if case .object(let kv) = g {
                for (path, vals) in kv {
                    guard case .array(let a) = vals, !a.isEmpty else {
                        err("grid.\(path)", "\(path) = \(vals.serialized()): a grid axis needs a non-empty array of values"); continue
                    }
                    checkAxis(path, a, specPath: "grid.\(path)")
                    spec.grid.append((path, a))
                }
            } else { err("grid", "grid = \(g.serialized()): expected an object mapping dotted paths to arrays of values") }
        }
        if let z = root["zip"] {
            let groups: [JSON]
            if case .array(let a) = z { groups = a } else if case .object = z { groups = [z] } else {
                err("zip", "zip = \(z.serialized()): expected an array of objects mapping dotted paths to equally long arrays"); groups = []
            }
            for (gi, g) in groups.enumerated() {
                let sp = "zip[\(gi)]"
                guard case .object(let kv) = g, !kv.isEmpty else { err(sp, "\(g.serialized()): expected an object mapping dotted paths to equally long arrays"); continue }
                var group: [(String, [JSON])] = []
                for (path, vals) in kv {
                    guard case .array(let a) = vals, !a.isEmpty else { err("\(sp).\(path)", "\(path) = \(vals.serialized()): expected a non-empty array"); continue }
                    checkAxis(path, a, specPath: "\(sp).\(path)")
                    group.append((path, a))
                }
                if let n = group.first?.1.count, let bad = group.first(where: { $0.1.count != n }) {
                    err("\(sp).\(bad.0)", "\(bad.0) has \(bad.1.count) values but \(group[0].0) has \(n): zipped lists must be equally long")
                    continue
                }
                spec.zip.append(group)
            }
        }
        if let t = root["trials"] {
            if case .array(let a) = t, !a.isEmpty {
                for (i, entry) in a.enumerated() {
                    guard case .object(let kv) = entry else { err("trials[\(i)]", "\(entry.serialized()): expected an object of dotted path → value"); continue }
                    for (path, v) in kv { checkAssignment(path, v, specPath: "trials[\(i)].\(path)") }
                    spec.trials.append(kv)
                }
            } else { err("trials", "trials = \(t.serialized()): expected a non-empty array of objects") }
        }
        if let s = root["seeds"] {
            if case .array(let a) = s, !a.isEmpty {
                for (i, v) in a.enumerated() { checkAssignment("seed", v, specPath: "seeds[\(i)]") }
                let dup = Dictionary(grouping: a.map { $0.serialized() }, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
                if !dup.isEmpty { err("seeds", "seeds = \(s.serialized()): repeated seed \(dup.joined(separator: ", "))") }
                spec.seeds = a
            } else { err("seeds", "seeds = \(s.serialized()): expected a non-empty array of non-negative integers") }
        }
        if let e = root["execution"] {
            if case .object(let kv) = e {
                for (k, v) in kv {
                    guard executionKeys.contains(k) else { err("execution.\(k)", "\(k) = \(v.serialized()): unknown key\(didYouMean(k, executionKeys))"); continue }
                    if k == "slurm" { spec.slurm = SlurmSettings.parse(v, specPath: "execution.slurm", err: err); continue }
                    guard let n = v.intValue, n >= 1 else { err("execution.\(k)", "\(k) = \(v.serialized()): expected an integer ≥ 1"); continue }
                    if k == "checkpointEvery" { spec.checkpointEvery = n } else { spec.logEvery = n }
                }
            } else { err("execution", "execution = \(e.serialized()): expected an object") }
        }
        // A path swept by two axis kinds is ambiguous.
        var owners: [String: String] = [:]
        func own(_ path: String, _ by: String) {
            if let o = owners[path], o != by { err(by, "\(path) is swept by both \(o) and \(by); sweep each path in one place") }
            owners[path] = by
        }
        for (p, _) in spec.grid { own(p, "grid") }
        for (i, g) in spec.zip.enumerated() { for (p, _) in g { own(p, "zip[\(i)]") } }
        for t in spec.trials { for (p, _) in t { own(p, "trials") } }
        if spec.seeds != nil { own("seed", "seeds") }
        if !errors.isEmpty { throw SpecError(messages: errors) }
        return spec
    }

    /// The axis paths in order of first appearance (trials, grid, zip groups, seeds).
    public var axisPaths: [String] {
        var out: [String] = []
        func add(_ p: String) { if !out.contains(p) { out.append(p) } }
        for t in trials { for (p, _) in t { add(p) } }
        for (p, _) in grid { add(p) }
        for g in zip { for (p, _) in g { add(p) } }
        if seeds != nil { add("seed") }
        return out
    }

    /// How many trials the spec expands to, counted without expanding (nil when it overflows Int).
    public var trialCount: Int? {
        var n = max(1, trials.count)
        let factors = grid.map(\.1.count) + zip.map { $0.first?.1.count ?? 1 } + [seeds?.count ?? 1]
        for f in factors {
            let (p, o) = n.multipliedReportingOverflow(by: f)
            if o { return nil }
            n = p
        }
        return n
    }

    /// The spec line that set config path `path` (an axis of the trial, else `base`), for messages.
    func line(of path: String) -> Int? {
        if path == "seed" { return lines["seeds"] ?? lines["base.seed"] }
        var p = path
        while true {
            let keys = ["grid.\(p)"] + zip.indices.map { "zip[\($0)].\(p)" } + trials.indices.map { "trials[\($0)].\(p)" } + ["base.\(p)"]
            if let l = keys.lazy.compactMap({ self.lines[$0] }).first { return l }
            guard let dot = p.lastIndex(of: ".") else { return nil }
            p = String(p[..<dot])
        }
    }

    /// "2 trials × 3 (grid distill.method) × 5 (seeds)": how `trialCount` comes about.
    var countExpression: String {
        var parts = trials.isEmpty ? [] : ["\(trials.count) trials"]
        parts += grid.map { "\($0.1.count) (grid \($0.0))" }
        parts += zip.enumerated().map { "\($0.1.first?.1.count ?? 1) (zip[\($0.0)])" }
        if let seeds { parts.append("\(seeds.count) (seeds)") }
        return parts.isEmpty ? "1" : parts.joined(separator: " × ")
    }

    /// Expands the trials and resolves and validates each one's configuration; throws every problem.
    /// A spec of more than `maxTrials` trials is refused, with the count, before anything is expanded.
    public func expand(maxTrials: Int = SweepSpec.defaultMaxTrials) throws -> [ExpandedTrial] {
        guard let count = trialCount, count <= maxTrials else {
            throw SpecError(messages: ["\(file): the spec expands to \(trialCount.map { "\($0)" } ?? "more than \(Int.max)") trials (\(countExpression)), more than the limit of \(maxTrials); split it, or raise the limit with --max-trials N"])
        }
        var rows: [[(String, JSON)]] = trials.isEmpty ? [[]] : trials
        for (path, values) in grid { rows = rows.flatMap { r in values.map { r + [(path, $0)] } } }
        for group in zip {
            let n = group[0].1.count
            rows = rows.flatMap { r in (0..<n).map { i in r + group.map { ($0.0, $0.1[i]) } } }
        }
        if let seeds { rows = rows.flatMap { r in seeds.map { r + [("seed", $0)] } } }

        var errors: [String] = []
        let defaults = try ExperimentConfig.defaults(preset: preset)
        var base = try JSON.encode(defaults)
        // The evaluator is encoded only when used; its defaults must be here for `evaluator.*` overrides.
        base.set(["evaluator"], try JSON.encode(defaults.evaluator))
        base = JSON.merge(base, self.base)
        var out: [ExpandedTrial] = []
        var seen: [String: Int] = [:]
        var perTrialErrors: [(Int, String, [String])] = []
        // Trials differ from the base in a few paths: members of the configuration equal to the previous trial's are
        // neither decoded nor encoded again (the memos), the rest exactly as Foundation would (issue 29).
        let memo = JSONValueDecoder.Memo(), encoder = CanonicalEncoder()
        for (i, axes) in rows.enumerated() {
            var j = base
            for (p, v) in axes { j.set(p.split(separator: ".").map(String.init)[...], v) }
            let key = JSON.object(axes).serialized(sortedKeys: true)
            let summary = axes.isEmpty ? "(base)" : axes.map { "\($0.0)=\($0.1.stringValue ?? $0.1.serialized())" }.joined(separator: " ")
            if let first = seen[key] { errors.append("\(file): trial \(i) [\(summary)] repeats trial \(first): every trial must differ in its axis values"); continue }
            seen[key] = i
            let config: ExperimentConfig
            do { config = try j.decode(ExperimentConfig.self, memo: memo) } catch {
                perTrialErrors.append((i, summary, ["cannot decode the resolved configuration: \(describe(error))"])); continue
            }
            let problems = config.validationErrors()
            if !problems.isEmpty { perTrialErrors.append((i, summary, problems)); continue }
            out.append(ExpandedTrial(index: i, axes: axes, key: key, config: config, configJSON: encoder.encode(config)))
        }
        // A problem shared by every trial comes from the base: say it once.
        let all = perTrialErrors.count == rows.count && rows.count > 1
            ? Set(perTrialErrors.map { Set($0.2) }.reduce(Set(perTrialErrors.first?.2 ?? [])) { $0.intersection($1) }) : []
        // "file:line": the line that set the problem's configuration path (its axis, else base).
        func at(_ p: String) -> String { line(of: String(p.prefix(while: { $0 != " " }))).map { "\(file):\($0)" } ?? file }
        for p in perTrialErrors.first?.2 ?? [] where all.contains(p) { errors.append("\(at(p)): all \(rows.count) trials: \(p)") }
        for (i, s, ps) in perTrialErrors {
            for p in ps where !all.contains(p) { errors.append("\(at(p)): trial \(i) [\(s)]: \(p)") }
        }
        if !errors.isEmpty { throw SpecError(messages: errors) }
        return out
    }
}

func describe(_ e: Error) -> String {
    if let d = e as? DecodingError {
        switch d {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
            let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().drop(while: { $0 == "." })
            return "\(path): \(c.debugDescription)"
        @unknown default: return "\(d)"
        }
    }
    return "\(e)"
}
