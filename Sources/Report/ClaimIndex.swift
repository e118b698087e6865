import Foundation

// The claims at a glance of `rdd-report all` (index.md): every verdict line of every report in one table — the
// claim, its verdict, the evidence behind it and the paper's own difference — so a reader (and README's results
// section) sees what holds without opening eleven reports. Built from the verdict lines the reports print
// (Verdict.line), which is the one format every table and figure uses:
//
//     CLAIM: VERDICT[ (why)], difference[ (label)] MEAN ± HALF UNIT (`metric`) (CI kind), n = …, p = …[, Holm-adjusted p = … over m comparisons][; companions …][; MDE …][; paper: …]
//
// or, for a claim without its own comparison, "CLAIM: VERDICT (…)".

/// One verdict line split into the columns of the claims table.
struct ClaimLine: Equatable {
    var claim: String
    /// The verdict with its reason, e.g. "inconclusive (CI includes 0)".
    var verdict: String
    var outcome: Outcome
    /// "−0.16 ± 0.27 FID (`fid_evaluator`) (95% CI of the paired difference over seeds), n = 3, p = 0.119, Holm-adjusted
    /// p = 0.776 over 8 comparisons"; "" for a claim without its own comparison.
    var evidence: String
    /// The paper's own difference ("−0.76"), "" when the line has none.
    var paper: String

    /// nil when `line` (without the list's "- ") is not a verdict line: no ": " followed by an outcome word.
    init?(_ line: String) {
        // The first ": " that starts an outcome word ends the claim (claims hold no such pair; "not reproduced"
        // is tried before "reproduced", which it contains).
        let words = Outcome.allCases.sorted { $0.rawValue.count > $1.rawValue.count }
        var found: (String.Index, Outcome)?
        var search = line.startIndex
        while found == nil, let r = line.range(of: ": ", range: search..<line.endIndex) {
            if let o = words.first(where: { line[r.upperBound...].hasPrefix($0.rawValue) }) { found = (r.lowerBound, o) }
            search = r.upperBound
        }
        guard let (end, outcome) = found else { return nil }
        self.outcome = outcome
        claim = String(line[..<end])
        var rest = String(line[line.index(end, offsetBy: 2)...])
        paper = ""
        if let r = rest.range(of: "; paper: ", options: .backwards) {
            paper = String(rest[r.upperBound...])
            rest = String(rest[..<r.lowerBound])
        }
        if let r = rest.range(of: ", difference") {
            verdict = String(rest[..<r.lowerBound])
            // The evidence ends where the companions, the MDE or the paper begin: the first ";" outside parentheses
            // (a comparison's label, e.g. Fig. 6's "(peak at batch 64 − batch 8; mean peak MiB by batch: …)", may hold one).
            let after = rest[r.upperBound...].drop { $0 == " " }
            var depth = 0, end = after.endIndex
            for i in after.indices {
                switch after[i] {
                case "(": depth += 1
                case ")": depth -= 1
                case ";" where depth == 0: end = i
                default: break
                }
                if end != after.endIndex { break }
            }
            evidence = String(after[..<end])
        } else {
            verdict = rest
            evidence = ""
        }
    }
}

/// The verdict lines of a report's Markdown (list items "- CLAIM: OUTCOME…"), in order.
func verdictClaims(_ markdown: String) -> [ClaimLine] {
    markdown.split(separator: "\n").filter { $0.hasPrefix("- ") }.compactMap { ClaimLine(String($0.dropFirst(2))) }
}

/// The claims table for index.md: one row per verdict line of each report (report link, claim, verdict, evidence,
/// paper), in report order; nil when no report has a verdict line.
func claimsSection(_ reports: [(stem: String, link: String, claims: [ClaimLine])]) -> String? {
    let rows = reports.flatMap { r in
        r.claims.map { c in ["[\(r.stem)](\(r.link))", c.claim, "**\(c.verdict)**", c.evidence.isEmpty ? "–" : c.evidence, c.paper.isEmpty ? "–" : c.paper] }
    }
    guard !rows.isEmpty else { return nil }
    var out = "## Claims at a glance\n\n"
    out += "Every verdict line of the reports above, in their order: the claim, its verdict (from the Holm-adjusted p of the report's "
    out += "family; docs/reports.md, \"Verdict rule\"), the difference it rests on with its CI, n and p, and the paper's own difference. "
    out += "Companion metrics, minimum detectable effects and the convergence flags are in each report.\n\n"
    return out + markdownTable(["Report", "Claim", "Verdict", "Evidence", "Paper"], rows) + "\n"
}
