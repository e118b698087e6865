// The discrete cosine noise schedule on the shared 1025-level grid (spec §1.1), its SNR and the
// truncated-SNR loss weight (§1.4), the (T, time_scale) discretisation of an N-step model (§1.2),
// the PD index triple (§1.6) and the UNet's sinusoidal time-embedding table (§2.2).
//
// Pure Float64 scalar maths: no tensors. Callers that feed tensors cast a coefficient to Float32 at
// the point of use, as the official `extract()` does (§1.1).
import Foundation
import Tensor

/// Bad input to the schedule, the step grid or the embedding table. Every case names the value.
public enum ScheduleError: Error, Equatable, CustomStringConvertible {
    /// A grid index outside 0...1024.
    case gridIndexOutOfRange(Int)
    /// A step count T that is not a power of two dividing 1024 (1, 2, 4, …, 1024).
    case invalidStepCount(Int)
    /// A (T, time_scale) pair with T · time_scale ≠ 1024.
    case inconsistentTimeScale(steps: Int, timeScale: Int)
    /// A model time t outside 0...T.
    case timeOutOfRange(t: Int, steps: Int)
    /// A sampling stride that is not a positive divisor of T.
    case invalidStride(stride: Int, steps: Int)
    /// A PD teacher time that is not one of 2, 4, …, T.
    case invalidPDTime(t: Int, steps: Int)
    /// Halving a 1-step model.
    case cannotHalve(steps: Int)
    /// An embedding table with rows < 1 or an odd or non-positive width.
    case invalidEmbeddingShape(rows: Int, dim: Int)

    public var description: String {
        switch self {
        case .gridIndexOutOfRange(let k):
            return "grid index \(k) is outside 0...\(CosineSchedule.maxIndex)"
        case .invalidStepCount(let t):
            return "step count T = \(t) is not a power of two dividing \(CosineSchedule.maxIndex)"
        case .inconsistentTimeScale(let t, let s):
            return "T = \(t) and time_scale = \(s) give T·time_scale = \(t * s), not \(CosineSchedule.maxIndex)"
        case .timeOutOfRange(let t, let steps):
            return "model time t = \(t) is outside 0...\(steps) for a \(steps)-step model"
        case .invalidStride(let stride, let steps):
            return "sampling stride \(stride) is not a positive divisor of T = \(steps)"
        case .invalidPDTime(let t, let steps):
            return "PD teacher time t = \(t) is not one of 2, 4, …, \(steps) (T = \(steps))"
        case .cannotHalve(let steps):
            return "a \(steps)-step model has no PD student (T/2 would be < 1)"
        case .invalidEmbeddingShape(let rows, let dim):
            return "time-embedding table \(rows)×\(dim): rows must be ≥ 1 and dim even and ≥ 2"
        }
    }
}

// MARK: - §1.1 Noise schedule

/// The discrete cosine schedule of spec §1.1, always built on T' = 1025 levels (indices 0…1024).
///
/// - f(u) = cos²((u + s)/(1 + s) · π/2) with s = 0.008, u = k/1025
/// - β_k = min(1 − f((k+1)/1025)/f(k/1025), 0.999) for k = 0…1024; only β_1024 reaches the clamp
/// - ᾱ_k = Π_{j≤k} (1 − β_j) (cumulative product, so ᾱ_1024 = 0.001·ᾱ_1023 ≈ 2.31e-9, not 0)
/// - α_k = √ᾱ_k, σ_k = √(1 − ᾱ_k) (`sqrt_alphas_bar`, `sqrt_one_minus_alphas_bar`), kept in Float64
///
/// Index 0 is not clean data (α_0 ≈ 0.99998, σ_0 ≈ 0.00634); index 1024 is almost pure noise.
public struct CosineSchedule: Sendable {
    /// Number of grid levels, 1025 (`T·time_scale + 1`).
    public static let levels = 1025
    /// The largest grid index, 1024.
    public static let maxIndex = 1024
    /// The cosine offset s = 0.008.
    public static let offset = 0.008
    /// The β clamp, 0.999.
    public static let maxBeta = 0.999
    /// The schedule every model in the project uses (it has no parameters).
    public static let shared = CosineSchedule()

    /// β_k, k = 0…1024 (§1.1).
    public let betas: [Double]
    /// ᾱ_k, k = 0…1024, the cumulative product of 1 − β_j (§1.1).
    public let alphasBar: [Double]
    /// α_k = √ᾱ_k (`sqrt_alphas_bar`).
    public let alphas: [Double]
    /// σ_k = √(1 − ᾱ_k) (`sqrt_one_minus_alphas_bar`).
    public let sigmas: [Double]

    /// f(u) = cos²((u + s)/(1 + s) · π/2), s = 0.008 (§1.1).
    public static func f(_ u: Double) -> Double {
        let c = DetMath.cos((u + offset) / (1 + offset) * Double.pi / 2)
        return c * c
    }

