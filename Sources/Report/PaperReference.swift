import Foundation
import RunModel

/// The paper's published numbers (results/paper-reference/paper-tables.json, which a test compares
/// with these values): Tables 1–3 of "Relational Diffusion Distillation for Efficient Image
/// Generation" (ACM MM 2024) and the optima stated in the text for Figs 6–9.
public enum PaperReference {
    /// One published row: method at a step count, IS and FID (nil where the paper gives none).
    public struct Row: Equatable {
        public var steps: Int
        public var method: String
        public var inceptionScore: Double?
        public var fid: Double
    }

    /// Table 1, CIFAR-10 unconditional.
    public static let table1: [Row] = [
        Row(steps: 1, method: "PD", inceptionScore: 7.88, fid: 15.06), Row(steps: 1, method: "PD+LPIPS", inceptionScore: 8.51, fid: 8.95),
        Row(steps: 1, method: "RCFD", inceptionScore: 8.87, fid: 8.92), Row(steps: 1, method: "RDD", inceptionScore: 8.95, fid: 8.16),
        Row(steps: 2, method: "PD", inceptionScore: 8.70, fid: 7.42), Row(steps: 2, method: "PD+LPIPS", inceptionScore: 8.90, fid: 5.70),
        Row(steps: 2, method: "RCFD", inceptionScore: 9.19, fid: 5.07), Row(steps: 2, method: "RDD", inceptionScore: 9.17, fid: 4.78),
        Row(steps: 4, method: "PD", inceptionScore: 9.04, fid: 4.83), Row(steps: 4, method: "PD+LPIPS", inceptionScore: 9.11, fid: 4.45),
        Row(steps: 4, method: "RCFD", inceptionScore: 9.34, fid: 3.80), Row(steps: 4, method: "RDD", inceptionScore: 9.35, fid: 3.73),
        Row(steps: 8, method: "PD", inceptionScore: 9.14, fid: 4.14), Row(steps: 8, method: "DDIM", inceptionScore: 8.14, fid: 20.97),
        Row(steps: 10, method: "PNDM", inceptionScore: nil, fid: 7.05),
        Row(steps: 12, method: "DPM-Solver", inceptionScore: nil, fid: 4.65),
        Row(steps: 1024, method: "DDIM", inceptionScore: 9.21, fid: 3.78),
    ]

    /// Table 2, ImageNet 64×64 class-conditional.
    public static let table2: [Row] = [
        Row(steps: 1, method: "PD", inceptionScore: 18.87, fid: 16.88), Row(steps: 1, method: "PD+LPIPS", inceptionScore: 19.63, fid: 14.59),
        Row(steps: 1, method: "RCFD", inceptionScore: 22.88, fid: 13.44), Row(steps: 1, method: "RDD", inceptionScore: 23.12, fid: 11.97),
        Row(steps: 2, method: "PD", inceptionScore: 19.94, fid: 12.81), Row(steps: 2, method: "PD+LPIPS", inceptionScore: 20.49, fid: 11.23),
        Row(steps: 2, method: "RCFD", inceptionScore: 23.20, fid: 9.54), Row(steps: 2, method: "RDD", inceptionScore: 23.23, fid: 8.90),
        Row(steps: 4, method: "PD", inceptionScore: 21.09, fid: 9.44), Row(steps: 4, method: "PD+LPIPS", inceptionScore: 21.13, fid: 9.46),
        Row(steps: 4, method: "RCFD", inceptionScore: 22.63, fid: 8.08), Row(steps: 4, method: "RDD", inceptionScore: 22.81, fid: 7.92),
        Row(steps: 8, method: "PD", inceptionScore: 21.39, fid: 8.80), Row(steps: 8, method: "DDIM", inceptionScore: 19.35, fid: 20.72),
        Row(steps: 128, method: "DDIM", inceptionScore: 21.02, fid: 8.95),
        Row(steps: 1024, method: "DDIM", inceptionScore: 21.65, fid: 8.46),
    ]

    /// Table 3, CIFAR-10 ablation: FID of the 1-step student per loss configuration.
    public static let table3: [(terms: [String], fid: Double)] = [
        (["PD"], 15.06), (["CFD"], 8.92), (["CFD", "II_P2P"], 8.45), (["CFD", "IS_P2P"], 8.35),
        (["CFD", "M_P2P"], 8.47), (["CFD", "IS_P2P", "M_P2P"], 8.16),
    ]

    /// RCFD's 4-step CIFAR-10 FID: the reference line of Figs 7 and 9.
    public static let rcfd4StepFID = 3.80

    /// Optima the text states for the sweeps (the per-point data is not published).
    public static let figureOptima: [String: String] = [
        "distill.batchSize": "FID improves with batch size; memory grows steeply",
        "distill.tauIS": "0.7 and 0.9",
        "distill.tauContrast": "0.4",
        "distill.queue.size": "20000",
        "distill.queue.contrastSize": "2048",
        "distill.alpha": "0.8",
        "distill.beta": "0.3",
    ]

    /// The paper's symbol of each key it sweeps (Figs. 6–9): axis names in the figures and `rdd-report sweep`.
    public static let axisSymbols: [String: String] = [
        "distill.batchSize": "batch size",
        "distill.tauIS": "τ_IS",
        "distill.tauContrast": "τ_M",
        "distill.queue.size": "N_q",
        "distill.queue.contrastSize": "V",
        "distill.alpha": "α",
        "distill.beta": "β",
    ]

    /// The same optima as numbers, marked on the figures' plots (../shared/reference/paper-tables.json,
    /// `figure_optima_stated_in_text`); Fig. 6 states a trend, no value.
    public static let figureOptimumValues: [String: [Double]] = [
        "distill.tauIS": [0.7, 0.9],
        "distill.tauContrast": [0.4],
        "distill.queue.size": [20000],
        "distill.queue.contrastSize": [2048],
        "distill.alpha": [0.8],
        "distill.beta": [0.3],
    ]

    /// The paper's row for a method name of ours ("pd_perceptual" → "PD+LPIPS") at a step count.
    public static func row(_ table: [Row], method: String, steps: Int) -> Row? {
        table.first { $0.method == method && $0.steps == steps }
    }

    /// The paper's number beside one evaluation of ours: the row of Table 1 (Table 2 when `conditional`) for the
    /// sampled model at its step count — FID for an FID metric, IS for `classifier_score` or `score_evaluator` (our
    /// stand-ins for the Inception Score) — else, for an unconditional 1-step student of a loss combination ("cfd+ii_p2p"), Table 3's
    /// FID. Nil where the paper has no such number.
    public static func value(model: String, steps: Int, metric: String, conditional: Bool) -> Double? {
        let isFID = metric.hasPrefix("fid")
        guard isFID || metric == "classifier_score" || metric == "score_evaluator" else { return nil }
        if let r = row(conditional ? table2 : table1, method: paperName(model), steps: steps) { return isFID ? r.fid : r.inceptionScore }
        guard isFID, !conditional, steps == 1 else { return nil }
        let terms = model.split(separator: "+").map { termName(String($0)) }
        return table3.first { $0.terms == terms }?.fid
    }

    /// The paper's name of one of our methods or baselines.
    public static func paperName(_ ours: String) -> String {
        switch ours {
        case "pd": return "PD"
        case "pd_perceptual": return "PD+LPIPS"
        case "rcfd": return "RCFD"
        case "rdd", "cfd+is_p2p+m_p2p": return "RDD"
        default: return SamplerKind(rawValue: ours)?.displayName ?? ours   // the samplers' names: Diffusion's registry
        }
    }
}
