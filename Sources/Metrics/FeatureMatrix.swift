// A row-major N × D matrix of features (one row per image) in Float32 or Float64.

/// Element types a feature matrix may hold. Both widen to Float64 for all metric maths.
public protocol FeatureScalar: BinaryFloatingPoint, Sendable {
    /// Writes `count` elements starting at `source` into `destination` as Float64.
    static func widen(_ source: UnsafePointer<Self>, count: Int, into destination: UnsafeMutablePointer<Double>)
}

extension Float: FeatureScalar {
    public static func widen(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutablePointer<Double>) {
        for i in 0..<count { destination[i] = Double(source[i]) }
    }
}

extension Double: FeatureScalar {
    public static func widen(_ source: UnsafePointer<Double>, count: Int, into destination: UnsafeMutablePointer<Double>) {
        destination.update(from: source, count: count)
    }
}

/// A row-major `rows` × `columns` matrix: features (N × D) or class probabilities (N × K).
public struct FeatureMatrix<Scalar: FeatureScalar>: Sendable {
    public let rows: Int
    public let columns: Int
    /// Row-major values, `rows · columns` of them.
    public let values: [Scalar]

    /// Throws unless rows, columns ≥ 1, `values.count == rows · columns` and every value is finite.
    public init(rows: Int, columns: Int, values: [Scalar], name: String = "feature matrix") throws {
        guard rows >= 1 else { throw MetricsError.tooFewRows(what: name, rows: rows, minimum: 1) }
        guard columns >= 1 else {
            throw MetricsError.invalidArgument(name: "\(name) columns", value: "\(columns)", requirement: "must be ≥ 1")
        }
        guard values.count == rows * columns else {
            throw MetricsError.shapeMismatch(what: "\(name) (\(rows)×\(columns))", expected: rows * columns, actual: values.count)
        }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw MetricsError.nonFinite(what: name, index: bad, value: Double(values[bad]))
        }
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// Rows `range` widened to Float64 into `destination` (row-major, `range.count × columns`).
    func widenRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Double>) {
        values.withUnsafeBufferPointer { buffer in
            Scalar.widen(buffer.baseAddress! + range.lowerBound * columns, count: range.count * columns, into: destination)
        }
    }

    /// The listed rows widened to Float64 (row-major, `indices.count × columns`).
    func widenRows(_ indices: [Int]) -> [Double] {
        var out = [Double](repeating: 0, count: indices.count * columns)
        out.withUnsafeMutableBufferPointer { dst in
            values.withUnsafeBufferPointer { src in
                for (r, i) in indices.enumerated() {
                    Scalar.widen(src.baseAddress! + i * columns, count: columns, into: dst.baseAddress! + r * columns)
                }
            }
        }
        return out
    }
}
