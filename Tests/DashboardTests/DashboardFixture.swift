import Foundation
import XCTest
import Sweep
import Pipeline
import Dashboard
#if canImport(Glibc)
import Glibc
#endif

/// A results root with a tiny sweep run by the real scheduler and workers (two trials, pd and rdd, a few steps per
/// stage), whose first run was made to fail once (RDD_DIE_AFTER_STEPS, no retries) so a trial has a failed attempt.
/// Made once per test process and shared by the dashboard tests, which only read it.
enum DashboardFixture {
    static let sweepName = "dash"

    /// The spec: classifier, teacher, 3 PD halvings (1024 → 128), one distillation stage (128 → 64) with loss-term
    /// diagnostics, one evaluation of 32 samples. `teacherSteps` makes the teacher long enough to watch it run.
    static func spec(name: String = sweepName, teacherSteps: Int = 6) -> String {
        """
        {"name": "\(name)", "preset": "tiny",
         "base": {"teacher": {"steps": \(teacherSteps), "batchSize": 8, "warmup": 1},
                  "pd": {"stepsPerHalving": 3, "batchSize": 8, "downTo": 128},
                  "classifier": {"epochs": 1, "batchSize": 256},
                  "distill": {"from": 128, "to": 64, "steps": [4], "batchSize": 8, "diagnosticsEvery": 2,
                              "queue": {"size": 64, "contrastSize": 32, "updateCount": 8}},
                  "evaluation": {"samples": 32, "batchSize": 32, "studentSteps": [64]}},
         "grid": {"distill.method": ["pd", "rdd"]},
         "seeds": [0],
         "execution": {"checkpointEvery": 2, "logEvery": 1}}
        """
    }

    /// The `rdd-sweep` executable built next to the test bundle.
    static var executable: String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<3 {
            let p = dir.appendingPathComponent("rdd-sweep").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "rdd-dashboard-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    private static let made: Result<String, Error> = Result {
        guard let exe = executable else {
            throw NSError(domain: "DashboardFixture", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "rdd-sweep executable not found next to the test bundle; build it with the same scratch path"])
        }
        let root = tempDir("fixture")
        atexit { if let r = try? DashboardFixture.made.get() { try? FileManager.default.removeItem(atPath: r) } }
        let plan = try SweepPlan.make(try SweepSpec.parse(spec(), file: "dash.json"))
        var o = RunOptions(root: root, workerExecutable: exe)
        o.display = .quiet
        o.jobs = 2
        o.cores = 2
        // First run: every worker dies after its first step and nothing is retried → failed attempts are recorded.
        var failing = o
        failing.retries = 0
        failing.environment = ["RDD_DIE_AFTER_STEPS": "1"]
        _ = try Scheduler(plan: plan, options: failing).run()
        // Second run: the failed stages are retried and every trial completes.
        o.retryFailed = true
        let s = try Scheduler(plan: plan, options: o).run()
        guard s.trialsCompleted == 2 else {
            throw NSError(domain: "DashboardFixture", code: 2, userInfo: [NSLocalizedDescriptionKey: "fixture sweep completed \(s.trialsCompleted) of 2 trials"])
        }
        return root
    }

    /// The fixture root (the sweep runs on first use).
    static func root() throws -> String { try made.get() }
}

extension XCTestCase {
    /// A dashboard server over `root` on a port of 127.0.0.1 the system chose (port 0), stopped when the test ends.
    func startDashboard(_ root: String) throws -> (server: DashboardServer, url: String, port: Int) {
        let server = try DashboardServer(root: root, host: "127.0.0.1", port: 0)
        final class Box: @unchecked Sendable { var url = ""; var error: Error? }
        let box = Box(), started = DispatchSemaphore(value: 0)
        Task { do { box.url = try await server.start() } catch { box.error = error }; started.signal() }
        started.wait()
        if let e = box.error { throw e }
        addTeardownBlock {
            let stopped = DispatchSemaphore(value: 0)
            Task { await server.stop(); stopped.signal() }
            stopped.wait()
        }
        XCTAssertTrue(box.url.hasPrefix("http://127.0.0.1:") && box.url.hasSuffix("/"), box.url)
        let port = Int(box.url.dropFirst("http://127.0.0.1:".count).dropLast()) ?? 0
        XCTAssertGreaterThan(port, 0, "port 0 asks the system for a free port; the URL names it")
        return (server, box.url, port)
    }
}

/// A plain HTTP/1.1 GET over a socket to 127.0.0.1: the path is sent exactly as given (no client-side
/// normalisation of "..", unlike URLSession or curl), which the traversal tests need.
struct RawHTTP {
    var status: Int
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }

    static func request(port: Int, _ method: String = "GET", _ path: String) throws -> RawHTTP {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "RawHTTP", code: 1) }
        defer { close(fd) }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let c = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard c == 0 else { throw NSError(domain: "RawHTTP", code: 2, userInfo: [NSLocalizedDescriptionKey: "connect to port \(port) failed"]) }
        let req = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        _ = req.withCString { send(fd, $0, strlen($0), 0) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            data.append(buf, count: n)
        }
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw NSError(domain: "RawHTTP", code: 3, userInfo: [NSLocalizedDescriptionKey: "no HTTP header in \(data.count) bytes"]) }
        let head = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var headers: [String: String] = [:]
        for l in head.dropFirst() { if let i = l.firstIndex(of: ":") { headers[l[..<i].lowercased()] = l[l.index(after: i)...].trimmingCharacters(in: .whitespaces) } }
        var body = Data(data[split.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" { body = dechunk(body) }
        return RawHTTP(status: status, headers: headers, body: body)
    }

    static func dechunk(_ d: Data) -> Data {
        var out = Data(), i = d.startIndex
        while let nl = d[i...].range(of: Data("\r\n".utf8)) {
            guard let n = Int(String(decoding: d[i..<nl.lowerBound], as: UTF8.self), radix: 16), n > 0 else { break }
            out.append(d[nl.upperBound..<(nl.upperBound + n)])
            i = nl.upperBound + n + 2
        }
        return out
    }
}
