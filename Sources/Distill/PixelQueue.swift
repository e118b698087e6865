import Foundation
import Tensor
import RunModel

/// The M_P2P memory (spec §4.4): N_q unit-length teacher "pixel embeddings" of C channels, a FIFO
/// write pointer and the generator that draws the random columns / pixels / slots.
///
/// Initial contents, in both modes: rows of N(0, 1) draws from `RNG(seed:)`, each L2-normalised (the
/// official `randn` + `normalize`; the values differ from PyTorch's generator).
///
/// Checkpointing: `state()` exports everything that determines the future (embeddings, pointer,
/// generator words, configuration) as named Float32 arrays; `init(state:)` restores it, so a resumed
/// run draws and writes exactly what an uninterrupted one would.
public final class PixelQueue {
    public let mode: PixelQueueMode
    /// N_q (`pixel_memory_size`).
    public let size: Int
    /// V (`pixel_contrast_size`): how many rows the loss contrasts against.
    public let contrastSize: Int
    /// K (`pixel_update_freq`): columns pushed per iteration (official-code) or pixels per image (paper).
    public let updateCount: Int
    /// C, the embedding dimension.
    public let channels: Int
    /// The queue, N_q × C row-major. Rows have unit length.
    public private(set) var embeddings: [Float]
    /// The write pointer (`pixel_queue_ptr`).
    public private(set) var pointer: Int
    /// The generator for random columns (official-code), random pixels and random slots (paper).
    public private(set) var rng: RNG
    /// official-code: the fixed slots round(linspace(0, N_q − 1, V)) (Float32, as torch computes them).
    /// paper: empty (slots are drawn per iteration by `contrastEmbeddings()`).
    public let fixedIndices: [Int]
    /// The rows last written by `push` (for tests and logging).
    public private(set) var lastWrittenRows: [Int] = []

    /// The defaults of each mode: official-code (N_q 20000, V 4096, K 128 per iteration) and paper
    /// (N_q 20000, V 2048, K 1 per image: the paper gives no K; one per image is the code's rate of 128
    /// per 128-image gathered batch).
    public static func defaults(_ mode: PixelQueueMode) -> (size: Int, contrastSize: Int, updateCount: Int) {
        switch mode {
        case .officialCode: return (20000, 4096, 128)
        case .paper: return (20000, 2048, 1)
        }
    }

    /// The queue of a distillation stage's settings (`distill.queue`: mode, N_q, V, K).
    public convenience init(_ q: QueueSettings, channels: Int, seed: UInt64) {
        self.init(mode: q.mode, channels: channels, size: q.size, contrastSize: q.contrastSize, updateCount: q.updateCount, seed: seed)
    }

    public init(mode: PixelQueueMode, channels: Int, size: Int? = nil, contrastSize: Int? = nil, updateCount: Int? = nil,
                seed: UInt64) {
        let d = PixelQueue.defaults(mode)
        self.mode = mode
        self.channels = channels
        self.size = size ?? d.size
        self.contrastSize = contrastSize ?? d.contrastSize
        self.updateCount = updateCount ?? d.updateCount
        precondition(channels > 0 && self.size > 0 && self.contrastSize > 0 && self.updateCount > 0,
                     "PixelQueue: channels, size, contrastSize and updateCount must be > 0")
        precondition(mode == .officialCode || self.contrastSize <= self.size,
                     "PixelQueue: paper mode samples V = \(self.contrastSize) distinct slots of N_q = \(self.size)")
        rng = RNG(seed: seed)
        var e = [Float](repeating: 0, count: self.size * channels)
        for r in 0..<self.size {
            var ss = 0.0
            for k in 0..<channels { let v = Float(rng.normal()); e[r * channels + k] = v; ss += Double(v) * Double(v) }
            let nv = max(Float(ss.squareRoot()), 1e-12)
            for k in 0..<channels { e[r * channels + k] /= nv }
        }
        embeddings = e
        pointer = 0
        fixedIndices = mode == .officialCode ? torchLinspaceRoundedIndices(count: self.size, samples: self.contrastSize) : []
    }

    // MARK: Contrast embeddings

    /// E (V, C): the rows the loss contrasts against. official-code: the fixed slots (no randomness);
    /// paper: V distinct slots drawn uniformly at random (advances the generator).
    public func contrastEmbeddings() -> Tensor {
        let idx = mode == .officialCode ? fixedIndices : drawSlots()
        let out = Tensor(uninitialized: [idx.count, channels])
        embeddings.withUnsafeBufferPointer { e in
            for (r, i) in idx.enumerated() { (out.data + r * channels).update(from: e.baseAddress! + i * channels, count: channels) }
        }
        return out
    }

