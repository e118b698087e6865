// Thin, checked access to the HDF5 C library: one global lock, silenced automatic error printing,
// failure codes turned into `CheckpointError`s that name the HDF5 call and the library's own
// innermost reason, and identifiers that close themselves.
//
// Only functions whose names are stable from HDF5 1.10 through 1.14 are used (no versioned macros
// such as H5Oget_info or H5Literate), so a newer system HDF5 does not break the build.

import CHDF5
import Foundation

/// The system HDF5 is the serial, non-thread-safe build: any two calls from different threads can
/// corrupt its global state. Every public entry point of this module holds this lock for its whole
/// HDF5 session, so checkpoints may be saved from background threads.
private let hdf5Lock = NSLock()

/// Silences HDF5's automatic printing of its error stack to stderr (we report errors ourselves).
/// Runs once, under the lock, before the first HDF5 call.
private let silenceHDF5Errors: Void = {
    _ = H5open()
    _ = H5Eset_auto2(swh5_e_default(), nil, nil)
}()

/// Runs `body` holding the module's HDF5 lock, with error printing silenced.
func withHDF5<T>(_ body: () throws -> T) rethrows -> T {
    hdf5Lock.lock()
    defer { hdf5Lock.unlock() }
    _ = silenceHDF5Errors
    return try body()
}

/// The HDF5 library's own description of the most specific error on its default error stack
/// (e.g. "truncated file: eof = 1024, ... stored_eof = 4096"), or "" if the stack is empty.
/// Must be called right after the failing call: the next API call clears the stack.
private func hdf5ErrorDetail() -> String {
    final class Messages { var list: [String] = [] }
    let messages = Messages()
    let walker: H5E_walk2_t = { _, entry, context in
        guard let entry, let context else { return 0 }
        let box = Unmanaged<Messages>.fromOpaque(context).takeUnretainedValue()
        if let desc = entry.pointee.desc, let text = String(validatingCString: desc), !text.isEmpty {
            box.list.append(text)
        }
        return 0
    }
    _ = H5Ewalk2(swh5_e_default(), H5E_WALK_DOWNWARD, walker, Unmanaged.passUnretained(messages).toOpaque())
    _ = H5Eclear2(swh5_e_default())
    // Walking downward goes from the API function to the innermost cause; the last one is the
    // most specific, the first one says what the API call was doing. Show both when they differ.
    guard let innermost = messages.list.last else { return "" }
    if let outer = messages.list.first, outer != innermost { return " (HDF5: \(outer): \(innermost))" }
    return " (HDF5: \(innermost))"
}

/// Returns `result` if it is a success code (>= 0); otherwise throws a `.hdf5` error naming the
/// call, what we were doing, and HDF5's reason. `hid_t`, `herr_t` and `htri_t` all signal failure
/// by a negative value.
@discardableResult
func h5check<T: BinaryInteger>(_ result: T, _ call: String, _ doing: @autoclosure () -> String,
                               path: String) throws -> T {
    if result >= 0 { return result }
    throw CheckpointError(.hdf5, path: path, "HDF5 call \(call) failed while \(doing())\(hdf5ErrorDetail())")
}

/// An HDF5 identifier that is closed when the last reference goes away, so early `throw`s never
/// leak identifiers (a leaked file identifier would keep the file open and block the rename).
final class H5Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t
    private var isOpen = true

    /// Wraps the result of an HDF5 call that returns an identifier, throwing if it failed.
    init(_ id: hid_t, _ call: String, _ doing: @autoclosure () -> String, path: String,
         close closer: @escaping (hid_t) -> herr_t) throws {
        self.id = try h5check(id, call, doing(), path: path)
        self.closer = closer
    }

    /// Closes now and reports failure (used for the file, where closing flushes data to disk).
    func close(_ call: String, path: String) throws {
        guard isOpen else { return }
        isOpen = false
        try h5check(closer(id), call, "closing", path: path)
    }

    deinit {
        if isOpen { _ = closer(id) }
    }
}

