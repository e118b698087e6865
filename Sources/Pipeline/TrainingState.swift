import Foundation
import Tensor
import NN
import Checkpoint
import Diffusion
import Data

/// The code version recorded in every checkpoint, provenance record and run database row, and hashed into
/// stage identities (docs/architecture.md, "stage identity").
public enum CodeVersion {
    /// The numerics version: bump it whenever a change alters the numbers a stage produces
    /// (numerics.manifest, CodeVersionTests).
    public static let numerics = "rdd-0.6.0"  // 0.6: the metrics' Float64 linear algebra ours (CLinearAlgebra: the same FID bits on every CPU); 0.5: Winograd F(2×2,3×3) the default 3×3 algorithm; 0.4: every product on our GEMM (one accumulation order on any x86), own exp/log (DetMath); 0.3: own AVX2 sgemm

    /// `numerics`, plus "+direct" when 3×3 stride-1 convolutions use the direct kernels instead of the default
    /// Winograd F(2×2,3×3) (`RDD_CONV=direct`): another algorithm gives other numbers (within 2e-6 of each other
    /// per product, but training amplifies that), so a stage trained with it has its own identity, its checkpoints
    /// and provenance say so, and a cache of Winograd stages is never reused for it (nor the reverse).
    public static var string: String {
        Conv2dTuning.algorithm == ConvAlgorithm.standard ? numerics : numerics + "+" + Conv2dTuning.algorithm.rawValue
    }
}

/// A resumable snapshot of a training loop: everything needed to continue at `step` and obtain the
/// same numbers as an uninterrupted run at the same thread count (spec §8, issue "resume").
public struct TrainingSnapshot {
    public var step: Int
    public var rngs: [String: RNG]
    public var batchPosition: BatchPosition?
}

/// The checkpoint before the latest: `TrainingState.save` moves `checkpoint.h5` here before writing a new
/// one, so a latest checkpoint that cannot be read still leaves a point to resume from (the worker falls
/// back to it, then to a fresh start; docs/sweeps.md, "Failure model").
public let previousCheckpointName = "checkpoint.prev.h5"

enum TrainingState {
    /// Writes model (+ EMA, optimiser, RNGs, data position) to `path` atomically. Writing a stage's
    /// `checkpoint.h5` first keeps the one it replaces as `checkpoint.prev.h5`.
    static func save(path: String, model: Module, grid: StepGrid?, ema: EMA?, adam: Adam?, sgd: SGD? = nil,
                     snapshot: TrainingSnapshot, configJSON: String, extraArrays: [String: ArrayValue] = [:],
                     extraAttributes: [String: AttributeValue] = [:]) throws {
        var ck = Checkpoint()
        ck.arrays = model.stateArrays()
        if let ema { for (n, t) in ema.shadow { ck.arrays["ema/" + n] = ArrayValue(shape: t.shape, t.array) } }
        if let adam {
            for (n, t) in adam.namedState() { ck.arrays["optimizer/adam/" + n] = ArrayValue(shape: t.shape, t.array) }
            ck.arrays["optimizer/adam/step"] = .scalar(Int64(adam.step))
        }
        if let sgd {
            for (n, t) in sgd.namedState() { ck.arrays["optimizer/sgd/" + n] = ArrayValue(shape: t.shape, t.array) }
            ck.arrays["optimizer/sgd/step"] = .scalar(Int64(sgd.step))
        }
        for (n, r) in snapshot.rngs { ck.arrays["rng/" + n] = ArrayValue(uint64Words: r.stateWords) }
        for (k, v) in extraArrays { ck.arrays[k] = v }
        ck.attributes = extraAttributes
        ck.attributes["step"] = .int(Int64(snapshot.step))
        ck.attributes["config_json"] = .string(configJSON)
        ck.attributes["code_version"] = .string(CodeVersion.string)
        if let grid { ck.attributes["T"] = .int(Int64(grid.steps)); ck.attributes["time_scale"] = .int(Int64(grid.timeScale)) }
        if let p = snapshot.batchPosition {
            ck.attributes["data_seed"] = .int(Int64(bitPattern: p.seed))
            ck.attributes["data_epoch"] = .int(Int64(p.epoch))
            ck.attributes["data_cursor"] = .int(Int64(p.cursor))
        }
        let url = URL(fileURLWithPath: path)
        if url.lastPathComponent == "checkpoint.h5", FileManager.default.fileExists(atPath: path) {
            _ = rename(path, url.deletingLastPathComponent().appendingPathComponent(previousCheckpointName).path)
        }
        try ck.save(to: path)
    }

    /// Restores what `save` wrote into existing objects; returns the snapshot.
    static func restore(path: String, model: Module, ema: EMA?, adam: Adam?, sgd: SGD? = nil, rngNames: [String]) throws -> (TrainingSnapshot, Checkpoint) {
        let ck = try Checkpoint.load(from: path)
        try model.loadState(from: ck, strict: false)
        func fill(_ t: Tensor, _ key: String) throws {
            let v = try ck.array(key, dtype: .float32, shape: t.shape)
            v.float32Values!.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
        }
        if let ema { for (n, t) in ema.shadow { try fill(t, "ema/" + n) } }
        if let adam {
            for (n, t) in adam.namedState() { try fill(t, "optimizer/adam/" + n) }
            adam.restore(step: Int(try ck.array("optimizer/adam/step").int64Values![0]))
        }
        if let sgd {
            for (n, t) in sgd.namedState() { try fill(t, "optimizer/sgd/" + n) }
            sgd.restore(step: Int(try ck.array("optimizer/sgd/step").int64Values![0]))
        }
        var rngs: [String: RNG] = [:]
        for n in rngNames { rngs[n] = RNG(stateWords: try ck.array("rng/" + n).uint64Words!) }
        var pos: BatchPosition?
        if case .int(let s)? = ck.attributes["data_seed"], case .int(let e)? = ck.attributes["data_epoch"], case .int(let c)? = ck.attributes["data_cursor"] {
            pos = BatchPosition(seed: UInt64(bitPattern: s), epoch: Int(e), cursor: Int(c))
        }
        return (TrainingSnapshot(step: Int(try ck.int("step")), rngs: rngs, batchPosition: pos), ck)
    }
}

/// A mutable RNG shared by closures (dropout inside a `Denoiser`).
final class RNGBox { var rng: RNG; init(_ r: RNG) { rng = r } }


/// A batch as an NHWC tensor.
func tensor(_ b: Batch) -> Tensor { Tensor(b.images, shape: [b.count, b.height, b.width, b.channels]) }
