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
    @Option(help: "Trials (the last ones) not finished: distillation queued, evaluations queued; two of them running.") var unfinished = 0
    @Option(help: "Timed requests per page.") var repeats = 10
    @Option(help: "Directory for the synthetic root (kept when given; a temporary one is removed).") var dir: String?

    func run() throws {
        let root = dir ?? NSTemporaryDirectory() + "rdd-dashboard-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        let dbPath = RunDatabase.path(root: root)
        if !FileManager.default.fileExists(atPath: dbPath) {
            let t0 = Date()
            try SyntheticRunDatabase.make(path: dbPath, trials: trials, metricRows: metricRows, unfinished: unfinished)
            print(String(format: "synthetic database: %d trials, %d metric rows, %.0f MB, built in %.1f s", trials, metricRows,
                         Double((try? FileManager.default.attributesOfItem(atPath: dbPath)[.size] as? Int) ?? 0) / 1e6, Date().timeIntervalSince(t0)))
        }
        let d = Dashboard(root: root)
        // The pages, and the trials page sorted, filtered and far down (what the headers, the filter box and the pager ask).
        let pages: [(String, [(String, String)])] = [
            ("/sweeps/synthetic/trials", []), ("/sweeps/synthetic/trials", [("sort", "student@1/fid"), ("dir", "desc")]),
            ("/sweeps/synthetic/trials", [("sort", "distill.alpha"), ("filter", "rdd")]), ("/sweeps/synthetic/trials", [("page", "100")]),
            ("/", []), ("/sweeps/synthetic/live", []), ("/sweeps/synthetic/live", [("fragment", "1")]), ("/sweeps/synthetic/trials/1234", []),
            ("/api/sweeps/synthetic/trials", [("page", "1")]), ("/api/sweeps/synthetic/trials", []),
        ]
        for (path, query) in pages {
            var ms: [Double] = [], cpu: [Double] = []
            var bytes = 0, status = 0
            for _ in 0..<repeats {
                let t = Date(), c = processCPUSeconds()
                let r = d.respond(method: "GET", path: path, query: query)
                ms.append(Date().timeIntervalSince(t) * 1000)
                cpu.append((processCPUSeconds() - c) * 1000)
                bytes = r.body.count; status = r.status
            }
            ms.sort(); cpu.sort()
            let shown = path + (query.isEmpty ? "" : "?" + query.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))
            print(String(format: "in process  %-58@ %d, %7.3f MB, median %7.1f ms (CPU %7.1f ms), max %7.1f ms (%d requests)", shown as NSString, status,
                         Double(bytes) / 1e6, ms[ms.count / 2], cpu[cpu.count / 2], ms.last!, repeats))
        }
        // Through the socket, as a browser gets it.
        let server = try DashboardServer(root: root, host: "127.0.0.1", port: 0)
        let sem = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var url = ""; var error: Error? }
        let box = Box()
        Task { do { box.url = try await server.start() } catch { box.error = error }; sem.signal() }
        sem.wait()
        if let e = box.error { throw e }
        for path in ["sweeps/synthetic/trials", "", "sweeps/synthetic/live?fragment=1"] {
            var ms: [Double] = [], cpu: [Double] = []
            var bytes = 0
            for _ in 0..<repeats {
                let t = Date(), c = processCPUSeconds()
                let (data, status) = try fetch(box.url + path)
                ms.append(Date().timeIntervalSince(t) * 1000)
                cpu.append((processCPUSeconds() - c) * 1000)
                precondition(status == 200 && data.count > 0, "\(path): status \(status)")
                bytes = data.count
            }
            ms.sort(); cpu.sort()
            print(String(format: "over HTTP   %-58@ %7.3f MB, median %7.1f ms (CPU %7.1f ms, client and server), max %7.1f ms (%d requests)",
                         ("/" + path) as NSString, Double(bytes) / 1e6, ms[ms.count / 2], cpu[cpu.count / 2], ms.last!, repeats))
        }
        Task { await server.stop(); sem.signal() }
        sem.wait()
    }

    /// CPU seconds (user + system) of this process so far: what a request cost, less affected than wall time by
    /// the other processes of a shared machine.
    func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
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
