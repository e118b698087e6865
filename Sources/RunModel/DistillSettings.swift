import Foundation

// Everything a distillation stage's objective is made of, in one file: the terms (Eq. 2–9), the methods that sum
// them (Tables 1–3), the pixel queue's settings (§4.4) and the weights and temperatures (`DistillSettings`, with the
// paper's values in `DistillSettings.paper`). Adding a loss term touches this file, its function in
// Distill/Losses.swift and its case in `DistillObjective.evaluate` (docs/architecture.md).

/// One term of a distillation objective, with the name used in logs and errors.
public enum DistillTerm: String, CaseIterable, Sendable {
    /// L_PD, Eq. 2 (truncated-SNR MSE against x̃).
    case pd
    /// The classifier perceptual distance of the "PD+perceptual" baseline (not LPIPS).
    case perceptual
    /// L_CFD, Eq. 4.
    case cfd
    /// L_II_P2P, Eq. 6 (Table 3 ablation).
    case iiP2P = "ii_p2p"
    /// L_IS_P2P, Eq. 7.
    case isP2P = "is_p2p"
    /// L_M_P2P, Eq. 8–9.
    case mP2P = "m_p2p"
}

/// `distill.method`: the training objectives the harness can run (paper Tables 1–3).
public enum DistillMethod: String, CaseIterable, ConfigEnum {
    /// Progressive distillation: L_PD only.
    case pd = "pd"
    /// PD + perceptual baseline: L_PD + λ·L_perceptual.
    case pdPerceptual = "pd_perceptual"
    /// RCFD: L_CFD only.
    case rcfd = "rcfd"
    /// RDD (Eq. 10): L_CFD + α·L_IS_P2P + β·L_M_P2P.
    case rdd = "rdd"
    /// Table 3 ablations.
    case cfdII = "cfd+ii_p2p"
    case cfdIS = "cfd+is_p2p"
    case cfdM = "cfd+m_p2p"
    case cfdISM = "cfd+is_p2p+m_p2p"

    /// Parses a method name (surrounding spaces and case ignored); the error names the value and lists the valid ones.
    public init(parsing s: String) throws {
        guard let m = DistillMethod(rawValue: s.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw ConfigValueError(field: "distillation method", value: s, valid: Self.validNames)
        }
        self = m
    }

    /// The terms this method sums, in evaluation order.
    public var terms: [DistillTerm] {
        switch self {
        case .pd: return [.pd]
        case .pdPerceptual: return [.pd, .perceptual]
        case .rcfd: return [.cfd]
        case .rdd, .cfdISM: return [.cfd, .isP2P, .mP2P]
        case .cfdII: return [.cfd, .iiP2P]
        case .cfdIS: return [.cfd, .isP2P]
        case .cfdM: return [.cfd, .mP2P]
        }
    }

    /// Whether the method reads the classifier's features (every method but plain PD).
    public var needsClassifier: Bool { self != .pd }
}

/// `distill.queue.mode`: which reading of M_P2P's pixel queue (spec §4.4, discrepancies D1–D5).
public enum PixelQueueMode: String, CaseIterable, ConfigEnum {
    /// The official code: V fixed evenly spaced slots (D2), K columns per iteration of the `view(C, −1)`
    /// scramble of the NCHW teacher keys (D3, D4), pointer rule with the wrap-around write of the last
    /// K′ rows, push BEFORE the loss (D5). Default V = 4096 (D1), K = 128.
    case officialCode = "official-code"
    /// The paper's text: true teacher pixel embeddings (rows of the (B·A, C) map), K per image at random,
    /// V embeddings sampled at random every iteration, push AFTER the loss. Default V = 2048, K = 1.
    case paper = "paper"

    /// Parses "official-code" / "paper", with an error naming the bad value and the valid ones.
    public init(parsing s: String) throws {
        guard let m = PixelQueueMode(rawValue: s) else { throw ConfigValueError(field: "pixel queue mode", value: s, valid: Self.validNames) }
        self = m
    }

    /// Whether the teacher keys are enqueued before the loss of the same iteration (official code).
    public var pushesBeforeLoss: Bool { self == .officialCode }
}

/// The pixel queue of M_P2P (spec §4.4).
public struct QueueSettings: Codable, Equatable, Sendable {
    /// official-code (default) or paper.
    public var mode: PixelQueueMode
    /// N_q
    public var size: Int
    /// V
    public var contrastSize: Int
    /// K (per iteration in official-code mode, per image in paper mode).
    public var updateCount: Int

    public init(mode: PixelQueueMode, size: Int, contrastSize: Int, updateCount: Int) {
        self.mode = mode; self.size = size; self.contrastSize = contrastSize; self.updateCount = updateCount
    }
}