    /// V distinct slots, uniformly at random (partial Fisher–Yates over 0..<N_q).
    func drawSlots() -> [Int] {
        var pool = Array(0..<size)
        for i in 0..<contrastSize {
            let j = i + rng.int(below: size - i)
            pool.swapAt(i, j)
        }
        return Array(pool[0..<contrastSize])
    }

    // MARK: Push

    /// Enqueues teacher keys: normalised teacher maps (B, H, W, C) NHWC (the official code gathers
    /// them across GPUs first; pass the gathered batch to reproduce that).
    ///
    /// official-code: `keys.view(C, −1)` of the NCHW memory order (D4), K′ = min(B·A, K) random columns
    /// (a random permutation's first K′), each re-normalised; if ptr + K′ ≥ N_q the LAST K′ rows are
    /// written and ptr = 0, else rows [ptr, ptr+K′) and ptr += K′.
    /// paper: for each image, K′ = min(A, K) distinct random pixels (true pixel rows), re-normalised,
    /// written in FIFO order at ptr, ptr+1, … (mod N_q).
    public func push(teacherKeys keys: Tensor) {
        let (b, a, c) = mapDims(keys, "PixelQueue.push")
        precondition(c == channels, "PixelQueue.push: keys have \(c) channels, the queue \(channels)")
        switch mode {
        case .officialCode:
            let cols = officialColumns(keys)                // (C, B·A) view of the NCHW memory
            let m = b * a
            let k = min(m, updateCount)
            let perm = rng.permutation(m)
            var rowsData = [Float](repeating: 0, count: k * c)
            for r in 0..<k { for ch in 0..<c { rowsData[r * c + ch] = cols[ch * m + perm[r]] } }
            let start: Int
            if pointer + k >= size { start = size - k; pointer = 0 } else { start = pointer; pointer = (pointer + k) % size }
            write(rowsData, count: k, at: (0..<k).map { start + $0 })
        case .paper:
            let k = min(a, updateCount)
            var rowsData = [Float](repeating: 0, count: b * k * c)
            for img in 0..<b {
                let perm = rng.permutation(a)
                for r in 0..<k {
                    let src = keys.data + (img * a + perm[r]) * c
                    for ch in 0..<c { rowsData[(img * k + r) * c + ch] = src[ch] }
                }
            }
            let n = b * k
            let slots = (0..<n).map { (pointer + $0) % size }
            pointer = (pointer + n) % size
            write(rowsData, count: n, at: slots)
        }
    }

    /// Writes `count` rows, each L2-normalised, to the given slots in order (later rows win).
    func write(_ rowsData: [Float], count: Int, at slots: [Int]) {
        let c = channels
        for r in 0..<count {
            var ss = 0.0
            for ch in 0..<c { let v = Double(rowsData[r * c + ch]); ss += v * v }
            let nv = max(Float(ss.squareRoot()), 1e-12)
            let base = slots[r] * c
            for ch in 0..<c { embeddings[base + ch] = rowsData[r * c + ch] / nv }
        }
        lastWrittenRows = slots
    }

    // MARK: State

    /// Names of the exported arrays.
    public static let stateKeys = ["teacher_pixel_queue", "pixel_queue_ptr", "rng_state", "config"]

    /// The whole state as named Float32 arrays (all values exact):
    /// - "teacher_pixel_queue" [N_q, C]: the embeddings;
    /// - "pixel_queue_ptr" [1]: the pointer;
    /// - "rng_state" [5, 4]: `RNG.stateWords`, each UInt64 split into four 16-bit limbs, least
    ///   significant first (16-bit integers are exact in Float32);
    /// - "config" [4]: N_q, V, K, mode (0 = official-code, 1 = paper).
    public func state() -> [String: (shape: [Int], values: [Float])] {
        var limbs: [Float] = []
        for w in rng.stateWords { for l in 0..<4 { limbs.append(Float((w >> (16 * UInt64(l))) & 0xFFFF)) } }
        return [
            "teacher_pixel_queue": ([size, channels], embeddings),
            "pixel_queue_ptr": ([1], [Float(pointer)]),
            "rng_state": ([5, 4], limbs),
            "config": ([4], [Float(size), Float(contrastSize), Float(updateCount), mode == .officialCode ? 0 : 1]),
        ]
    }