    /// Builds the tables of §1.1 in Float64.
    public init() {
        let n = Self.levels
        let fs = (0...n).map { Self.f(Double($0) / Double(n)) }
        var betas = [Double](repeating: 0, count: n)
        var alphasBar = [Double](repeating: 0, count: n)
        var product = 1.0
        for k in 0..<n {
            betas[k] = min(1 - fs[k + 1] / fs[k], Self.maxBeta)
            product *= 1 - betas[k]
            alphasBar[k] = product
        }
        self.betas = betas
        self.alphasBar = alphasBar
        self.alphas = alphasBar.map { $0.squareRoot() }
        self.sigmas = alphasBar.map { (1 - $0).squareRoot() }
    }

    /// Throws unless 0 ≤ k ≤ 1024.
    public static func validate(index k: Int) throws {
        guard (0...maxIndex).contains(k) else { throw ScheduleError.gridIndexOutOfRange(k) }
    }

    /// α_k (§1.1).
    public func alpha(_ k: Int) throws -> Double {
        try Self.validate(index: k)
        return alphas[k]
    }

    /// σ_k (§1.1).
    public func sigma(_ k: Int) throws -> Double {
        try Self.validate(index: k)
        return sigmas[k]
    }

    /// (α_k, σ_k) cast to Float32, as the official `extract()` hands them to the float32 tensor maths (§1.1).
    public func float32Coefficients(_ k: Int) throws -> (alpha: Float, sigma: Float) {
        try Self.validate(index: k)
        return (Float(alphas[k]), Float(sigmas[k]))
    }

    /// SNR_k = α_k²/σ_k² (§1.4). SNR(0) ≈ 24862.5; SNR first drops below 1 at k = 508.
    public func snr(_ k: Int) throws -> Double {
        try Self.validate(index: k)
        let a = alphas[k], s = sigmas[k]
        return (a * a) / (s * s)
    }

    /// logSNR_k = ln(α_k²/σ_k²) (natural log; the §1.1 table's last column).
    public func logSNR(_ k: Int) throws -> Double {
        DetMath.log(try snr(k))
    }

    /// The truncated-SNR weight ω_k = max(α_k²/σ_k², 1) of §1.4: max(MSE_x, MSE_ε) = ω_k · MSE_x.
    public func truncatedSNRWeight(_ k: Int) throws -> Double {
        max(try snr(k), 1)
    }
}

// MARK: - §1.2 Time discretisation, §1.6 PD indices

/// The grid indices used by one PD step for teacher (T, s) at teacher time t (§1.6):
/// i₀ = t·s, i₁ = (t−1)·s, i₂ = (t−2)·s.
public struct PDIndices: Hashable, Sendable {
    public let i0: Int
    public let i1: Int
    public let i2: Int
}

/// The (T, time_scale) pair of an N-step model on the shared 1025-level grid (§1.2).
///
/// T = N and time_scale = 1024/T, with T a power of two dividing 1024: the base model is (1024, 1),
/// the 8-step model (8, 128), the 1-step model (1, 1024). The network's time input is the integer
/// grid index k = t·time_scale ∈ [0, 1024].
public struct StepGrid: Hashable, Sendable, CustomStringConvertible {
    /// T, the number of sampling steps.
    public let steps: Int
    /// time_scale = 1024/T.
    public let timeScale: Int

    /// The grid of an N-step model; throws unless N is a power of two dividing 1024.
    public init(steps: Int) throws {
        guard steps >= 1, steps <= CosineSchedule.maxIndex, steps & (steps - 1) == 0 else {
            throw ScheduleError.invalidStepCount(steps)
        }
        self.steps = steps
        self.timeScale = CosineSchedule.maxIndex / steps
    }

    /// The grid from a stored (T, time_scale) pair (a checkpoint's `T` and `time_scale`); throws
    /// unless T is valid and T·time_scale = 1024.
    public init(steps: Int, timeScale: Int) throws {
        try self.init(steps: steps)
        guard timeScale == self.timeScale else {
            throw ScheduleError.inconsistentTimeScale(steps: steps, timeScale: timeScale)
        }
    }

    /// The 1024-step base model, (T, s) = (1024, 1).
    public static let base = try! StepGrid(steps: CosineSchedule.maxIndex)

    public var description: String { "StepGrid(T: \(steps), time_scale: \(timeScale))" }

    /// The grid index k = t·time_scale of model time t ∈ 0...T (§1.2).
    public func gridIndex(_ t: Int) throws -> Int {
        guard (0...steps).contains(t) else { throw ScheduleError.timeOutOfRange(t: t, steps: steps) }
        return t * timeScale
    }

