// Checkpoint: named arrays plus root attributes in one HDF5 file, written atomically and verified
// by a checksum on load. The layout and naming conventions are in docs/checkpoint-format.md.

import Foundation

/// The contents of one checkpoint file: arrays by '/'-separated name ("params/down.0.conv1.weight",
/// "optimizer/adam/m/...", "rng/state") and scalar root attributes ("step", "config_json", ...).
///
/// It is a plain value: build it, `save(to:)` it; `load(from:)` gives it back bit for bit.
/// ```
/// var ckpt = Checkpoint()
/// ckpt.arrays["params/fc.weight"] = ArrayValue(shape: [2, 3], weights)
/// ckpt.attributes["step"] = .int(1000)
/// try ckpt.save(to: "run/ckpt.h5")
/// let back = try Checkpoint.load(from: "run/ckpt.h5", prefix: "params")
/// ```
public struct Checkpoint: Sendable {
    public var arrays: [String: ArrayValue]
    /// Root attributes set by the caller. The format's own `rdd_format_version` and `rdd_checksum`
    /// are never in here: they are written by `save` and checked and removed by `load`.
    public var attributes: [String: AttributeValue]
    /// The file this value was loaded from, used to name it in accessor errors; nil if built in memory.
    public private(set) var sourcePath: String?

    public init(arrays: [String: ArrayValue] = [:], attributes: [String: AttributeValue] = [:]) {
        self.arrays = arrays
        self.attributes = attributes
        self.sourcePath = nil
    }

    // MARK: Saving and loading

    /// Writes the checkpoint to `path` atomically: a temporary file in the same directory is written,
    /// flushed, fsynced and renamed over `path`; on any failure `path` is left as it was and the
    /// temporary file is removed. Names are validated before anything is written.
    public func save(to path: String) throws {
        try writeAtomically(arrays: arrays, attributes: attributes, to: path)
    }

    /// Reads a checkpoint. With a `prefix` ("params" or "params/"), only arrays named `prefix` or
    /// `prefix/...` are kept; all attributes are always read. With `verifyChecksum` (the default),
    /// every dataset is read and checked against `rdd_checksum` even when only a prefix is kept,
    /// so a corrupted file is refused whatever part of it is asked for.
    public static func load(from path: String, prefix: String? = nil, verifyChecksum: Bool = true) throws -> Checkpoint {
        let keep = prefixMatcher(prefix)
        return try withHDF5 {
            let file = try openForReading(path)
            var attributes = try readRootAttributes(file, path: path)
            let stored = try takeFormatHeader(&attributes, path: path)
            let infos = try listDatasets(file, path: path)
            var sum = CheckpointChecksum()
            var arrays: [String: ArrayValue] = [:]
            for info in infos where verifyChecksum || keep(info.name) {
                let value = try readArray(file, info, path: path)
                if verifyChecksum { sum.add(name: info.name, value: value) }
                if keep(info.name) { arrays[info.name] = value }
            }
            if verifyChecksum && sum.value != stored {
                throw CheckpointError(.checksumMismatch, path: path,
                                      "checksum mismatch: rdd_checksum = \(stored) but the \(infos.count) datasets "
                                      + "give \(sum.value); the file was modified or corrupted")
            }
            var checkpoint = Checkpoint(arrays: arrays, attributes: attributes)
            checkpoint.sourcePath = path
            return checkpoint
        }
    }

    /// Lists every array's name, shape and dtype and reads the attributes, without reading any
    /// array data or verifying the checksum (cheap, for `--dry-run`-style inspection).
    public static func inspect(_ path: String) throws -> CheckpointInfo {
        try withHDF5 {
            let file = try openForReading(path)
            var attributes = try readRootAttributes(file, path: path)
            let stored = try takeFormatHeader(&attributes, path: path)
            return CheckpointInfo(path: path, arrays: try listDatasets(file, path: path),
                                  attributes: attributes, storedChecksum: stored)
        }
    }

    // MARK: Convenience access with errors that name the file and the entry

    /// The arrays named `prefix/...`, keyed by the rest of the name ("params" → "fc.weight").
    public func arrays(under prefix: String) -> [String: ArrayValue] {
        let p = prefix.hasSuffix("/") ? prefix : prefix + "/"
        var result: [String: ArrayValue] = [:]
        for (name, value) in arrays where name.hasPrefix(p) { result[String(name.dropFirst(p.count))] = value }
        return result
    }

    /// Stores `values` as `prefix/<key>` (the inverse of `arrays(under:)`).
    public mutating func setArrays(_ values: [String: ArrayValue], under prefix: String) {
        let p = prefix.hasSuffix("/") ? prefix : prefix + "/"
        for (key, value) in values { arrays[p + key] = value }
    }

