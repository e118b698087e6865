import Foundation
import Ink
import Report
import Sweep

// Every rdd-report table and figure as HTML: the Markdown and figure files of `rdd-report all` (Report's
// `produceReport`, from the RunExport that Sweep's builder makes of the database), rendered by Ink.

/// The RunExport of the database and the files of `rdd-report all`, rebuilt when the database changes (its size or
/// modification time, or its write-ahead log's): a sweep that is running refreshes them on the next request.
final class ReportCache: @unchecked Sendable {
    private let lock = NSLock()
    private var signature = ""
    private var export: RunExport?
    private var files: [String: Data]?

    static func signature(_ dbPath: String) -> String {
        [dbPath, dbPath + "-wal"].map { p in
            let a = try? FileManager.default.attributesOfItem(atPath: p)
            return "\((a?[.size] as? NSNumber)?.intValue ?? -1):\((a?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }.joined(separator: "|")
    }

    private func current(_ dbPath: String) {
        let s = ReportCache.signature(dbPath)
        if s != signature { signature = s; export = nil; files = nil }
    }

    func export(_ d: Dashboard) throws -> RunExport {
        lock.lock(); defer { lock.unlock() }
        current(d.databasePath)
        if let export { return export }
        let e = try d.reports.runExport()
        export = e
        return e
    }

    /// "index.md", "table1.md", "table1.svg", … → bytes.
    func files(_ d: Dashboard) throws -> [String: Data] {
        let ex = try export(d)
        lock.lock(); defer { lock.unlock() }
        if let files { return files }
        var r = ReportRequest(kind: .all)
        r.resultsRoot = d.root
        let out = try produceReport(.all, ReportData(ex), request: r, links: LinkStyle(stem: "index", prefix: ""))
        var f = Dictionary(out.files.map { ($0.name, $0.data) }, uniquingKeysWith: { a, _ in a })
        f["index.md"] = Data(out.markdown.utf8)
        files = f
        return f
    }
}

extension Dashboard {
    func reportRoute(_ p: [String], trailingSlash: Bool) throws -> DashboardResponse {
        if p.isEmpty && !trailingSlash { return .redirect("/reports/") }
        let name = p.first ?? "index.md"
        guard p.count <= 1 else { throw DashboardError.notFound("there is no report \(p.joined(separator: "/"))") }
        let files = try reportCache.files(self)
        guard let data = files[name] else {
            throw DashboardError.notFound("there is no report file '\(name)'; the reports are listed at /reports/")
        }
        switch (name as NSString).pathExtension {
        case "md":
            let md = String(decoding: data, as: UTF8.self)
            let title = md.split(separator: "\n").first { $0.hasPrefix("## ") || $0.hasPrefix("# ") }.map { $0.drop { $0 == "#" || $0 == " " } }.map(String.init) ?? name
            var crumbs = [("reports", "/reports/")]
            if name != "index.md" { crumbs.append((String(name.dropLast(3)), "/reports/" + name)) }
            let note = "<p class=\"note\">Made by the code of <code>rdd-report all</code> from this root's run database (every sweep's latest revision), as the committed reports are.</p>"
            return .html(page(title, crumbs: crumbs, note + "<div class=\"report\">" + markdownHTML(md) + "</div>"))
        case "svg": return DashboardResponse(status: 200, contentType: "image/svg+xml", body: data)
        case "png": return DashboardResponse(status: 200, contentType: "image/png", body: data)
        default: return DashboardResponse(status: 200, contentType: "text/plain; charset=utf-8", body: data)
        }
    }

    /// Report's loss-term diagnostics of one trial (the `terms` report with `--trial sweep/key`), its figure inline.
    func termsHTML(sweep label: String, key: String) throws -> String {
        // The trial alone: a ReportData of the whole export costs a TrialView per trial of the root.
        let export = try reportCache.export(self)
        let data = ReportData(RunExport(formatVersion: export.formatVersion, sweeps: export.sweeps,
                                        trials: export.trials.filter { $0.sweep == label && $0.key == key }))
        guard !data.trials.isEmpty else {
            return "<p class=\"muted\">Only the latest revision of each sweep is in the report export.</p>"
        }
        let (md, files) = try termsReport(data, trials: ["\(label)/\(key)"], links: LinkStyle(stem: "terms-trial"))
        var html = markdownHTML(md)
        if let svg = files.first(where: { $0.name == "terms-trial.svg" }), let img = html.range(of: "<img src=\"terms-trial.svg\"") {
            let end = html[img.upperBound...].firstIndex(of: ">").map { html.index(after: $0) } ?? img.upperBound
            html.replaceSubrange(img.lowerBound..<end, with: inlineSVG(svg.data))
        }
        return html
    }
}

/// Markdown → HTML (Ink: tables, links, images and the reports' inline anchors).
func markdownHTML(_ md: String) -> String { MarkdownParser().html(from: md) }

/// An SVG file's text for embedding in a page (without its XML declaration).
func inlineSVG(_ data: Data) -> String {
    let s = String(decoding: data, as: UTF8.self)
    if s.hasPrefix("<?xml"), let nl = s.firstIndex(of: "\n") { return String(s[s.index(after: nl)...]) }
    return s
}
