import Foundation

// Markdown notebooks: prose, ```sh blocks whose `rdd-report …` lines produce the output kept between
// <!-- output:begin --> and <!-- output:end --> right after the block. Refreshing runs those lines in
// this process and rewrites the outputs; other commands in the blocks are left alone. Idempotent.

public let outputBegin = "<!-- output:begin -->"
public let outputEnd = "<!-- output:end -->"

/// Splits a shell line into words (single and double quotes, backslash escapes; no expansion).
public func shellWords(_ line: String) throws -> [String] {
    var words: [String] = [], cur = "", inWord = false
    var quote: Character?
    var escape = false
    for c in line {
        if escape { cur.append(c); escape = false; inWord = true; continue }
        if let q = quote {
            if c == q { quote = nil } else if c == "\\" && q == "\"" { escape = true } else { cur.append(c) }
            continue
        }
        switch c {
        case "\\": escape = true
        case "'", "\"": quote = c; inWord = true
        case " ", "\t":
            if inWord { words.append(cur); cur = ""; inWord = false }
        case "#" where !inWord: return words
        default: cur.append(c); inWord = true
        }
    }
    if quote != nil { throw ReportError("unterminated quote in: \(line)") }
    if inWord { words.append(cur) }
    return words
}

/// The `rdd-report` invocations of a block: lines whose command is `rdd-report` (or a path ending in
/// `/rdd-report`, or `swift run [options] rdd-report`), as the words after it; one per logical line (a
/// trailing backslash continues a line). Other lines (`swift build --product rdd-report`) are left alone.
public func reportCommands(inBlock lines: [String]) throws -> [[String]] {
    var logical: [String] = []
    var pending = ""
    for l in lines {
        let t = l.trimmingCharacters(in: .whitespaces)
        if t.hasSuffix("\\") { pending += String(t.dropLast()) + " "; continue }
        logical.append(pending + t)
        pending = ""
    }
    if !pending.isEmpty { logical.append(pending) }
    var out: [[String]] = []
    for l in logical {
        let w = try shellWords(l)
        guard let cmd = w.first else { continue }
        if cmd == "rdd-report" || cmd.hasSuffix("/rdd-report") {
            out.append(Array(w.dropFirst()))
        } else if w.count > 2, cmd == "swift", w[1] == "run", let i = w.firstIndex(of: "rdd-report") {
            out.append(Array(w[(i + 1)...]))
        }
    }
    return out
}

/// Rewrites a notebook's outputs: after every ```sh block with rdd-report commands, one blank line and
/// the markers around `execute`'s output (the outputs of the block's commands, separated by blank lines).
public func refreshNotebook(_ text: String, execute: ([String]) throws -> String) throws -> String {
    let lines = text.components(separatedBy: "\n")
    var out: [String] = []
    var i = 0
    while i < lines.count {
        let line = lines[i]
        out.append(line)
        i += 1
        let fence = line.trimmingCharacters(in: .whitespaces)
        guard fence == "```sh" || fence == "```bash" || fence == "```shell" else { continue }
        var block: [String] = []
        while i < lines.count, lines[i].trimmingCharacters(in: .whitespaces) != "```" { block.append(lines[i]); out.append(lines[i]); i += 1 }
        guard i < lines.count else { break }
        out.append(lines[i])           // closing fence
        i += 1
        let commands = try reportCommands(inBlock: block)
        if commands.isEmpty { continue }
        // Drop an existing output (blank lines, then begin … end).
        var j = i
        while j < lines.count, lines[j].trimmingCharacters(in: .whitespaces).isEmpty { j += 1 }
        if j < lines.count, lines[j].trimmingCharacters(in: .whitespaces) == outputBegin {
            var k = j + 1
            while k < lines.count, lines[k].trimmingCharacters(in: .whitespaces) != outputEnd { k += 1 }
            guard k < lines.count else { throw ReportError("notebook: '\(outputBegin)' after line \(j + 1) has no '\(outputEnd)'") }
            i = k + 1
        }
        var produced = try commands.map { try execute($0).trimmingCharacters(in: .newlines) }.joined(separator: "\n\n")
        if !produced.isEmpty { produced += "\n" }
        out.append("")
        out.append(outputBegin)
        out.append(contentsOf: produced.components(separatedBy: "\n").dropLast())
        out.append(outputEnd)
    }
    return out.joined(separator: "\n")
}

/// The relative path from directory `from` to `to` (both relative to the current directory or absolute).
public func relativePath(from: String, to: String) -> String {
    let cwd = FileManager.default.currentDirectoryPath
    func parts(_ p: String) -> [String] {
        let abs = p.hasPrefix("/") ? p : cwd + "/" + p
        var out: [String] = []
        for c in abs.split(separator: "/") where c != "." && !c.isEmpty {
            if c == ".." { if !out.isEmpty { out.removeLast() } } else { out.append(String(c)) }
        }
        return out
    }
    let a = parts(from), b = parts(to)
    var n = 0
    while n < a.count, n < b.count, a[n] == b[n] { n += 1 }
    return (Array(repeating: "..", count: a.count - n) + b[n...]).joined(separator: "/")
}

/// Refreshes the notebook at `path` in place: each rdd-report line is parsed by the command line's own
/// definition (`ReportCommandLine`), writes its files as on the command line (--out, --out-dir; without --out
/// the figures go next to the notebook), and its Markdown, with links made relative to the notebook, becomes
/// the block's output. Returns whether the file changed.
@discardableResult
public func runNotebook(path: String, loader: ExportLoader = .fileOnly) throws -> Bool {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ReportError("notebook: cannot read '\(path)'")
    }
    let nbDir = (path as NSString).deletingLastPathComponent
    let here = nbDir.isEmpty ? "." : nbDir
    let refreshed = try refreshNotebook(text) { words in
        let invocation = try ReportCommandLine.invocation(words)
        if case .notebook = invocation { throw ReportError("notebook: a notebook cannot run `rdd-report notebook`") }
        let written = try invocation.writeAsCommandLine(loader: loader).directory
        let prefix = relativePath(from: here, to: written ?? here)
        let o = try invocation.render(links: LinkStyle(stem: invocation.fileStem, prefix: prefix.isEmpty ? "" : prefix + "/"), loader: loader)
        if written == nil {
            for f in o.files { try writeIfChanged(f.data, to: (nbDir.isEmpty ? "" : nbDir + "/") + f.name) }
        }
        return o.markdown
    }
    if refreshed == text { return false }
    try writeIfChanged(Data(refreshed.utf8), to: path)
    return true
}
