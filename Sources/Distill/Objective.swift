import Foundation
import Tensor
import Models
import RunModel

/// What one evaluation of the objective sees. Supply what the method's terms need:
/// - pd: `studentImage` x̂_S, `teacherImage` x̃ (B, H, W, 3) and `gridIndices` i₀;
/// - cfd: the pooled vectors f^T, f^S (B, C);
/// - ii/is/m_p2p: the feature maps F^T, F^S (B, H, W, C);
/// - perceptual: `teacherFeatures`/`studentFeatures` (lists of maps), defaulting to [F^T]/[F^S];
/// - m_p2p optionally `enqueueKeys` (teacher maps of the gathered batch, see `mP2PLoss`).
/// Teacher tensors come from D(x̃) computed without gradients, student ones from D(x̂_S).
public struct DistillInputs {
    public var teacherMap: Tensor?
    public var teacherPooled: Tensor?
    public var studentMap: Tensor?
    public var studentPooled: Tensor?
    public var studentImage: Tensor?
    public var teacherImage: Tensor?
    public var gridIndices: [Int]?
    public var teacherFeatures: [Tensor]?
    public var studentFeatures: [Tensor]?
    public var enqueueKeys: Tensor?

    public init(teacherMap: Tensor? = nil, teacherPooled: Tensor? = nil, studentMap: Tensor? = nil, studentPooled: Tensor? = nil,
                studentImage: Tensor? = nil, teacherImage: Tensor? = nil, gridIndices: [Int]? = nil,
                teacherFeatures: [Tensor]? = nil, studentFeatures: [Tensor]? = nil, enqueueKeys: Tensor? = nil) {
        self.teacherMap = teacherMap; self.teacherPooled = teacherPooled
        self.studentMap = studentMap; self.studentPooled = studentPooled
        self.studentImage = studentImage; self.teacherImage = teacherImage; self.gridIndices = gridIndices
        self.teacherFeatures = teacherFeatures; self.studentFeatures = studentFeatures; self.enqueueKeys = enqueueKeys
    }

    /// From the classifier's outputs on x̃ (teacher) and x̂_S (student).
    public init(teacher: ClassifierOutput, student: ClassifierOutput, studentImage: Tensor? = nil, teacherImage: Tensor? = nil,
                gridIndices: [Int]? = nil, enqueueKeys: Tensor? = nil) {
        self.init(teacherMap: teacher.featureMap, teacherPooled: teacher.pooled, studentMap: student.featureMap,
                  studentPooled: student.pooled, studentImage: studentImage, teacherImage: teacherImage,
                  gridIndices: gridIndices, enqueueKeys: enqueueKeys)
    }
}

/// The result of one evaluation: each term's unweighted value, its weight, and the weighted total
/// (back-propagate `total`; log `values`).
public struct DistillLossValues {
    /// (term, unweighted value as a scalar tensor, weight), in evaluation order.
    public let terms: [(term: DistillTerm, value: Tensor, weight: Float)]
    /// Σ weight · value.
    public let total: Tensor
    /// M_P2P's relation logits (P^T/τ_kd, P^S/τ_kd), each (B·A, V), when m_p2p was evaluated: read by the
    /// loss-term diagnostics for the relation entropy (no gradient attached).
    public var mP2PRelations: (teacher: Tensor, student: Tensor)?

    public init(terms: [(term: DistillTerm, value: Tensor, weight: Float)], total: Tensor) {
        self.terms = terms
        self.total = total
    }

    /// Builds the weighted total Σ w·L from the terms, in their order (the one place the objective's total
    /// is summed: `DistillObjective.evaluate` uses it too).
    public init(terms: [(term: DistillTerm, value: Tensor, weight: Float)]) {
        var total: Tensor?
        for (_, v, w) in terms { let t = w == 1 ? v : v.scaled(w); total = total.map { $0 + t } ?? t }
        self.init(terms: terms, total: total ?? Tensor(scalar: 0))
    }

    public func value(_ t: DistillTerm) -> Tensor? { terms.first { $0.term == t }?.value }
    /// Plain numbers for logs: term name → unweighted value, plus "total".
    public var scalars: [String: Float] {
        var d = Dictionary(uniqueKeysWithValues: terms.map { ($0.term.rawValue, $0.value.item) })
        d["total"] = total.item
        return d
    }
}

/// A distillation objective: the method's terms, their weights and temperatures, all read from one
/// `DistillSettings` (RunModel) — the objective has no defaults of its own, so a setting cannot be dropped on
/// its way here (`DistillSettings.paper` holds the paper's values).
///
/// Total = Σ_terms weight·L_term (Eq. 10 for RDD) with weights: pd 1, perceptual λ = `perceptualWeight`, cfd 1,
/// is_p2p and ii_p2p α, m_p2p β. τ_CFD is the stage's (`settings.tauCFD[0]` of settings narrowed to one stage
/// with `DistillSettings.stage(teacherSteps:)`; of the first stage otherwise).
public struct DistillObjective {
    public var settings: DistillSettings
    /// Per-layer perceptual channel weights (nil: all 1).
    public var perceptualChannelWeights: [[Float]]? = nil

    public init(_ settings: DistillSettings) { self.settings = settings }

    /// The paper's objective (`DistillSettings.paper`) with another method: for tests and one-off tools.
    public init(method: DistillMethod) {
        var s = DistillSettings.paper
        s.method = method
        self.init(s)
    }