    /// Restores a queue from `state()`; throws `DistillError.invalidState` naming what is wrong.
    public init(state: [String: (shape: [Int], values: [Float])]) throws {
        func get(_ k: String) throws -> (shape: [Int], values: [Float]) {
            guard let v = state[k] else { throw DistillError.invalidState("missing array '\(k)'") }
            guard v.values.count == v.shape.reduce(1, *) else {
                throw DistillError.invalidState("'\(k)' has \(v.values.count) values for shape \(v.shape)")
            }
            return v
        }
        func integer(_ x: Float, _ what: String, below: Int = Int.max) throws -> Int {
            guard x.isFinite, x >= 0, x == x.rounded(), x < 16_777_216, Int(x) < below else {
                throw DistillError.invalidState("\(what) = \(x) is not a valid integer")
            }
            return Int(x)
        }
        let cfg = try get("config"), q = try get("teacher_pixel_queue"), p = try get("pixel_queue_ptr"), r = try get("rng_state")
        guard cfg.shape == [4], p.shape == [1], r.shape == [5, 4], q.shape.count == 2 else {
            throw DistillError.invalidState("shapes config \(cfg.shape), pointer \(p.shape), rng \(r.shape), queue \(q.shape)")
        }
        let n = try integer(cfg.values[0], "N_q"), v = try integer(cfg.values[1], "V"), k = try integer(cfg.values[2], "K")
        let modeCode = try integer(cfg.values[3], "mode", below: 2)
        guard n > 0, v > 0, k > 0, q.shape[0] == n, q.shape[1] > 0 else {
            throw DistillError.invalidState("queue \(q.shape) does not match N_q = \(n) (V = \(v), K = \(k))")
        }
        var words: [UInt64] = []
        for w in 0..<5 {
            var x: UInt64 = 0
            for l in 0..<4 { x |= UInt64(try integer(r.values[w * 4 + l], "rng limb", below: 65536)) << (16 * UInt64(l)) }
            words.append(x)
        }
        mode = modeCode == 0 ? .officialCode : .paper
        guard mode == .officialCode || v <= n else { throw DistillError.invalidState("paper mode needs V = \(v) ≤ N_q = \(n)") }
        size = n; contrastSize = v; updateCount = k; channels = q.shape[1]
        embeddings = q.values
        pointer = try integer(p.values[0], "pointer", below: n)
        rng = RNG(stateWords: words)
        fixedIndices = mode == .officialCode ? torchLinspaceRoundedIndices(count: n, samples: v) : []
    }
}

/// The (C, B·A) matrix `keys.view(C, −1)` of a teacher map given NHWC (B, H, W, C): the NCHW memory
/// order (flat index ((b·C + c)·A + a)) read as C rows of B·A (spec §4.4 step 2, D4). Column j, row i
/// holds flat element i·B·A + j, i.e. sample ⌊f/(C·A)⌋, channel (f mod C·A) div A, pixel f mod A.
public func officialColumns(_ keys: Tensor) -> [Float] {
    let (b, a, c) = mapDims(keys, "officialColumns")
    var nchw = [Float](repeating: 0, count: b * a * c)
    for s in 0..<b { for p in 0..<a { for ch in 0..<c { nchw[(s * c + ch) * a + p] = keys.data[(s * a + p) * c + ch] } } }
    return nchw    // the view is a reinterpretation: the same memory, read as (C, B·A)
}

/// round(linspace(0, count − 1, samples)) as PyTorch's CPU kernel computes it in Float32: step =
/// (end − start)/(samples − 1); entry i is fma(step, i, start) for i < samples/2 and
/// fma(−step, samples − 1 − i, end) otherwise; then round half to even (torch.round). Checked
/// bit-for-bit against torch 2.x for (20000, 4096): entry 3781 is exactly 18465.5 and rounds to 18466.
public func torchLinspaceRoundedIndices(count: Int, samples: Int) -> [Int] {
    precondition(count > 0 && samples > 0, "torchLinspaceRoundedIndices: count and samples must be > 0")
    if samples == 1 { return [0] }
    let start: Float = 0, end = Float(count - 1)
    let step = (end - start) / Float(samples - 1)
    let half = samples / 2
    return (0..<samples).map { i -> Int in
        let v = i < half ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(samples - 1 - i))
        return Int(v.rounded(.toNearestOrEven))
    }
}