/// The distillation stages `from` → … → `to` (8 → 4 → 2 → 1 in Tables 1–3; 8 → 4 in Figs 6–9).
public struct DistillSettings: Codable, Equatable, Sendable {
    /// pd, pd_perceptual, rcfd, rdd, cfd+ii_p2p, cfd+is_p2p, cfd+m_p2p, cfd+is_p2p+m_p2p.
    public var method: DistillMethod
    /// Step count of the first teacher (the PD chain's last model; 8 in the paper).
    public var from: Int
    /// Step count of the last student.
    public var to: Int
    /// α: weight of IS_P2P (and of II_P2P in the Table 3 ablation), Eq. 10.
    public var alpha: Float
    /// β: weight of M_P2P (the official `factor`), Eq. 10.
    public var beta: Float
    /// τ_CFD per stage, in order (8→4, 4→2, 2→1: 0.9, 1.0, 0.85); the last value repeats if short.
    public var tauCFD: [Float]
    /// τ_IS: temperature of the IS_P2P (and II_P2P) relations, both sides, Eq. 6–7.
    public var tauIS: Float
    /// τ_c of M_P2P, Eq. 8 (the official `contrast_temperature`). The paper's τ_M is τ_c·τ_kd, so with τ_kd = 1
    /// Fig. 7's τ_M axis is this field (docs/losses.md).
    public var tauContrast: Float
    /// τ_kd of M_P2P, Eq. 9 (the official `contrast_kd_temperature`).
    public var tauKD: Float
    /// λ of the perceptual term of the `pd_perceptual` baseline.
    public var perceptualWeight: Float
    /// Add L_PD to CFD methods (the official `--logits`).
    public var includePD: Bool
    public var queue: QueueSettings
    public var batchSize: Int
    /// Steps per stage, in order; the last value repeats if short.
    public var steps: [Int]
    public var lr: Float
    /// The projection head's Adam (constant lr, no clipping; spec §2.5).
    public var headLR: Float
    /// Maximum global gradient norm of the U-Net's update.
    public var gradClip: Float
    /// Loss-term diagnostics interval (issue 11); 0 disables them.
    public var diagnosticsEvery: Int
    /// Samples per block of the blocked IS_P2P: bounds its scratch memory (2·blockSize·A·B·A floats; docs/losses.md).
    public var isP2PBlockSize: Int

    public init(method: DistillMethod, from: Int, to: Int, alpha: Float, beta: Float, tauCFD: [Float], tauIS: Float,
                tauContrast: Float, tauKD: Float, perceptualWeight: Float, includePD: Bool, queue: QueueSettings,
                batchSize: Int, steps: [Int], lr: Float, headLR: Float, gradClip: Float, diagnosticsEvery: Int,
                isP2PBlockSize: Int) {
        self.method = method; self.from = from; self.to = to; self.alpha = alpha; self.beta = beta
        self.tauCFD = tauCFD; self.tauIS = tauIS; self.tauContrast = tauContrast; self.tauKD = tauKD
        self.perceptualWeight = perceptualWeight; self.includePD = includePD; self.queue = queue
        self.batchSize = batchSize; self.steps = steps; self.lr = lr; self.headLR = headLR; self.gradClip = gradClip
        self.diagnosticsEvery = diagnosticsEvery; self.isP2PBlockSize = isP2PBlockSize
    }
}

extension DistillSettings {
    /// Index of the stage whose teacher has `teacherSteps` (0 for `from` → `from`/2).
    func stageIndex(teacherSteps t: Int) -> Int {
        var i = 0, s = from
        while s > t { s /= 2; i += 1 }
        return i
    }

    /// τ_CFD of the stage whose teacher has `teacherSteps` (the last listed value repeats).
    public func tauCFD(forTeacherSteps t: Int) -> Float { tauCFD[min(stageIndex(teacherSteps: t), tauCFD.count - 1)] }

    /// Training steps of the stage whose teacher has `teacherSteps` (the last listed value repeats).
    public func steps(forTeacherSteps t: Int) -> Int { steps[min(stageIndex(teacherSteps: t), steps.count - 1)] }

    /// These settings narrowed to the one stage `t` → `t`/2: what that stage's identity depends on. `from`, `to`,
    /// `tauCFD` and `steps` become this stage's; the objective reads `tauCFD[0]`.
    public func stage(teacherSteps t: Int) -> DistillSettings {
        var s = self
        s.from = t
        s.to = t / 2
        s.tauCFD = [tauCFD(forTeacherSteps: t)]
        s.steps = [steps(forTeacherSteps: t)]
        return s
    }

    /// The paper's CIFAR-10 objective (spec §4, equal to the official code's defaults): α = 1, β = 0.1, τ_CFD =
    /// 0.9 / 1.0 / 0.85 for 8→4 / 4→2 / 2→1, τ_IS = 1, τ_c = 0.1, τ_kd = 1, the official-code pixel queue with
    /// N_q = 20000, V = 4096, K = 128, batch 32 and 20k steps per stage. Presets scale from it; the losses and the
    /// objective have no defaults of their own.
    public static let paper = DistillSettings(
        method: .rdd, from: 8, to: 1, alpha: 1, beta: 0.1, tauCFD: [0.9, 1.0, 0.85], tauIS: 1, tauContrast: 0.1, tauKD: 1,
        perceptualWeight: 1, includePD: false, queue: QueueSettings(mode: .officialCode, size: 20000, contrastSize: 4096, updateCount: 128),
        batchSize: 32, steps: [20000, 20000, 20000], lr: 5e-5, headLR: 5e-5, gradClip: 1, diagnosticsEvery: 500, isP2PBlockSize: 4)
}
