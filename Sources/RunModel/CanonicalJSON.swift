import Foundation

/// Encodes a Codable configuration as canonical JSON (sorted keys) for checkpoints and hashing.
public func canonicalJSON<T: Encodable>(_ v: T) -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    return String(data: try! enc.encode(v), encoding: .utf8)!
}
