/// One measured value with everything needed to label it honestly (spec §5, issue 6 §4): what an
/// evaluation stage writes to `result.json` (Pipeline's `EvaluationResult.metrics`), and the measured part
/// of every row of a run export (Report's `EvaluationRecord`, which adds the stage, model and artifacts).
///
/// Defined here, below both Pipeline and Report, so that the two share one type; the JSON field names are
/// those of `result.json` (`name`, …).
public struct MetricResult: Codable, Equatable, Sendable {
    /// "fid_classifier", "classifier_score", "classifier_score_std", "kid_classifier", ...
    public var name: String
    public var value: Double
    /// e.g. "FID (classifier features: DenseNet-BC pooled f, N=256, vs digits test set)".
    public var label: String
    public var featureNetwork: String
    public var samples: Int
    public var reference: String
    /// The sampler that produced the images ("ddim", "dpm_solver", "pndm"; Diffusion's `SamplerKind`).
    public var sampler: String
    public var steps: Int
    /// Network evaluations per image.
    public var nfe: Int

    public init(name: String, value: Double, label: String, featureNetwork: String, samples: Int, reference: String,
                sampler: String, steps: Int, nfe: Int) {
        self.name = name; self.value = value; self.label = label; self.featureNetwork = featureNetwork
        self.samples = samples; self.reference = reference; self.sampler = sampler; self.steps = steps; self.nfe = nfe
    }
}