/// A scalar (0-d) or simple dataspace for `shape`.
func makeDataspace(_ shape: [Int], path: String, name: String) throws -> H5Handle {
    if shape.isEmpty {
        return try H5Handle(H5Screate(H5S_SCALAR), "H5Screate", "creating the dataspace of '\(name)'",
                            path: path, close: H5Sclose)
    }
    let dims = shape.map { hsize_t($0) }
    return try H5Handle(H5Screate_simple(Int32(dims.count), dims, nil), "H5Screate_simple",
                        "creating the dataspace of '\(name)' with shape \(shape)", path: path, close: H5Sclose)
}

/// The shape of a dataspace: `[]` for a scalar, the extents for a simple one. Null dataspaces
/// (h5py's `Empty`) have no values and are refused.
func readShape(_ space: H5Handle, path: String, what: String) throws -> [Int] {
    let kind = H5Sget_simple_extent_type(space.id)
    if kind == H5S_SCALAR { return [] }
    guard kind == H5S_SIMPLE else {
        throw CheckpointError(.unsupportedType, path: path,
                              "\(what) has a null or unknown dataspace (no values); expected a scalar or an array")
    }
    let rank = Int(try h5check(H5Sget_simple_extent_ndims(space.id), "H5Sget_simple_extent_ndims",
                               "reading the rank of \(what)", path: path))
    var dims = [hsize_t](repeating: 0, count: rank)
    try h5check(H5Sget_simple_extent_dims(space.id, &dims, nil), "H5Sget_simple_extent_dims",
                "reading the shape of \(what)", path: path)
    var shape: [Int] = []
    var total = 1
    for d in dims {
        guard d <= hsize_t(Int.max), case (let t, false) = total.multipliedReportingOverflow(by: Int(d)) else {
            throw CheckpointError(.unsupportedType, path: path, "\(what) has an impossibly large shape \(dims)")
        }
        total = t
        shape.append(Int(d))
    }
    return shape
}

/// Maps an HDF5 datatype to our element type, or explains why it is not supported.
func dtype(of type: H5Handle, path: String, what: String) throws -> DType {
    let cls = H5Tget_class(type.id)
    let size = H5Tget_size(type.id)
    if cls == H5T_FLOAT && size == 4 { return .float32 }
    if cls == H5T_FLOAT && size == 8 { return .float64 }
    if cls == H5T_INTEGER && size == 8 && H5Tget_sign(type.id) == H5T_SGN_2 { return .int64 }
    let name: String
    switch cls {
    case H5T_FLOAT: name = "\(size * 8)-bit float"
    case H5T_INTEGER: name = "\(H5Tget_sign(type.id) == H5T_SGN_2 ? "" : "u")int\(size * 8)"
    case H5T_STRING: name = "string"
    case H5T_COMPOUND: name = "compound"
    case H5T_ENUM: name = "enum (e.g. bool)"
    default: name = "HDF5 type class \(cls.rawValue)"
    }
    throw CheckpointError(.unsupportedType, path: path,
                          "\(what) has element type \(name); supported: float32, float64, int64")
}

/// The HDF5 memory type (native) and on-disk type (little-endian) of an element type.
func memoryType(_ dtype: DType) -> hid_t {
    switch dtype {
    case .float32: return swh5_native_float()
    case .float64: return swh5_native_double()
    case .int64: return swh5_native_int64()
    }
}

func fileType(_ dtype: DType) -> hid_t {
    switch dtype {
    case .float32: return swh5_ieee_f32le()
    case .float64: return swh5_ieee_f64le()
    case .int64: return swh5_std_i64le()
    }
}

/// A variable-length UTF-8 string type (h5py reads it as `str`).
func makeUTF8StringType(path: String) throws -> H5Handle {
    let type = try H5Handle(H5Tcopy(swh5_c_s1()), "H5Tcopy", "making a string type", path: path, close: H5Tclose)
    try h5check(H5Tset_size(type.id, swh5_variable()), "H5Tset_size", "making a string type", path: path)
    try h5check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset", "making a string type", path: path)
    return type
}
