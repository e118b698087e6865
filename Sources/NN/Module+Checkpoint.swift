import Tensor
import Checkpoint

/// Moving a module's state in and out of checkpoint arrays (docs/checkpoint-format.md):
/// `params/<name>` for parameters (frozen ones included, as in a PyTorch state_dict) and
/// `buffers/<name>` for BatchNorm statistics, all in PyTorch layouts.
extension Module {
    /// The module's state as checkpoint arrays under `params/` and `buffers/` (or a custom prefix).
    public func stateArrays(prefix: String = "") -> [String: ArrayValue] {
        var out: [String: ArrayValue] = [:]
        for (n, t) in namedParameters() { out[prefix + "params/" + n] = ArrayValue(shape: t.shape, t.array) }
        for (n, t) in namedBuffers() { out[prefix + "buffers/" + n] = ArrayValue(shape: t.shape, t.array) }
        return out
    }

    /// Loads every parameter and buffer from `checkpoint`; a missing name or a shape mismatch is an
    /// error naming the file and the tensor. Names in the file that the module lacks are errors too
    /// unless `strict` is false.
    public func loadState(from checkpoint: Checkpoint, prefix: String = "", strict: Bool = true) throws {
        let file = checkpoint.sourcePath ?? "<in memory>"
        var expected = Set<String>()
        for (kind, named) in [("params/", namedParameters()), ("buffers/", namedBuffers())] {
            for (n, t) in named {
                let key = prefix + kind + n
                expected.insert(key)
                guard let v = checkpoint.arrays[key] else {
                    throw CheckpointError(.missing, path: file, "no array '\(key)' for module tensor \(n) of shape \(t.shape)")
                }
                guard v.shape == t.shape, let f = v.float32Values else {
                    throw CheckpointError(.invalidValue, path: file,
                                          "array '\(key)' has shape \(v.shape) and dtype \(v.dtype.rawValue); the module expects float32 \(t.shape)")
                }
                f.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) }
            }
        }
        if strict {
            let extra = checkpoint.arrays.keys.filter { $0.hasPrefix(prefix + "params/") || $0.hasPrefix(prefix + "buffers/") }.filter { !expected.contains($0) }
            if !extra.isEmpty {
                throw CheckpointError(.invalidValue, path: file, "arrays the module does not have: \(extra.sorted().prefix(5).joined(separator: ", "))")
            }
        }
    }
}