    /// The array `name`, checked against an expected dtype and shape when given.
    public func array(_ name: String, dtype: DType? = nil, shape: [Int]? = nil) throws -> ArrayValue {
        guard let value = arrays[name] else {
            throw CheckpointError(.missing, path: pathForErrors, "has no array '\(name)' (it has \(arrays.count) arrays)")
        }
        if let dtype, value.dtype != dtype {
            throw CheckpointError(.missing, path: pathForErrors,
                                  "array '\(name)' has dtype \(value.dtype.rawValue), expected \(dtype.rawValue)")
        }
        if let shape, value.shape != shape {
            throw CheckpointError(.missing, path: pathForErrors, "array '\(name)' has shape \(value.shape), expected \(shape)")
        }
        return value
    }

    /// The string attribute `key`.
    public func string(_ key: String) throws -> String {
        let value = try attribute(key)
        guard case .string(let s) = value else { throw kindMismatch(key, value, expected: "string") }
        return s
    }

    /// The integer attribute `key`.
    public func int(_ key: String) throws -> Int64 {
        let value = try attribute(key)
        guard case .int(let x) = value else { throw kindMismatch(key, value, expected: "int64") }
        return x
    }

    /// The floating-point attribute `key` (an integer attribute is not silently converted).
    public func double(_ key: String) throws -> Double {
        let value = try attribute(key)
        guard case .double(let x) = value else { throw kindMismatch(key, value, expected: "float64") }
        return x
    }

    /// Stores `value` as a JSON string attribute (sorted keys, so equal values give equal files).
    public mutating func setJSON<T: Encodable>(_ value: T, forKey key: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        attributes[key] = .string(String(decoding: data, as: UTF8.self))
    }

    /// Decodes the JSON string attribute `key`.
    public func json<T: Decodable>(_ type: T.Type, forKey key: String) throws -> T {
        let text = try string(key)
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw CheckpointError(.invalidValue, path: pathForErrors,
                                  "attribute '\(key)' is not valid JSON for \(T.self): \(error)")
        }
    }

    private var pathForErrors: String { sourcePath ?? "<in memory>" }

    private func attribute(_ key: String) throws -> AttributeValue {
        guard let value = attributes[key] else {
            throw CheckpointError(.missing, path: pathForErrors, "has no attribute '\(key)'")
        }
        return value
    }

    private func kindMismatch(_ key: String, _ value: AttributeValue, expected: String) -> CheckpointError {
        CheckpointError(.missing, path: pathForErrors, "attribute '\(key)' is \(value.kind) \(value), expected \(expected)")
    }
}

/// What `Checkpoint.inspect` reports about a file without reading array data.
public struct CheckpointInfo: Sendable {
    public let path: String
    /// Every array, sorted by name (UTF-8 byte order).
    public let arrays: [ArrayInfo]
    /// The caller's root attributes (without `rdd_format_version` and `rdd_checksum`).
    public let attributes: [String: AttributeValue]
    /// The stored `rdd_checksum` (not verified by `inspect`).
    public let storedChecksum: UInt32
}

/// A predicate for "name is `prefix` or lies under `prefix/`"; everything when `prefix` is nil or empty.
private func prefixMatcher(_ prefix: String?) -> (String) -> Bool {
    var p = prefix ?? ""
    while p.hasSuffix("/") { p.removeLast() }
    if p.isEmpty { return { _ in true } }
    let under = p + "/"
    return { $0 == p || $0.hasPrefix(under) }
}

/// Checks `rdd_format_version` and returns the stored `rdd_checksum`, removing both from `attributes`.
private func takeFormatHeader(_ attributes: inout [String: AttributeValue], path: String) throws -> UInt32 {
    guard let version = attributes.removeValue(forKey: formatVersionAttribute) else {
        throw CheckpointError(.notACheckpoint, path: path,
                              "has no root attribute '\(formatVersionAttribute)': not an rdd checkpoint")
    }
    guard version == .int(currentFormatVersion) else {
        throw CheckpointError(.notACheckpoint, path: path,
                              "root attribute '\(formatVersionAttribute)' is \(version); this code reads version \(currentFormatVersion)")
    }
    guard let checksum = attributes.removeValue(forKey: checksumAttribute) else {
        throw CheckpointError(.notACheckpoint, path: path, "has no root attribute '\(checksumAttribute)'")
    }
    guard case .int(let value) = checksum, let crc = UInt32(exactly: value) else {
        throw CheckpointError(.notACheckpoint, path: path,
                              "root attribute '\(checksumAttribute)' is \(checksum); expected an integer CRC-32 in 0...\(UInt32.max)")
    }
    return crc
}
