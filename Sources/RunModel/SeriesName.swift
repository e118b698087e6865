import Foundation

/// Names of the series a stage logs (its `journal.jsonl`, the run database's `metrics` table, an export's `series`)
/// that more than one module reads. The loss terms are logged under `DistillTerm`'s raw values, the diagnostics under
/// `diag/…` (Pipeline/Diagnostics.swift).
public enum SeriesName {
    /// The training loss of the classifier, teacher and PD stages.
    public static let loss = "loss"
    /// The distillation objective's weighted sum of its terms.
    public static let total = "total"
    /// The learning rate of the step.
    public static let lr = "lr"
    /// The gradient norm before clipping.
    public static let gradNorm = "grad_norm"
    /// Wall seconds of one training step (teacher, PD, distillation).
    public static let secondsPerStep = "seconds_per_step"
    /// Wall seconds per generated sample of an evaluation (logged at step 0).
    public static let secondsPerImage = "seconds_per_image"
    /// The rise of the peak resident set while a distillation step's loss terms are evaluated (issue 20 §5), at logged
    /// steps.
    public static let lossPeakBytes = "memory/loss_peak_bytes"
    /// Times the pixel queue's write position wrapped during a distillation stage (cumulative; computed, not measured).
    public static let queueRefills = "queue/refills"

    /// The measured series — wall-clock timings and memory — as opposed to computed numbers. A measurement varies from
    /// run to run (the machine, its load, the allocator's state after a resume: 413696 vs 479232 loss-peak bytes after
    /// a resume in CI); every other series is computed and reproduces bit for bit. Comparisons of two runs number by
    /// number (a resumed run against a clean one, Slurm against local) leave these out. A new measurement is one entry
    /// here.
    public static let measurements: Set<String> = [secondsPerStep, secondsPerImage, lossPeakBytes]

    /// Whether a series is a computed number (not one of `measurements`).
    public static func isComputed(_ name: String) -> Bool { !measurements.contains(name) }

    /// Whether a series is the loss or one of its terms, what the status line, the dashboard and the learning curves
    /// show: not the learning rate, the gradient norm, a measurement, or a namespaced series (`diag/…`, `memory/…`,
    /// `queue/…`).
    public static func isLoss(_ name: String) -> Bool {
        name != lr && name != gradNorm && isComputed(name) && !name.contains("/")
    }
}
