import Foundation
import Pipeline
#if canImport(Glibc)
import Glibc
#endif

/// Low-level process helpers: spawning workers with posix_spawn (exact exit status and signal from
/// waitpid), advisory file locks, /proc sampling, small atomic writes.
enum Proc {
    /// Spawns `path` with `arguments` (argv[0] included), environment `env`, stdin from /dev/null,
    /// stdout and stderr appended to `logPath`. Returns the pid.
    static func spawn(path: String, arguments: [String], env: [String: String], logPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        // Own process group: a Ctrl-C on the terminal reaches the scheduler only, which then stops
        // its workers in order (their stages become resumable, not failed). SIGPIPE back to default.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
        guard rc == 0 else { throw PipelineError("cannot start worker '\(path)': \(String(cString: strerror(rc)))") }
        return pid
    }

    enum Exit: Equatable {
        case exited(Int32)
        case signaled(Int32)
        var description: String {
            switch self {
            case .exited(let c): return "exit status \(c)"
            case .signaled(let s): return "killed by signal \(s) (\(signalName(s)))"
            }
        }
    }

    /// Non-blocking reap: nil while the child runs.
    static func reap(_ pid: pid_t) -> Exit? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == 0 { return nil }
        if r < 0 { return .exited(-1) }   // not our child any more (already reaped)
        if status & 0x7f == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(status & 0x7f)
    }

    static func signalName(_ s: Int32) -> String {
        switch s {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGILL: return "SIGILL"
        case SIGTRAP: return "SIGTRAP"
        case SIGFPE: return "SIGFPE"
        case SIGUSR1: return "SIGUSR1"
        case SIGUSR2: return "SIGUSR2"
        default: return "signal \(s)"
        }
    }

    /// VmHWM (peak resident set) of a live process in KiB, from /proc/<pid>/status.
    static func peakRSSKiB(_ pid: pid_t) -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }

    static func mtime(_ path: String) -> Double? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) * 1e-9
    }

    static func inode(_ path: String) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// Writes a small file by rename (no fsync: progress and heartbeat files are advisory).
    static func quickWrite(_ text: String, to path: String) {
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        rename(tmp, path)
    }

    /// The last `n` lines of `text` (what a failed attempt keeps of its worker's output).
    static func lastLines(_ text: String, _ n: Int) -> String {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let body = lines.last == "" ? lines.dropLast() : lines[...]
        return body.suffix(n).joined(separator: "\n")
    }

    /// The line that says why a worker failed: the Swift runtime's "Fatal error: …" (a trap), else its
    /// "Program crashed: …", else the worker's own "stage failed: …", else the last line that is not
    /// backtrace noise ("Backtrace took 1.01s", frame lines, blank).
    static func failureLine(_ text: String) -> String? {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for marker in ["Fatal error:", "Program crashed:", "rdd-sweep worker: stage failed:"] {
            if let l = lines.last(where: { $0.contains(marker) }) { return l }
        }
        let noise = ["Backtrace took", "rdd-sweep worker pid", "Thread ", "at /", "💣", "Press space", "Registers:", "Images (", "0x", "==="]
        return lines.last { l in !noise.contains { l.hasPrefix($0) } && l.range(of: "^[0-9]+ +(0x|\\[)", options: .regularExpression) == nil }
    }

    /// The last `maxBytes` of a file, from `offset` on.
    static func tail(_ path: String, from offset: Int = 0, maxBytes: Int = 2000) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? h.close() }
        let size = fileSize(path) ?? 0
        let start = max(offset, size - maxBytes)
        guard start < size else { return "" }
        h.seek(toFileOffset: UInt64(start))
        let d = h.readDataToEndOfFile()
        return String(decoding: d, as: UTF8.self)
    }
}

/// An exclusive advisory lock on a file (flock), held while the object lives.
final class FileLock {
    let fd: Int32
    let path: String
    private init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// Takes the lock without waiting; nil when another process holds it.
    static func tryLock(_ path: String, exclusive: Bool = true) -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        if flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 { close(fd); return nil }
        return FileLock(fd: fd, path: path)
    }

    /// Whether some process holds the lock (tested with a shared lock that is released at once).
    static func isHeld(_ path: String) -> Bool {
        guard FileManager.default.fileExists(atPath: path) else { return false }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) != 0 { return true }
        flock(fd, LOCK_UN)
        return false
    }

    /// What the holder wrote with `writeOwner` (its pid), or "?".
    static func owner(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
    }

    func writeOwner(_ text: String) {
        ftruncate(fd, 0)
        _ = text.utf8CString.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count - 1, 0) }
    }

    deinit { flock(fd, LOCK_UN); close(fd) }
}
