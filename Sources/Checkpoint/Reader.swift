// Reading a checkpoint: list datasets without reading data, read root attributes, read arrays,
// and verify the format version and checksum. Everything that can be wrong with a file (missing,
// not HDF5, truncated, foreign layout, unsupported types, modified data) becomes a thrown
// `CheckpointError` naming the file and the object.

import CHDF5
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens `path` read-only. Checks existence first so a missing file says so plainly instead of
/// surfacing as an HDF5 open failure.
func openForReading(_ path: String) throws -> H5Handle {
    var info = stat()
    if stat(path, &info) != 0 { throw posixError("cannot read the checkpoint file", path: path) }
    if (info.st_mode & S_IFMT) == S_IFDIR {
        throw CheckpointError(.io, path: path, "is a directory, not a checkpoint file")
    }
    let fapl = try H5Handle(H5Pcreate(swh5_p_file_access()), "H5Pcreate", "making file-access properties",
                            path: path, close: H5Pclose)
    try h5check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), "H5Pset_fclose_degree",
                "making file-access properties", path: path)
    return try H5Handle(H5Fopen(path, swh5_f_acc_rdonly(), fapl.id), "H5Fopen",
                        "opening the file (is it a complete HDF5 file? it may be truncated or corrupted)",
                        path: path, close: H5Fclose)
}

/// Every dataset in the file with its shape and element type, sorted by UTF-8 name bytes, without
/// reading any data. Groups are walked by index (no callbacks, no versioned HDF5 API).
func listDatasets(_ file: H5Handle, path: String) throws -> [ArrayInfo] {
    var found: [ArrayInfo] = []
    let root = try H5Handle(H5Gopen2(file.id, "/", swh5_p_default()), "H5Gopen2", "opening the root group",
                            path: path, close: H5Gclose)
    try collectDatasets(in: root, prefix: "", depth: 0, into: &found, path: path)
    return found.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
}

private func collectDatasets(in group: H5Handle, prefix: String, depth: Int, into found: inout [ArrayInfo],
                             path: String) throws {
    let where_ = prefix.isEmpty ? "the root group" : "group '\(prefix)'"
    // Hard links can form cycles in HDF5; no real checkpoint nests anywhere near this deep.
    guard depth < 64 else {
        throw CheckpointError(.unsupportedType, path: path, "\(where_) is nested more than 64 levels deep (a link cycle?)")
    }
    var info = H5G_info_t()
    try h5check(H5Gget_info(group.id, &info), "H5Gget_info", "listing \(where_)", path: path)
    for index in 0..<info.nlinks {
        let name = try linkName(group, index: index, where_: where_, path: path)
        let full = prefix.isEmpty ? name : "\(prefix)/\(name)"
        let object = try H5Handle(H5Oopen(group.id, name, swh5_p_default()), "H5Oopen", "opening '\(full)'",
                                  path: path, close: H5Oclose)
        let kind = H5Iget_type(object.id)
        if kind == H5I_GROUP {
            try collectDatasets(in: object, prefix: full, depth: depth + 1, into: &found, path: path)
        } else if kind == H5I_DATASET {
            found.append(try datasetInfo(object, name: full, path: path))
        } else {
            throw CheckpointError(.unsupportedType, path: path,
                                  "'\(full)' is neither a group nor a dataset (HDF5 object type \(kind.rawValue))")
        }
    }
}

private func linkName(_ group: H5Handle, index: hsize_t, where_: String, path: String) throws -> String {
    let doing = "reading the name of link \(index) in \(where_)"
    let length = try h5check(H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0,
                                                swh5_p_default()), "H5Lget_name_by_idx", doing, path: path)
    var buffer = [CChar](repeating: 0, count: Int(length) + 1)
    try h5check(H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count,
                                   swh5_p_default()), "H5Lget_name_by_idx", doing, path: path)
    guard let name = String(validatingCString: buffer) else {
        throw CheckpointError(.invalidName, path: path, "a link name in \(where_) is not valid UTF-8")
    }
    return name
}

private func datasetInfo(_ dset: H5Handle, name: String, path: String) throws -> ArrayInfo {
    let what = "dataset '\(name)'"
    let type = try H5Handle(H5Dget_type(dset.id), "H5Dget_type", "reading the type of \(what)",
                            path: path, close: H5Tclose)
    let space = try H5Handle(H5Dget_space(dset.id), "H5Dget_space", "reading the shape of \(what)",
                             path: path, close: H5Sclose)
    return ArrayInfo(name: name, shape: try readShape(space, path: path, what: what),
                     dtype: try dtype(of: type, path: path, what: what))
}

