import Foundation

// Fixed, locale-free formatting: the same export gives byte-identical reports.

/// `x` with `decimals` digits after the point; never "-0.00"; "nan"/"inf" spelled out.
public func fixed(_ x: Double, _ decimals: Int) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    let s = String(format: "%.\(decimals)f", x)
    if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { return String(s.dropFirst()) }
    return s
}

/// `x` with an explicit sign ("+0.41", "−0.41" with a true minus sign).
public func signed(_ x: Double, _ decimals: Int) -> String {
    let s = fixed(x, decimals)
    if s.hasPrefix("-") { return "−" + s.dropFirst() }
    return (s == fixed(0, decimals) ? "" : "+") + s
}

/// A short, stable rendering of a swept value (trailing zeros trimmed: 0.50 → "0.5", 2048.0 → "2048").
public func compact(_ x: Double) -> String {
    if x == x.rounded(), abs(x) < 1e12 { return String(Int(x)) }
    var s = fixed(x, 6)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

/// A GitHub-style Markdown table; `align` per column: "l", "r" or "c".
public func markdownTable(_ header: [String], _ rows: [[String]], align: [String]? = nil) -> String {
    let a = align ?? header.map { _ in "l" }
    func esc(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ") }
    var out = "| " + header.map(esc).joined(separator: " | ") + " |\n"
    out += "|" + a.map { $0 == "r" ? "---:" : ($0 == "c" ? ":---:" : "---") }.joined(separator: "|") + "|\n"
    for r in rows { out += "| " + r.map(esc).joined(separator: " | ") + " |\n" }
    return out
}

/// An HTML anchor id from free text: lower case, [a-z0-9-] only.
public func anchorID(_ s: String) -> String {
    var out = ""
    var dash = false
    for c in s.lowercased() {
        if c.isASCII, c.isLetter || c.isNumber { out.append(c); dash = false }
        else if !dash, !out.isEmpty { out.append("-"); dash = true }
    }
    while out.hasSuffix("-") { out.removeLast() }
    return out
}

/// Bytes as MiB with one decimal.
public func mebibytes(_ bytes: Double) -> String { fixed(bytes / 1_048_576, 1) + " MiB" }
