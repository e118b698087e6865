import Foundation

// The file form of the perceptual baseline's per-channel weights (docs/losses.md, "PD + perceptual"). The loss
// itself (`classifierPerceptualLoss`, Distill) takes the weights as values; reading and checking the file is
// here, because the math layers do no file I/O (docs/architecture.md, "Rules").

/// Reads per-layer, per-channel perceptual weights from a JSON file:
/// `{"format": "rdd-perceptual-weights", "version": 1, "layers": [[w_0, w_1, …], …]}` — one array per
/// layer, in the order the feature maps are passed, each with that layer's channel count; values must
/// be finite and ≥ 0 (LPIPS clamps its 1×1 "lin" weights the same way).
public func loadPerceptualWeights(from url: URL) throws -> [[Float]] {
    let data: Data
    do { data = try Data(contentsOf: url) } catch { throw PipelineError("perceptual weights: cannot read \(url.path): \(error.localizedDescription)") }
    return try parsePerceptualWeights(data, source: url.path)
}

/// Parses the JSON form described at `loadPerceptualWeights`; errors name `source`, the layer and the value.
public func parsePerceptualWeights(_ data: Data, source: String = "data") throws -> [[Float]] {
    struct File: Decodable { let format: String; let version: Int; let layers: [[Double]] }
    func problem(_ m: String) -> PipelineError { PipelineError("perceptual weights: \(source)\(m)") }
    let f: File
    do { f = try JSONDecoder().decode(File.self, from: data) } catch {
        throw problem(" is not {\"format\", \"version\", \"layers\"} JSON: \(error)")
    }
    guard f.format == "rdd-perceptual-weights" else { throw problem(": format is '\(f.format)', expected 'rdd-perceptual-weights'") }
    guard f.version == 1 else { throw problem(": version \(f.version) is not supported (1)") }
    guard !f.layers.isEmpty else { throw problem(": no layers") }
    for (l, w) in f.layers.enumerated() {
        guard !w.isEmpty else { throw problem(": layer \(l) is empty") }
        if let i = w.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
            throw problem(": layer \(l) weight \(i) = \(w[i]) is not a finite value ≥ 0")
        }
    }
    return f.layers.map { $0.map(Float.init) }
}
