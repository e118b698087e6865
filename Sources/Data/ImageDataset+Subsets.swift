import Tensor

/// Subsets for small presets and balanced evaluation sets.
///
/// All of them keep the dataset's original order among the selected images, so "the first n" of a subset is
/// still the first n of the source, and a subset can be reproduced from its description alone.
extension ImageDataset {
    /// The images at `indices`, in that order.
    public func subset(_ indices: [Int], name: String? = nil) throws -> ImageDataset {
        let size = imageSize
        var out = [Float]()
        out.reserveCapacity(indices.count * size)
        var labs = [Int]()
        labs.reserveCapacity(indices.count)
        for i in indices {
            guard i >= 0 && i < count else {
                throw DataError.invalidArgument(dataset: source, argument: "index", value: "\(i)",
                                                reason: "\(self.name) has \(count) images")
            }
            out.append(contentsOf: images[i * size ..< (i + 1) * size])
            labs.append(labels[i])
        }
        return try ImageDataset(name: name ?? "\(self.name)[subset \(indices.count)]", source: source,
                                height: height, width: width, channels: channels, classCount: classCount,
                                flipAugmentation: flipAugmentation, images: out, labels: labs)
    }

    /// The first `n` images.
    public func first(_ n: Int) throws -> ImageDataset {
        guard n >= 0 && n <= count else {
            throw DataError.invalidArgument(dataset: source, argument: "n", value: "\(n)",
                                            reason: "\(name) has \(count) images")
        }
        return try subset(Array(0..<n), name: "\(name)[first \(n)]")
    }

    /// The first `n` images of every class, in dataset order (e.g. the "MNIST 5k" style preset: 500 per class).
    /// Refused if some class has fewer than `n`, because a silently unbalanced preset would bias every metric.
    public func firstPerClass(_ n: Int) throws -> ImageDataset {
        guard n >= 0 else {
            throw DataError.invalidArgument(dataset: source, argument: "n", value: "\(n)", reason: "must be ≥ 0")
        }
        let counts = classCounts
        if let c = counts.firstIndex(where: { $0 < n }) {
            throw DataError.invalidArgument(dataset: source, argument: "n", value: "\(n)",
                                            reason: "class \(c) of \(name) has only \(counts[c]) images")
        }
        var taken = [Int](repeating: 0, count: classCount)
        var picked: [Int] = []
        for (i, l) in labels.enumerated() where taken[l] < n {
            taken[l] += 1
            picked.append(i)
        }
        return try subset(picked, name: "\(name)[first \(n)/class]")
    }

    /// A class-balanced subset of `total` images: ⌊total / K⌋ per class, plus one more for the first
    /// total mod K classes. With `seed` nil the first images of each class are taken; with a seed, a
    /// seeded random choice within each class (same seed → same subset). Dataset order is kept either way.
    public func classBalancedSubset(total: Int, seed: UInt64? = nil) throws -> ImageDataset {
        guard total >= 0 && total <= count else {
            throw DataError.invalidArgument(dataset: source, argument: "total", value: "\(total)",
                                            reason: "\(name) has \(count) images")
        }
        let k = classCount
        let want = (0..<k).map { total / k + ($0 < total % k ? 1 : 0) }
        var byClass = [[Int]](repeating: [], count: k)
        for (i, l) in labels.enumerated() { byClass[l].append(i) }
        var rng = seed.map { RNG(seed: $0) }
        var picked: [Int] = []
        for c in 0..<k {
            guard byClass[c].count >= want[c] else {
                throw DataError.invalidArgument(dataset: source, argument: "total", value: "\(total)",
                                                reason: "needs \(want[c]) images of class \(c), \(name) has "
                                                    + "\(byClass[c].count)")
            }
            if rng != nil {
                let perm = rng!.permutation(byClass[c].count)
                picked += perm.prefix(want[c]).map { byClass[c][$0] }
            } else {
                picked += byClass[c].prefix(want[c])
            }
        }
        picked.sort()
        let how = seed.map { "seed \($0)" } ?? "first"
        return try subset(picked, name: "\(name)[balanced \(total), \(how)]")
    }
}
