import Tensor

/// Where a `BatchIterator` stands: three integers that, with the dataset and the batch settings, determine
/// every batch still to come. Saved in checkpoints so a resumed run sees exactly the batches an uninterrupted
/// run would have seen.
public struct BatchPosition: Codable, Equatable, Sendable {
    /// The run's data seed (it never changes during a run).
    public var seed: UInt64
    /// Epochs completed so far (0 during the first pass over the data).
    public var epoch: Int
    /// Batches already produced in the current epoch.
    public var cursor: Int

    public init(seed: UInt64, epoch: Int = 0, cursor: Int = 0) {
        self.seed = seed
        self.epoch = epoch
        self.cursor = cursor
    }
}

/// One mini-batch: images NHWC in [−1, 1] and their labels.
public struct Batch: Sendable, Equatable {
    /// batchSize·H·W·C values.
    public var images: [Float]
    public var labels: [Int]
    /// The dataset rows the batch was drawn from, in batch order (for tests and debugging).
    public var indices: [Int]
    /// Which images were mirrored (all false without random flips).
    public var flipped: [Bool]
    public var height: Int, width: Int, channels: Int

    public var count: Int { labels.count }
}

/// An endless, deterministic stream of mini-batches, the equivalent of the paper's
/// `DataLoader(shuffle=True, drop_last=True)` wrapped in an infinite loop (spec §2.1).
///
/// Each epoch visits the data in a fresh random order and drops the last incomplete batch, so every batch has
/// exactly `batchSize` images. With `randomFlip`, each image is mirrored with probability ½
/// (`RandomHorizontalFlip`), used for CIFAR-10 and ImageNet, not for digits or MNIST-like data.
///
/// Why the randomness is derived from (seed, epoch) instead of one running generator: the whole position is
/// then `(seed, epoch, cursor)`, a resumed run rebuilds the epoch's order and flips from those three integers
/// alone, and no generator state has to be stored. The epoch's permutation comes from
/// `RNG(seed: mix(seed, epoch, 0))`, its flips from `RNG(seed: mix(seed, epoch, 1))` (one uniform per batch
/// slot, in order); `mix` is a SplitMix64-style hash, so neighbouring seeds and epochs give unrelated streams.
public struct BatchIterator: IteratorProtocol, Sequence, Sendable {
    public let dataset: ImageDataset
    public let batchSize: Int
    public let shuffle: Bool
    public let randomFlip: Bool
    /// The position of the next batch; save it to resume.
    public private(set) var position: BatchPosition
    private var order: [Int] = []
    private var flips: [Bool] = []

    /// - Parameters:
    ///   - shuffle: false visits the data in dataset order every epoch (useful for evaluation and tests).
    ///   - start: resume from a saved position (its seed replaces `seed`); nil starts at epoch 0, batch 0.
    public init(dataset: ImageDataset, batchSize: Int, seed: UInt64, shuffle: Bool = true, randomFlip: Bool = false,
                start: BatchPosition? = nil) throws {
        guard batchSize > 0 && batchSize <= dataset.count else {
            throw DataError.invalidArgument(dataset: dataset.source, argument: "batchSize", value: "\(batchSize)",
                                            reason: "must lie in 1…\(dataset.count) (the dataset's size; the last "
                                                + "incomplete batch is dropped)")
        }
        let perEpoch = dataset.count / batchSize
        var position = start ?? BatchPosition(seed: seed)
        guard position.epoch >= 0, position.cursor >= 0, position.cursor <= perEpoch else {
            throw DataError.invalidArgument(dataset: dataset.source, argument: "start",
                                            value: "epoch \(position.epoch), cursor \(position.cursor)",
                                            reason: "the epoch must be ≥ 0 and the cursor in 0…\(perEpoch) "
                                                + "(batches per epoch at batch size \(batchSize))")
        }
        if position.cursor == perEpoch { position.epoch += 1; position.cursor = 0 }
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.randomFlip = randomFlip
        self.position = position
        prepareEpoch()
    }

    /// Full batches per epoch (⌊N / batchSize⌋: drop_last).
    public var batchesPerEpoch: Int { dataset.count / batchSize }

    /// The next batch; epochs roll over by themselves.
    public mutating func nextBatch() -> Batch {
        let size = dataset.imageSize
        let start = position.cursor * batchSize
        var images = [Float](repeating: 0, count: batchSize * size)
        var labels = [Int](repeating: 0, count: batchSize)
        let rows = Array(order[start ..< start + batchSize])
        let flipped = Array(flips[start ..< start + batchSize])
        dataset.images.withUnsafeBufferPointer { src in
            images.withUnsafeMutableBufferPointer { dst in
                for (k, row) in rows.enumerated() {
                    for j in 0..<size { dst[k * size + j] = src[row * size + j] }
                    if flipped[k] {
                        flipHorizontally(dst, offset: k * size, height: dataset.height, width: dataset.width,
                                         channels: dataset.channels)
                    }
                    labels[k] = dataset.labels[row]
                }
            }
        }
        position.cursor += 1
        if position.cursor == batchesPerEpoch {
            position.epoch += 1
            position.cursor = 0
            prepareEpoch()
        }
        return Batch(images: images, labels: labels, indices: rows, flipped: flipped, height: dataset.height,
                     width: dataset.width, channels: dataset.channels)
    }

    /// `IteratorProtocol`: never nil (the stream is endless; take as many batches as the run needs).
    public mutating func next() -> Batch? { nextBatch() }

    /// The order and flips of the current epoch, from (seed, epoch) alone.
    private mutating func prepareEpoch() {
        let n = dataset.count
        if shuffle {
            var rng = RNG(seed: BatchIterator.mix(position.seed, UInt64(position.epoch), 0))
            order = rng.permutation(n)
        } else {
            order = Array(0..<n)
        }
        if randomFlip {
            var rng = RNG(seed: BatchIterator.mix(position.seed, UInt64(position.epoch), 1))
            flips = (0..<n).map { _ in rng.uniform() < 0.5 }
        } else {
            flips = [Bool](repeating: false, count: n)
        }
    }

    /// A SplitMix64-style hash of (seed, epoch, stream). Plain `seed + epoch` would not do: RNG's SplitMix
    /// seeding makes seeds that differ by its increment produce shifted copies of the same stream.
    static func mix(_ seed: UInt64, _ epoch: UInt64, _ stream: UInt64) -> UInt64 {
        func finalise(_ x: UInt64) -> UInt64 {
            var z = x &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return finalise(finalise(finalise(seed) ^ epoch) ^ (stream &* 0xD6E8_FEB8_6659_FD93))
    }
}
