import Foundation

/// Stage artifact files under `<root>/stages/` (`/files/stages/<identity>/<file>`): read-only, and only from inside
/// the root. Each path segment is percent-decoded on its own and must be a plain name — no "..", ".", empty name or
/// encoded "/" — and the resolved path (symbolic links followed) must still lie under `<root>/stages/`; anything else
/// is the same 404 as a missing file, so a request learns nothing about what lies outside.
struct Artifacts {
    var root: String

    func serve(_ rawSegments: [String]) throws -> DashboardResponse {
        let notFound = DashboardError.notFound("no such artifact file under the results root")
        var segments: [String] = []
        for raw in rawSegments {
            guard let s = raw.removingPercentEncoding, !s.isEmpty, s != ".", s != "..", !s.contains("/"), !s.contains("\0") else { throw notFound }
            segments.append(s)
        }
        guard segments.count >= 3, segments[0] == "stages" else { throw notFound }
        guard let base = realpath(root + "/stages"), let file = realpath(root + "/" + segments.joined(separator: "/")),
              file.hasPrefix(base + "/") else { throw notFound }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir), !isDir.boolValue,
              let data = FileManager.default.contents(atPath: file) else { throw notFound }
        return DashboardResponse(status: 200, contentType: Artifacts.contentType(file), body: data)
    }

    static func contentType(_ path: String) -> String {
        switch (path as NSString).pathExtension {
        case "json": return "application/json; charset=utf-8"
        case "png": return "image/png"
        case "svg": return "image/svg+xml"
        case "log", "jsonl", "txt", "md", "": return "text/plain; charset=utf-8"
        default: return "application/octet-stream"
        }
    }
}

/// The canonical absolute path of an existing file (nil when it does not exist).
func realpath(_ path: String) -> String? {
    guard let p = Foundation.realpath(path, nil) else { return nil }
    defer { free(p) }
    return String(cString: p)
}
