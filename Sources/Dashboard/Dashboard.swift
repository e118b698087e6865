import Foundation
import Pipeline
import Sweep

/// A sweep revision as Sweep's run database records it (Report has its own `SweepRecord`, the export's).
typealias SweepRow = Sweep.SweepRecord

/// What one request gets: status, content type, body.
public struct DashboardResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data
    public var headers: [(String, String)] = []

    public init(status: Int, contentType: String, body: Data, headers: [(String, String)] = []) {
        self.status = status; self.contentType = contentType; self.body = body; self.headers = headers
    }
    static func html(_ s: String, status: Int = 200) -> DashboardResponse {
        DashboardResponse(status: status, contentType: "text/html; charset=utf-8", body: Data(s.utf8))
    }
    static func json(_ j: JSON, status: Int = 200) -> DashboardResponse {
        DashboardResponse(status: status, contentType: "application/json; charset=utf-8", body: Data((j.serialized() + "\n").utf8))
    }
    static func redirect(_ to: String) -> DashboardResponse {
        DashboardResponse(status: 302, contentType: "text/plain; charset=utf-8", body: Data("see \(to)\n".utf8), headers: [("Location", to)])
    }
}

/// A request the dashboard cannot answer, with the status code and the sentence to show.
struct DashboardError: Error {
    var status: Int
    var title: String
    var message: String
    static func notFound(_ message: String) -> DashboardError { DashboardError(status: 404, title: "Not found", message: message) }
}

/// The read-only dashboard over one results root (docs/dashboard.md): every page and API answer is a function of the
/// run database and the stage directories at the time of the request, read through Sweep's `Reports` (read-only
/// connections; the scheduler of another process may be writing) and drawn with Report's code. Nothing here writes.
public final class Dashboard: @unchecked Sendable {
    public let root: String
    let reports: Reports
    let reportCache = ReportCache()

    public init(root: String) {
        reports = Reports(root: root)
        self.root = reports.root
    }

    var databasePath: String { RunDatabase.path(root: root) }

    /// Answers `method path?query` (path percent-encoded as sent; query decoded).
    public func respond(method: String, path: String, query: [(String, String)]) -> DashboardResponse {
        let api = path == "/api" || path.hasPrefix("/api/")
        guard method == "GET" || method == "HEAD" else {
            return failure(DashboardError(status: 405, title: "Read-only", message: "the dashboard only answers GET and HEAD; nothing can be changed through it"), api: api)
        }
        // Segments decoded one by one: an encoded "/" ("%2F") stays inside its segment, so it can never add a level.
        let raw = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let parts = raw.map { $0.removingPercentEncoding ?? $0 }
        do {
            if parts.first == "files" { return try Artifacts(root: root).serve(Array(raw.dropFirst())) }
            if parts.isEmpty || parts.first == "api" || parts.first == "sweeps" || parts.first == "reports" {
                if let missing = try databaseProblem() {
                    if parts.isEmpty { return .html(missing) }
                    throw DashboardError.notFound("no run database under \(root) yet")
                }
            }
            switch parts.first {
            case nil: return .html(try sweepsPage())
            case "sweeps": return try sweepRoute(Array(parts.dropFirst()), query: query)
            case "reports": return try reportRoute(Array(parts.dropFirst()), trailingSlash: path.hasSuffix("/"))
            case "api": return try apiRoute(Array(parts.dropFirst()), query: query)
            case "favicon.ico": return DashboardResponse(status: 204, contentType: "image/x-icon", body: Data())
            default: throw DashboardError.notFound("there is no page \(path); the sweeps are listed at /")
            }
        } catch let e as DashboardError {
            return failure(e, api: api)
        } catch let e as TrialsQueryError {
            return failure(DashboardError(status: 400, title: "Bad request", message: e.description), api: api)
        } catch {
            return failure(DashboardError(status: 500, title: "Cannot read the results root", message: "\(error)"), api: api)
        }
    }

    /// Nil when the database can be read; else the page that says why (no database yet: how to start a sweep).
    /// A database of another schema version throws: RunDatabase refuses it with the reason.
    func databaseProblem() throws -> String? {
        if FileManager.default.fileExists(atPath: databasePath) {
            do { _ = try RunDatabase(readerAt: databasePath) } catch {
                throw DashboardError(status: 500, title: "Run database refused", message: "\(error)")
            }
            return nil
        }
        return page("No sweeps yet", """
            <p>There is no run database at <code>\(h(databasePath))</code>: nothing has run under this root.</p>
            <p>Start a sweep in another terminal, for example</p>
            <pre>rdd-sweep run experiments/tiny/ablation.json --root \(h(root))</pre>
            <p>and reload this page: it lists the sweep as soon as the scheduler has created the database.</p>
            """)
    }

    func failure(_ e: DashboardError, api: Bool) -> DashboardResponse {
        if api { return .json(.object([("error", .string(e.message)), ("status", .int(Int64(e.status)))]), status: e.status) }
        return .html(page(e.title, "<p class=\"error\">\(h(e.message))</p><p><a href=\"/\">All sweeps</a></p>"), status: e.status)
    }

    // MARK: routes

    func sweepRoute(_ p: [String], query: [(String, String)]) throws -> DashboardResponse {
        guard let name = p.first else { return .redirect("/") }
        let sweep = try resolve(name)
        let fragment = query.contains { $0.0 == "fragment" }
        switch Array(p.dropFirst()) {
        case []: return .redirect("/sweeps/\(pathSegment(name))/live")
        case ["live"]: return .html(try livePage(sweep, fragment: fragment))
        case ["trials"]: return .html(try trialsPage(sweep, query: query, fragment: fragment))
        case ["curves"]: return .html(try curvesPage(sweep, query: query))
        case let q where q.count == 2 && q[0] == "trials":
            guard let i = Int(q[1]), let d = try reports.trialDetail(sweep: sweep.label, index: i) else {
                throw DashboardError.notFound("sweep \(sweep.label) has no trial '\(q[1])'; its trials are listed at /sweeps/\(name)/trials")
            }
            return .html(try trialPage(d))
        case let q where q.count == 3 && q[0] == "trials" && q[2] == "terms":
            guard let i = Int(q[1]), let d = try reports.trialDetail(sweep: sweep.label, index: i) else {
                throw DashboardError.notFound("sweep \(sweep.label) has no trial '\(q[1])'")
            }
            return .html(try termsHTML(sweep: sweep.label, key: d.key))
        default: throw DashboardError.notFound("there is no page \(p.joined(separator: "/")) of sweep \(sweep.label)")
        }
    }

    /// The sweep `ref` (NAME: latest revision, or NAME@REV), or a 404 naming the sweeps there are.
    func resolve(_ ref: String) throws -> SweepRow {
        let all = try reports.sweepRecords()
        let parts = ref.split(separator: "@", maxSplits: 1).map(String.init)
        let found = parts.count == 2 ? all.first { $0.name == parts[0] && "\($0.revision)" == parts[1] } : all.last { $0.name == ref }
        guard let found else {
            let names = Array(Set(all.map(\.name))).sorted()
            throw DashboardError.notFound("no sweep '\(ref)' in \(databasePath); sweeps: \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        return found
    }
}
