/// Shape arithmetic and the checks every op runs before touching memory.
///
/// Ops treat a shape mismatch as a programming error: they stop with a message that names the op
/// and both shapes (`ShapeError.description`). Code that handles user input validates first with
/// the throwing functions here (or its own checks), so users see an error, never a trap.
public struct ShapeError: Error, CustomStringConvertible, Equatable {
    public let op: String
    public let message: String
    public var description: String { "\(op): \(message)" }
    public init(_ op: String, _ message: String) { self.op = op; self.message = message }
}

@inline(__always) func fmt(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

public enum Shape {
    /// Number of elements of a shape (1 for a scalar `[]`).
    @inlinable public static func count(_ s: [Int]) -> Int { s.reduce(1, *) }

    /// NumPy broadcasting of two shapes, or an error naming the op and both shapes.
    public static func broadcast(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
                throw ShapeError(op, "shapes \(fmt(a)) and \(fmt(b)) do not broadcast (axis \(i): \(da) vs \(db))")
            }
        }
        return out
    }

    /// Requires two shapes to be equal.
    public static func same(_ a: [Int], _ b: [Int], op: String) throws {
        if a != b { throw ShapeError(op, "shapes \(fmt(a)) and \(fmt(b)) must be equal") }
    }

    /// Normalises a possibly negative axis for a tensor of rank `rank`.
    public static func axis(_ axis: Int, rank: Int, op: String) throws -> Int {
        let a = axis < 0 ? axis + rank : axis
        if a < 0 || a >= rank { throw ShapeError(op, "axis \(axis) out of range for rank \(rank)") }
        return a
    }

    /// Splits a shape around `axis` into (outer, n, inner) element counts.
    public static func split(_ s: [Int], axis: Int) -> (outer: Int, n: Int, inner: Int) {
        (count(Array(s[..<axis])), s[axis], count(Array(s[(axis + 1)...])))
    }
}

/// Stops with the error's message: the one way ops report a programming error.
@inline(never)
func shapeFailure(_ e: Error) -> Never { fatalError("shape error: \(e)") }

/// Runs a throwing shape check inside a non-throwing op.
@inline(__always)
func checked<T>(_ body: () throws -> T) -> T {
    do { return try body() } catch { shapeFailure(error) }
}
