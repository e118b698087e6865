// Errors thrown by the metrics. Each case names the offending value(s), so a message read in a log
// says what was wrong without the code at hand.

/// Bad input to a metric, or two things that must not be compared.
public enum MetricsError: Error, Equatable, CustomStringConvertible {
    /// `values.count` is not rows × columns.
    case shapeMismatch(what: String, expected: Int, actual: Int)
    /// Fewer rows than the metric needs (e.g. a covariance needs N ≥ 2).
    case tooFewRows(what: String, rows: Int, minimum: Int)
    /// A NaN or infinity at a flat index.
    case nonFinite(what: String, index: Int, value: Double)
    /// Two feature statistics with different feature networks, preprocessing or dimensions
    /// ("refused, not compared").
    case incompatible(field: String, first: String, second: String)
    /// A covariance with an eigenvalue clearly below zero (beyond rounding).
    case notPositiveSemidefinite(what: String, eigenvalue: Double, largest: Double)
    /// A probability outside [0, 1].
    case invalidProbability(row: Int, column: Int, value: Double)
    /// A probability row whose sum is not 1 (within 1e-4).
    case probabilitiesDoNotSumToOne(row: Int, sum: Double)
    /// Any other argument outside its allowed range.
    case invalidArgument(name: String, value: String, requirement: String)
    /// The symmetric eigensolver's QL iteration did not converge for an eigenvalue (60 iterations).
    case eigenvalueNotConverged(dimension: Int)

    public var description: String {
        switch self {
        case .shapeMismatch(let what, let expected, let actual):
            return "\(what): expected \(expected) values, got \(actual)"
        case .tooFewRows(let what, let rows, let minimum):
            return "\(what): \(rows) rows, need at least \(minimum)"
        case .nonFinite(let what, let index, let value):
            return "\(what): non-finite value \(value) at flat index \(index)"
        case .incompatible(let field, let first, let second):
            return "refused, not compared: \(field) differs ('\(first)' vs '\(second)')"
        case .notPositiveSemidefinite(let what, let eigenvalue, let largest):
            return "\(what) is not positive semi-definite: eigenvalue \(eigenvalue) (largest \(largest))"
        case .invalidProbability(let row, let column, let value):
            return "probability \(value) at row \(row), column \(column) is outside [0, 1]"
        case .probabilitiesDoNotSumToOne(let row, let sum):
            return "probabilities of row \(row) sum to \(sum), not 1"
        case .invalidArgument(let name, let value, let requirement):
            return "\(name) = \(value): \(requirement)"
        case .eigenvalueNotConverged(let dimension):
            return "symmetric eigen-decomposition of a \(dimension)×\(dimension) matrix did not converge (60 QL iterations for one eigenvalue)"
        }
    }
}
