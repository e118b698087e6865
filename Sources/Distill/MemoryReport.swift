/// The bytes of the intermediate buffers the two IS_P2P forms allocate for one forward + backward, counted
/// from the code (float32 = 4 bytes, float64 = 8; B = `batchSize`, A = `pixels`, C = `channels`), all alive at
/// the peak — the "counted" columns of the memory table of docs/losses.md (Pipeline's `isP2PMemoryRows`
/// measures the process's peak beside them):
///
///   direct  = 4·(2·BAC) [normalised maps] + 4·2·(BA)² [R^T, R^S] + 8·2·(BA)² [Float64 log-probabilities
///             in klDivergence] + 8·B²A [row KLs] + 4·(BA)² [∂L/∂R^S] + 4·2·BAC [∂ of the map and its
///             normalisation];
///   blocked = 4·(2·BAC) + 4·2·(b·A)·(BA) [one block of relations, G in place] + 4·BAC [stored ∂L/∂F̄^S]
///             + 4·2·BAC [backward], with b = min(blockSize, B).
///
/// The direct form grows as B², the blocked one linearly in B at fixed A, C, b.
public func isP2PCountedBytes(batchSize: Int, pixels: Int, channels: Int, blockSize: Int) -> (direct: Double, blocked: Double) {
    let (bb, a, c) = (Double(batchSize), Double(pixels), Double(channels))
    let bac = bb * a * c, n = bb * a
    let direct = 4 * 2 * bac + 4 * 2 * n * n + 8 * 2 * n * n + 8 * bb * bb * a + 4 * n * n + 4 * 2 * bac
    let blk = Double(min(blockSize, batchSize))
    let blocked = 4 * 2 * bac + 4 * 2 * (blk * a) * n + 4 * bac + 4 * 2 * bac
    return (direct, blocked)
}