/// Reads one dataset listed by `listDatasets`, converting to the native element type.
func readArray(_ file: H5Handle, _ info: ArrayInfo, path: String) throws -> ArrayValue {
    let doing = "reading dataset '\(info.name)' (\(info.dtype.rawValue)\(info.shape))"
    let dset = try H5Handle(H5Dopen2(file.id, info.name, swh5_p_default()), "H5Dopen2", doing,
                            path: path, close: H5Dclose)
    let n = info.count
    func load<T>(_ zero: T) throws -> [T] {
        guard n > 0 else { return [] }
        return try [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            try h5check(H5Dread(dset.id, memoryType(info.dtype), swh5_s_all(), swh5_s_all(), swh5_p_default(),
                                buffer.baseAddress), "H5Dread", doing, path: path)
            initialized = n
        }
    }
    switch info.dtype {
    case .float32: return ArrayValue(shape: info.shape, storage: .float32(try load(Float(0))))
    case .float64: return ArrayValue(shape: info.shape, storage: .float64(try load(Double(0))))
    case .int64: return ArrayValue(shape: info.shape, storage: .int64(try load(Int64(0))))
    }
}

/// All attributes of the root group, by name. Each must be a scalar string, integer or float.
func readRootAttributes(_ file: H5Handle, path: String) throws -> [String: AttributeValue] {
    final class Names { var list: [String] = [] }
    let names = Names()
    let collect: H5A_operator2_t = { _, name, _, context in
        guard let name, let context else { return -1 }
        Unmanaged<Names>.fromOpaque(context).takeUnretainedValue().list.append(String(cString: name))
        return 0
    }
    var index: hsize_t = 0
    try h5check(H5Aiterate2(file.id, H5_INDEX_NAME, H5_ITER_INC, &index, collect,
                            Unmanaged.passUnretained(names).toOpaque()),
                "H5Aiterate2", "listing the root attributes", path: path)
    var result: [String: AttributeValue] = [:]
    for name in names.list { result[name] = try readAttribute(file, name: name, path: path) }
    return result
}

private func readAttribute(_ file: H5Handle, name: String, path: String) throws -> AttributeValue {
    let what = "attribute '\(name)'"
    let doing = "reading \(what)"
    let attr = try H5Handle(H5Aopen(file.id, name, swh5_p_default()), "H5Aopen", doing, path: path, close: H5Aclose)
    let type = try H5Handle(H5Aget_type(attr.id), "H5Aget_type", doing, path: path, close: H5Tclose)
    let space = try H5Handle(H5Aget_space(attr.id), "H5Aget_space", doing, path: path, close: H5Sclose)
    let shape = try readShape(space, path: path, what: what)
    guard shape.isEmpty else {
        throw CheckpointError(.unsupportedType, path: path, "\(what) has shape \(shape); only scalar attributes are supported")
    }
    switch H5Tget_class(type.id) {
    case H5T_INTEGER:
        if H5Tget_sign(type.id) != H5T_SGN_2 && H5Tget_size(type.id) >= 8 {
            throw CheckpointError(.unsupportedType, path: path,
                                  "\(what) is an unsigned 64-bit integer, which may not fit in int64")
        }
        var x: Int64 = 0  // HDF5 converts narrower integers to int64 exactly
        try h5check(H5Aread(attr.id, swh5_native_int64(), &x), "H5Aread", doing, path: path)
        return .int(x)
    case H5T_FLOAT:
        var x: Double = 0  // float32 and float64 both convert to double exactly
        try h5check(H5Aread(attr.id, swh5_native_double(), &x), "H5Aread", doing, path: path)
        return .double(x)
    case H5T_STRING:
        return .string(try readStringAttribute(attr, type: type, what: what, path: path))
    default:
        throw CheckpointError(.unsupportedType, path: path,
                              "\(what) has HDF5 type class \(H5Tget_class(type.id).rawValue); supported: string, integer, float")
    }
}

/// Reads a variable-length (h5py `str`) or fixed-length (NumPy `bytes_`) string attribute.
private func readStringAttribute(_ attr: H5Handle, type: H5Handle, what: String, path: String) throws -> String {
    let doing = "reading \(what)"
    let bytes: [UInt8]
    if try h5check(H5Tis_variable_str(type.id), "H5Tis_variable_str", doing, path: path) > 0 {
        let memType = try makeUTF8StringType(path: path)
        var pointer: UnsafeMutablePointer<CChar>? = nil
        try h5check(H5Aread(attr.id, memType.id, &pointer), "H5Aread", doing, path: path)
        defer { if let pointer { H5free_memory(pointer) } }
        bytes = pointer.map { Array(UnsafeBufferPointer(start: $0, count: strlen($0))).map { UInt8(bitPattern: $0) } } ?? []
    } else {
        let size = H5Tget_size(type.id)
        let memType = try H5Handle(H5Tcopy(type.id), "H5Tcopy", doing, path: path, close: H5Tclose)
        var buffer = [UInt8](repeating: 0, count: size)
        try h5check(H5Aread(attr.id, memType.id, &buffer), "H5Aread", doing, path: path)
        bytes = Array(buffer.prefix { $0 != 0 })
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw CheckpointError(.invalidValue, path: path, "\(what) is not valid UTF-8 text")
    }
    return text
}
