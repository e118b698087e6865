import Foundation
import RunModel
#if canImport(Glibc)
import Glibc
#endif

/// How `rdd-sweep run` shows progress.
public enum DisplayMode: String, CaseIterable, Sendable {
    /// `tty` when stdout is a terminal, else `plain`.
    case auto
    /// One line per running stage, redrawn in place (bar, steps/s, ETA, current losses).
    case tty
    /// Event lines, and a progress line per running stage every 15 s (logs, CI, nohup).
    case plain
    /// Nothing (tests).
    case quiet
}

/// One running stage in the live display.
public struct ProgressRow {
    public var name: String
    public var shortID: String
    public var step: Int?
    public var total: Int?
    public var rate: Double?
    public var elapsed: Double
    public var metrics: [(String, Double)]
    public var attempt: Int
    /// Work after the counted steps (an evaluation's metrics): shown instead of the rate and ETA.
    public var phase: String? = nil

    /// "pd256 [1a2b3c4d5e] ███████░░░░░░  120/400  30%  12.3 steps/s  ETA 0:23  loss 0.1234"
    public func line(barWidth: Int = 20, maxWidth: Int = 160) -> String {
        var s = name.padding(toLength: max(name.count, 14), withPad: " ", startingAt: 0) + " [\(shortID)]"
        if let step, let total, total > 0 {
            let f = min(1, Double(step) / Double(total))
            let filled = Int((f * Double(barWidth)).rounded())
            s += " " + String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
            s += String(format: " %5d/%-5d %3.0f%%", step, total, f * 100)
            if let phase {
                s += "  " + phase + " (elapsed " + formatDuration(elapsed) + ")"
            } else if let rate, rate > 0 {
                s += String(format: "  %6.1f steps/s  ETA %@", rate, formatDuration(Double(total - step) / rate))
            }
        } else {
            s += "  running " + formatDuration(elapsed)
        }
        let shown = metrics.filter { SeriesName.isLoss($0.0) }.prefix(3)
        for (k, v) in shown { s += String(format: "  %@ %.4g", k, v) }
        if attempt > 1 { s += "  (attempt \(attempt))" }
        return s.count > maxWidth ? String(s.prefix(maxWidth - 1)) + "…" : s
    }
}

/// "0:23", "12:05", "3:04:10".
public func formatDuration(_ s: Double) -> String {
    guard s.isFinite, s >= 0 else { return "?" }
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}

/// The live progress display: events scroll above a block of status lines redrawn in place (TTY),
/// or plain lines (not a terminal).
final class ProgressDisplay {
    let mode: DisplayMode
    var drawn = 0
    var lastPlain = Date()
    var lastDraw = Date.distantPast

    init(mode: DisplayMode) {
        self.mode = mode == .auto ? (isatty(1) != 0 ? .tty : .plain) : mode
    }

    func event(_ s: String) {
        switch mode {
        case .quiet: return
        case .tty:
            clear()
            print(s)
            fflush(stdout)
        default:
            print(s)
            fflush(stdout)
        }
    }

    private func clear() {
        guard drawn > 0 else { return }
        var out = ""
        for _ in 0..<drawn { out += "\u{1B}[1A\u{1B}[2K" }
        print(out, terminator: "")
        drawn = 0
    }

    func render(_ rows: [ProgressRow]) {
        switch mode {
        case .quiet, .auto: return
        case .tty:
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.25 || rows.isEmpty else { return }
            lastDraw = now
            clear()
            var cols = 160
            var w = winsize()
            if ioctl(1, UInt(TIOCGWINSZ), &w) == 0, w.ws_col > 20 { cols = Int(w.ws_col) }
            for r in rows { print(r.line(maxWidth: cols - 1)) }
            drawn = rows.count
            fflush(stdout)
        case .plain:
            guard Date().timeIntervalSince(lastPlain) >= 15, !rows.isEmpty else { return }
            lastPlain = Date()
            for r in rows { print("  … " + r.line(barWidth: 0)) }
            fflush(stdout)
        }
    }
}