    /// Parses the method name (see `DistillMethod(parsing:)`).
    public init(method name: String) throws { self.init(method: try DistillMethod(parsing: name)) }

    // The settings by the paper's names (read and written through `settings`, which is the only storage).
    public var method: DistillMethod { settings.method }
    /// α (weight of IS_P2P, and of II_P2P in the ablation).
    public var alpha: Float { get { settings.alpha } set { settings.alpha = newValue } }
    /// β (weight of M_P2P; the official `factor = 0.1`).
    public var beta: Float { get { settings.beta } set { settings.beta = newValue } }
    /// τ of CFD (teacher only), this stage's.
    public var tauCFD: Float { get { settings.tauCFD[0] } set { settings.tauCFD = [newValue] } }
    /// τ of IS_P2P and II_P2P (both sides).
    public var tauIS: Float { get { settings.tauIS } set { settings.tauIS = newValue } }
    /// τ_c of M_P2P (the official `contrast_temperature`).
    public var tauContrast: Float { get { settings.tauContrast } set { settings.tauContrast = newValue } }
    /// τ_kd of M_P2P (the official `contrast_kd_temperature`).
    public var tauKD: Float { get { settings.tauKD } set { settings.tauKD = newValue } }
    /// λ of the perceptual term in `pd_perceptual`.
    public var perceptualWeight: Float { get { settings.perceptualWeight } set { settings.perceptualWeight = newValue } }
    /// Also add L_PD to CFD-based methods (the official `--logits` flag; off by default, spec §4.5).
    public var includePD: Bool { get { settings.includePD } set { settings.includePD = newValue } }
    /// Samples per block of the blocked IS_P2P.
    public var isP2PBlockSize: Int { get { settings.isP2PBlockSize } set { settings.isP2PBlockSize = newValue } }

    /// The terms evaluated, in order.
    public var terms: [DistillTerm] {
        includePD && !method.terms.contains(.pd) ? [.pd] + method.terms : method.terms
    }

    /// The weight of a term in the total.
    public func weight(_ t: DistillTerm) -> Float {
        switch t {
        case .pd: return 1
        case .perceptual: return perceptualWeight
        case .cfd: return 1
        case .iiP2P, .isP2P: return alpha
        case .mP2P: return beta
        }
    }

    /// Evaluates every term and the weighted total. `head` and `queue` are needed by m_p2p (the queue
    /// is pushed as a side effect, before or after the loss according to its mode). Throws
    /// `DistillError.missingInput` for an absent input and `DistillError.nonFinite` naming the first
    /// term (or "total") whose value is NaN or infinite.
    public func evaluate(_ x: DistillInputs, head: ProjectionHead? = nil, queue: PixelQueue? = nil) throws -> DistillLossValues {
        func need<T>(_ v: T?, _ term: DistillTerm, _ what: String) throws -> T {
            guard let v else { throw DistillError.missingInput(term: term.rawValue, what: what) }
            return v
        }
        var out: [(term: DistillTerm, value: Tensor, weight: Float)] = []
        var relations: (teacher: Tensor, student: Tensor)?
        for t in terms {
            let v: Tensor
            switch t {
            case .pd:
                v = pdMSELoss(studentPrediction: try need(x.studentImage, t, "the student prediction x̂_S"),
                              target: try need(x.teacherImage, t, "the teacher target x̃"),
                              gridIndices: try need(x.gridIndices, t, "the grid indices i₀"))
            case .perceptual:
                let tf = try need(x.teacherFeatures ?? x.teacherMap.map { [$0] }, t, "teacher feature maps")
                let sf = try need(x.studentFeatures ?? x.studentMap.map { [$0] }, t, "student feature maps")
                v = classifierPerceptualLoss(teacherFeatures: tf, studentFeatures: sf, weights: perceptualChannelWeights)
            case .cfd:
                v = cfdLoss(teacherPooled: try need(x.teacherPooled, t, "the teacher pooled vector f^T"),
                            studentPooled: try need(x.studentPooled, t, "the student pooled vector f^S"), tau: tauCFD)
            case .iiP2P:
                v = iiP2PLoss(teacher: try need(x.teacherMap, t, "the teacher map F^T"),
                              student: try need(x.studentMap, t, "the student map F^S"), tau: tauIS)
            case .isP2P:
                v = isP2PLoss(teacher: try need(x.teacherMap, t, "the teacher map F^T"),
                              student: try need(x.studentMap, t, "the student map F^S"),
                              tau: tauIS, blockSize: isP2PBlockSize)
            case .mP2P:
                v = mP2PLoss(teacher: try need(x.teacherMap, t, "the teacher map F^T"),
                             student: try need(x.studentMap, t, "the student map F^S"),
                             head: try need(head, t, "a projection head"), queue: try need(queue, t, "a pixel queue"),
                             tauContrast: tauContrast, tauKD: tauKD, factor: 1, enqueueKeys: x.enqueueKeys,
                             observe: { relations = ($0, $1) })
            }
            let value = v.item
            if !value.isFinite { throw DistillError.nonFinite(term: t.rawValue, value: value) }
            out.append((t, v, weight(t)))
        }
        var values = DistillLossValues(terms: out)
        if !values.total.item.isFinite { throw DistillError.nonFinite(term: "total", value: values.total.item) }
        values.mP2PRelations = relations
        return values
    }
}
