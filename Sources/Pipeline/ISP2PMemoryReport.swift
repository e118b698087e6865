import Foundation
import Tensor
import Distill
#if canImport(Glibc)
import Glibc
#endif

/// Peak-memory comparison of the direct and the blocked IS_P2P (forward + backward), for the
/// memory table of docs/losses.md.
///
/// Two numbers per form and batch size:
/// - "counted": the bytes of the intermediate buffers each implementation allocates (Distill's
///   `isP2PCountedBytes`, which gives the formulas), all alive at the peak;
/// - "measured": the rise of the process's peak resident set (VmHWM in /proc/self/status) during the
///   call, after freeing cached heap memory (malloc_trim) and resetting the peak (writing 5 to
///   /proc/self/clear_refs). Linux only; "n/a" elsewhere or when the reset is refused.
/// Also the wall time of forward + backward and the relative difference of the two losses. A measurement
/// (it reads /proc and the clock), so it lives here and not in the math module (docs/architecture.md, "Rules").
public func isP2PMemoryReport(batchSizes: [Int] = [8, 32, 128], pixels: Int = 16, channels: Int = 64,
                              blockSize: Int = 1, seed: UInt64 = 0) -> String {
    let side = Int(Double(pixels).squareRoot())
    let (h, w) = side * side == pixels ? (side, side) : (1, pixels)
    var lines = [
        "IS_P2P peak memory, forward + backward, A = \(pixels) (\(h)×\(w)), C = \(channels), blockSize = \(blockSize), \(Threads.count) thread(s)",
        "",
        "| B | direct counted | direct measured | blocked counted | blocked measured | direct time | blocked time | rel. loss diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    func mb(_ x: Double) -> String { String(format: "%.2f MB", x / 1e6) }
    func mbOpt(_ x: Int?) -> String { x.map { mb(Double($0)) } ?? "n/a" }
    for r in isP2PMemoryRows(batchSizes: batchSizes, pixels: pixels, channels: channels, blockSize: blockSize, seed: seed) {
        lines.append("| \(r.batchSize) | \(mb(r.directCounted)) | \(mbOpt(r.directMeasured)) | \(mb(r.blockedCounted)) | \(mbOpt(r.blockedMeasured)) | "
                     + String(format: "%.3f s | %.3f s | %.1e |", r.directSeconds, r.blockedSeconds, r.relativeLossDifference))
    }
    return lines.joined(separator: "\n")
}

/// One row of `isP2PMemoryReport`: bytes counted by `isP2PCountedBytes` and measured peak-RSS rises (nil
/// where the peak cannot be reset), for the direct and the blocked IS_P2P at one batch size.
public struct ISP2PMemoryRow: Sendable {
    public let batchSize: Int
    public let directCounted: Double, blockedCounted: Double
    public let directMeasured: Int?, blockedMeasured: Int?
    public let directSeconds: Double, blockedSeconds: Double
    public let relativeLossDifference: Double
}

/// The rows of `isP2PMemoryReport` (same arguments), as numbers.
public func isP2PMemoryRows(batchSizes: [Int] = [8, 32, 128], pixels: Int = 16, channels: Int = 64,
                            blockSize: Int = 1, seed: UInt64 = 0) -> [ISP2PMemoryRow] {
    let side = Int(Double(pixels).squareRoot())
    let (h, w) = side * side == pixels ? (side, side) : (1, pixels)
    return batchSizes.map { b in
        var rng = RNG(seed: seed &+ UInt64(b))
        let t = Tensor.uniform([b, h, w, channels], 0, 1, rng: &rng)
        let s = Tensor.uniform([b, h, w, channels], 0, 1, rng: &rng, requiresGrad: true)
        let counted = isP2PCountedBytes(batchSize: b, pixels: pixels, channels: channels, blockSize: blockSize)
        func run(_ f: () -> Tensor) -> (loss: Float, peak: Int?, seconds: Double) {
            s.grad = nil
            let base = resetPeakResident()
            let start = DispatchTime.now().uptimeNanoseconds
            let loss = f()
            loss.backward()
            let secs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let peak = base.flatMap { b0 in peakResidentKB().map { max(0, $0 - b0) * 1024 } }
            let v = loss.item
            s.grad = nil
            return (v, peak, secs)
        }
        let blocked = run { isP2PLoss(teacher: t, student: s, tau: 1, blockSize: blockSize) }
        let direct = run { isP2PLossDirect(teacher: t, student: s, tau: 1) }
        let rel = abs(Double(blocked.loss) - Double(direct.loss)) / max(abs(Double(direct.loss)), 1e-30)
        return ISP2PMemoryRow(batchSize: b, directCounted: counted.direct, blockedCounted: counted.blocked,
                              directMeasured: direct.peak, blockedMeasured: blocked.peak,
                              directSeconds: direct.seconds, blockedSeconds: blocked.seconds, relativeLossDifference: rel)
    }
}

/// Current VmHWM in kB after freeing cached heap memory and resetting the peak to the current
/// resident set; nil if the reset or the read is not possible.
func resetPeakResident() -> Int? {
    #if canImport(Glibc)
    // malloc_trim is glibc-specific and not in the Glibc module map: look it up at run time.
    if let sym = dlsym(nil, "malloc_trim") {
        typealias Trim = @convention(c) (Int) -> Int32
        _ = unsafeBitCast(sym, to: Trim.self)(0)
    }
    #endif
    guard let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return nil }
    defer { try? h.close() }
    do { try h.write(contentsOf: Data("5".utf8)) } catch { return nil }
    return peakResidentKB()
}

/// VmHWM (peak resident set) of this process in kB, from /proc/self/status.
func peakResidentKB() -> Int? {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }
    return nil
}
