import Foundation
import FlyingFox
import FlyingSocks

/// The dashboard on a socket (FlyingFox, an async HTTP/1.1 server on BSD sockets). `host` is an IP address literal:
/// 127.0.0.1 (the default: only this machine), ::1, or another address only when the caller asked for it.
public final class DashboardServer: @unchecked Sendable {
    public let dashboard: Dashboard
    public let host: String
    public let port: UInt16
    private let server: HTTPServer
    private var task: Task<Void, Error>?

    public init(root: String, host: String = "127.0.0.1", port: UInt16 = 0) throws {
        dashboard = Dashboard(root: root)
        self.host = host
        self.port = port
        let handler = Handler(dashboard: dashboard)
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            server = HTTPServer(address: try sockaddr_in.inet(ip4: host, port: port), timeout: 30, logger: .disabled, handler: handler)
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            server = HTTPServer(address: try sockaddr_in6.inet6(ip6: host, port: port), timeout: 30, logger: .disabled, handler: handler)
        } else {
            throw DashboardServerError("--host must be an IPv4 or IPv6 address such as 127.0.0.1 or ::1, got '\(host)'")
        }
    }

    /// Starts serving in the background and returns the address to open ("http://127.0.0.1:8080/"), with the port
    /// the system chose when it was 0. A port that is taken (or an address that is not this machine's) fails at once,
    /// naming the port: `run()` throws when it cannot bind, and that ends the wait (FlyingFox's `waitUntilListening`
    /// alone would wait out its timeout).
    public func start() async throws -> String {
        let server = self.server
        let failure = StartFailure()
        task = Task {
            do { try await server.run() } catch { failure.set(error); throw error }
        }
        let deadline = Date().addingTimeInterval(10)
        while await !server.isListening {
            if let e = failure.get() { throw cannotListen(e) }
            if Date() > deadline { task?.cancel(); throw cannotListen("not listening after 10 s") }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        guard let address = await server.listeningAddress else { throw DashboardServerError("the server is not listening") }
        switch address {
        case .ip4(_, let port): return "http://\(host):\(port)/"
        case .ip6(_, let port): return "http://[\(host)]:\(port)/"
        case .unix(let path): return "unix:\(path)"
        }
    }

    private func cannotListen(_ why: Any) -> DashboardServerError {
        if case .failed(_, let code, _)? = why as? SocketError, code == EADDRINUSE {
            return DashboardServerError("cannot listen on \(host) port \(port): the port is in use (another rdd-sweep serve? choose another with --port N, or --port 0 for a free one)")
        }
        let text = (why as? LocalizedError)?.errorDescription ?? "\(why)"
        return DashboardServerError("cannot listen on \(host) port \(port) (in use, or not an address of this machine): \(text)")
    }

    /// The error `run()` ended with, set by its task and read by `start()`.
    private final class StartFailure: @unchecked Sendable {
        private let lock = NSLock()
        private var error: Error?
        func set(_ e: Error) { lock.lock(); error = e; lock.unlock() }
        func get() -> Error? { lock.lock(); defer { lock.unlock() }; return error }
    }

    /// Closes the socket and ends open connections.
    public func stop() async {
        await server.stop(timeout: 1)
        task?.cancel()
    }

    struct Handler: HTTPHandler {
        let dashboard: Dashboard
        func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
            let r = dashboard.respond(method: request.method.rawValue, path: request.target.path(),
                                      query: formQuery(request.target.query()))
            var headers: HTTPHeaders = [.contentType: r.contentType, HTTPHeader("Cache-Control"): "no-store"]
            for (k, v) in r.headers { headers[HTTPHeader(k)] = v }
            return HTTPResponse(statusCode: HTTPStatusCode(r.status, phrase: phrase(r.status)), headers: headers,
                                body: request.method == .HEAD ? Data() : r.body)
        }

        func phrase(_ code: Int) -> String {
            [200: "OK", 204: "No Content", 302: "Found", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
             500: "Internal Server Error"][code] ?? "Status"
        }
    }
}

/// A raw query string decoded as an HTML form sends it: pairs split at "&" and "=", "+" is a space, then percent-decoding
/// (so "cfd%2Bii_p2p" is "cfd+ii_p2p" and "a+b" is "a b").
func formQuery(_ raw: String) -> [(String, String)] {
    raw.split(separator: "&").map { pair in
        let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        func decode(_ s: Substring) -> String {
            let spaced = s.replacingOccurrences(of: "+", with: " ")
            return spaced.removingPercentEncoding ?? spaced
        }
        return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
    }
}

public struct DashboardServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}