    /// The grid indices a deterministic DDIM sampler visits (§1.2, §1.7; `ddim(x_T, stride)`):
    /// model times T, T−stride, …, stride, then 0, mapped to indices t·time_scale.
    ///
    /// stride 1 on an N-step model gives 1024 → 1024·(N−1)/N → … → 0 (N + 1 entries, N steps);
    /// stride 128 on the base model gives 1024, 896, …, 128, 0. The official loop
    /// `reversed(range(stride, T + 1, stride))` would start below T when stride does not divide T,
    /// so such a stride is refused.
    public func samplingIndices(stride: Int = 1) throws -> [Int] {
        guard stride >= 1, steps % stride == 0 else {
            throw ScheduleError.invalidStride(stride: stride, steps: steps)
        }
        return Swift.stride(from: steps, through: 0, by: -stride).map { $0 * timeScale }
    }

    /// The PD teacher times t = 2·Uniform{1,…,T/2} can take: [2, 4, …, T] (§1.6); empty for T = 1.
    public var pdTimes: [Int] { Array(Swift.stride(from: 2, through: steps, by: 2)) }

    /// The index triple (i₀, i₁, i₂) = (t·s, (t−1)·s, (t−2)·s) for this grid as the PD teacher at
    /// teacher time t ∈ {2, 4, …, T} (§1.6). The student is queried at the same i₀.
    public func pdIndices(t: Int) throws -> PDIndices {
        guard t >= 2, t <= steps, t % 2 == 0 else { throw ScheduleError.invalidPDTime(t: t, steps: steps) }
        return PDIndices(i0: t * timeScale, i1: (t - 1) * timeScale, i2: (t - 2) * timeScale)
    }

    /// The PD student of this teacher: (T/2, 2·time_scale) (§1.6).
    public func student() throws -> StepGrid {
        guard steps >= 2 else { throw ScheduleError.cannotHalve(steps: steps) }
        return try StepGrid(steps: steps / 2)
    }
}

// MARK: - §2.2 Time embedding

/// How the sinusoidal table's entries are computed (both are the formula of §2.2; they differ in rounding).
public enum TimeEmbeddingArithmetic: Sendable, Equatable {
    /// The official code's float32 arithmetic (model.py `TimeEmbedding`): ω_i = exp(−(2i/d)·ln 10000)
    /// with 2i/d, the product and exp in float32; the argument p·ω_i in float32; sin/cos of that float32
    /// argument rounded to float32 (correctly rounded here). This reproduces the spec §8 S3 values within
    /// one float32 ulp (5 of the 6 exactly; torch's cos(1) is 1 ulp above the correctly rounded value).
    /// It is not bit-identical to torch's table: torch's float32 exp and sin/cos are not always correctly
    /// rounded (two of the 64 frequencies differ by 1 ulp), the largest difference being ~3.1e-5
    /// (measured against torch 2.13).
    case officialFloat32
    /// The same formula evaluated entirely in Float64, rounded to Float32 at the end. Differs from the
    /// official table by up to ~6.4e-5 at large p and high frequency (float32 argument rounding there).
    case float64
}

/// The interleaved sinusoidal time-embedding table of spec §2.2, `rows` × `dim` row-major Float32:
///
///     emb[p, 2i] = sin(p · 10000^(−2i/dim)),  emb[p, 2i+1] = cos(p · 10000^(−2i/dim))
///
/// The UNet always uses rows = 1025 (`TimeEmbedding(T+1, …)` with T·time_scale = 1024) and dim = ch = 128.
/// Throws unless rows ≥ 1 and dim is even and ≥ 2.
public func timeEmbeddingTable(rows: Int = CosineSchedule.levels, dim: Int,
                               arithmetic: TimeEmbeddingArithmetic = .officialFloat32) throws -> [Float] {
    guard rows >= 1, dim >= 2, dim % 2 == 0 else { throw ScheduleError.invalidEmbeddingShape(rows: rows, dim: dim) }
    let half = dim / 2
    var table = [Float](repeating: 0, count: rows * dim)
    switch arithmetic {
    case .officialFloat32:
        // torch: arange(0, d, 2) / d * math.log(10000) -> exp(-·) (float32); pos.float() * freq (float32).
        let ln10000 = Float(DetMath.log(10000.0))
        let freqs: [Float] = (0..<half).map { i in
            let a = (Float(2 * i) / Float(dim)) * ln10000
            return Float(DetMath.exp(-Double(a)))
        }
        for p in 0..<rows {
            for i in 0..<half {
                let arg = Double(Float(p) * freqs[i])
                table[p * dim + 2 * i] = Float(DetMath.sin(arg))
                table[p * dim + 2 * i + 1] = Float(DetMath.cos(arg))
            }
        }
    case .float64:
        for p in 0..<rows {
            for i in 0..<half {
                let arg = Double(p) * DetMath.pow(10000.0, -Double(2 * i) / Double(dim))
                table[p * dim + 2 * i] = Float(DetMath.sin(arg))
                table[p * dim + 2 * i + 1] = Float(DetMath.cos(arg))
            }
        }
    }
    return table
}
