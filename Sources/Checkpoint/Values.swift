// The value model of a checkpoint: plain Swift arrays with a shape, and scalar root attributes.
// Deliberately independent of the tensor library so that every stage (networks, optimiser state,
// EMA weights, the pixel queue, RNG state, FID statistics) can save through the same code.

/// The element types a checkpoint stores. The raw values are the names used in the checksum and
/// in error messages; they match NumPy's `np.dtype(...).name`.
public enum DType: String, Sendable, CaseIterable {
    case float32, float64, int64

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 8 }
}

/// A dense, row-major (C order, as in NumPy and PyTorch) array: a shape and its elements.
///
/// A 0-d scalar has `shape == []` and one element; a shape containing 0 holds no elements.
/// Equality is *bitwise* (NaN equals the same NaN, `-0.0 != 0.0`) because a checkpoint must give
/// back exactly the bits it was given, and that is what round-trip tests have to compare.
public struct ArrayValue: Sendable, Equatable, CustomStringConvertible {
    /// The elements, in one of the supported element types.
    public enum Storage: Sendable {
        case float32([Float])
        case float64([Double])
        case int64([Int64])
    }

    public let shape: [Int]
    public let storage: Storage

    /// Creates an array. Traps when the shape has a negative extent or does not match the element
    /// count: that is a programming error in the caller, not bad input (files are checked on load).
    public init(shape: [Int], storage: Storage) {
        precondition(shape.allSatisfy { $0 >= 0 }, "ArrayValue: negative extent in shape \(shape)")
        let expected = shape.reduce(1, *)
        precondition(expected == storage.count,
                     "ArrayValue: shape \(shape) needs \(expected) elements, got \(storage.count)")
        self.shape = shape
        self.storage = storage
    }

    public init(shape: [Int], _ values: [Float]) { self.init(shape: shape, storage: .float32(values)) }
    public init(shape: [Int], _ values: [Double]) { self.init(shape: shape, storage: .float64(values)) }
    public init(shape: [Int], _ values: [Int64]) { self.init(shape: shape, storage: .int64(values)) }

    /// 0-d scalars (shape `[]`).
    public static func scalar(_ x: Float) -> ArrayValue { ArrayValue(shape: [], [x]) }
    public static func scalar(_ x: Double) -> ArrayValue { ArrayValue(shape: [], [x]) }
    public static func scalar(_ x: Int64) -> ArrayValue { ArrayValue(shape: [], [x]) }

    /// Stores `UInt64` words (RNG state, hashes) bit-cast to `Int64`, because HDF5 files read by
    /// h5py/PyTorch handle signed 64-bit integers everywhere; read them back with `uint64Words`
    /// (or `.view(np.uint64)` in NumPy). The default shape is 1-d.
    public init(uint64Words words: [UInt64], shape: [Int]? = nil) {
        self.init(shape: shape ?? [words.count], storage: .int64(words.map { Int64(bitPattern: $0) }))
    }

    public var dtype: DType {
        switch storage {
        case .float32: return .float32
        case .float64: return .float64
        case .int64: return .int64
        }
    }

    /// Number of elements (the product of `shape`; 1 for a scalar).
    public var count: Int { storage.count }

    /// The elements if stored as Float32, else nil.
    public var float32Values: [Float]? { if case .float32(let v) = storage { return v } else { return nil } }
    /// The elements if stored as Float64, else nil.
    public var float64Values: [Double]? { if case .float64(let v) = storage { return v } else { return nil } }
    /// The elements if stored as Int64, else nil.
    public var int64Values: [Int64]? { if case .int64(let v) = storage { return v } else { return nil } }
    /// Int64 elements bit-cast back to `UInt64` (see `init(uint64Words:shape:)`), else nil.
    public var uint64Words: [UInt64]? { int64Values?.map { UInt64(bitPattern: $0) } }

    public static func == (a: ArrayValue, b: ArrayValue) -> Bool {
        guard a.shape == b.shape else { return false }
        switch (a.storage, b.storage) {
        case let (.float32(x), .float32(y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
        case let (.float64(x), .float64(y)): return x.map(\.bitPattern) == y.map(\.bitPattern)
        case let (.int64(x), .int64(y)): return x == y
        default: return false
        }
    }

    public var description: String { "\(dtype.rawValue)\(shape)" }
}

extension ArrayValue.Storage {
    /// Number of elements.
    public var count: Int {
        switch self {
        case .float32(let v): return v.count
        case .float64(let v): return v.count
        case .int64(let v): return v.count
        }
    }
}

/// A root attribute: small metadata next to the arrays (step counter, seed, `T`, resolved
/// configuration as JSON, code version). Strings are stored as variable-length UTF-8, which
/// h5py returns as Python `str`.
///
/// Equality is bitwise for `.double`, for the same reason as `ArrayValue`.
public enum AttributeValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)

    public static func == (a: AttributeValue, b: AttributeValue) -> Bool {
        switch (a, b) {
        case let (.string(x), .string(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x.bitPattern == y.bitPattern
        default: return false
        }
    }

    /// The kind's name, for error messages.
    public var kind: String {
        switch self {
        case .string: return "string"
        case .int: return "int64"
        case .double: return "float64"
        }
    }

    public var description: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        }
    }
}

/// Shape and element type of a stored array, as listed without reading its data.
public struct ArrayInfo: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let shape: [Int]
    public let dtype: DType

    public init(name: String, shape: [Int], dtype: DType) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    public var description: String { "\(name): \(dtype.rawValue)\(shape)" }
}
