// Writing a checkpoint atomically: validate everything first, write a complete HDF5 file under a
// temporary name in the destination's directory, make it durable, then rename it over the
// destination. A reader therefore sees either the old file or the new one, never a partial one,
// and a failure at any step leaves the destination untouched and no temporary file behind.

import CHDF5
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Root attributes the format reserves for itself; callers may not set them.
let formatVersionAttribute = "rdd_format_version"
let checksumAttribute = "rdd_checksum"
let currentFormatVersion: Int64 = 1

/// Checks array names and attributes before anything touches the disk.
///
/// Array names are '/'-separated paths of non-empty components (not "." or ".."), because each
/// component becomes an HDF5 group or dataset; a name may not also be an ancestor of another name
/// (a dataset cannot be a group). Strings may not contain NUL, which HDF5 would silently cut at.
func validate(arrays: [String: ArrayValue], attributes: [String: AttributeValue], path: String) throws {
    for name in arrays.keys {
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        if name.isEmpty || components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
            || name.utf8.contains(0) {
            throw CheckpointError(.invalidName, path: path,
                                  "array name '\(name)' is invalid: it must be '/'-separated non-empty components, "
                                  + "none of them '.' or '..', without NUL (e.g. 'params/down.0.conv1.weight')")
        }
        for k in 1..<components.count {
            let ancestor = components[..<k].joined(separator: "/")
            if arrays[ancestor] != nil {
                throw CheckpointError(.invalidName, path: path,
                                      "array name '\(name)' needs '\(ancestor)' to be a group, but '\(ancestor)' is also an array")
            }
        }
    }
    for (name, value) in attributes {
        if name.isEmpty || name.utf8.contains(0) {
            throw CheckpointError(.invalidName, path: path, "attribute name '\(name)' is empty or contains NUL")
        }
        if name == formatVersionAttribute || name == checksumAttribute {
            throw CheckpointError(.invalidName, path: path,
                                  "attribute name '\(name)' is reserved by the checkpoint format and set automatically")
        }
        if case .string(let s) = value, s.utf8.contains(0) {
            throw CheckpointError(.invalidValue, path: path,
                                  "string attribute '\(name)' contains a NUL character, which HDF5 strings cannot hold")
        }
    }
}

/// Writes `arrays` and `attributes` to `path` atomically (see the file comment).
func writeAtomically(arrays: [String: ArrayValue], attributes: [String: AttributeValue], to path: String) throws {
    try validate(arrays: arrays, attributes: attributes, path: path)
    let checksum = CheckpointChecksum.of(arrays)
    let directory = directoryOf(path)
    let tempPath = "\(path).tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    var tempCreated = false
    do {
        try withHDF5 {
            try writeHDF5File(arrays: arrays, attributes: attributes, checksum: checksum,
                              tempPath: tempPath, path: path, created: &tempCreated)
        }
        try fsyncPath(tempPath, directory: false, path: path)
        if rename(tempPath, path) != 0 {
            throw posixError("cannot rename the temporary file '\(tempPath)' over the destination", path: path)
        }
        tempCreated = false
    } catch {
        if tempCreated { unlink(tempPath) }
        throw error
    }
    // Make the rename itself durable: the directory entry lives in the directory's data. If only
    // this fails, the new file is already in place; the error says so rather than pretend otherwise.
    do {
        try fsyncPath(directory, directory: true, path: path)
    } catch let error as CheckpointError {
        throw CheckpointError(.io, path: path, "\(error.message) (the new checkpoint is in place, "
                              + "but the rename may not survive a crash)")
    }
}

/// Creates the HDF5 file `tempPath` (exclusively: never reuses an existing file) with all
/// datasets in name order, the caller's attributes, the format version and the checksum, then
/// flushes and closes it. `created` becomes true once the file exists on disk.
private func writeHDF5File(arrays: [String: ArrayValue], attributes: [String: AttributeValue], checksum: UInt32,
                           tempPath: String, path: String, created: inout Bool) throws {
    let fapl = try H5Handle(H5Pcreate(swh5_p_file_access()), "H5Pcreate", "making file-access properties",
                            path: path, close: H5Pclose)
    // STRONG: H5Fclose really closes the file (and everything in it) before we fsync and rename.
    try h5check(H5Pset_fclose_degree(fapl.id, H5F_CLOSE_STRONG), "H5Pset_fclose_degree",
                "making file-access properties", path: path)
    let file = try H5Handle(H5Fcreate(tempPath, swh5_f_acc_excl(), swh5_p_default(), fapl.id), "H5Fcreate",
                            "creating the temporary file '\(tempPath)'", path: path, close: H5Fclose)
    created = true
    let lcpl = try H5Handle(H5Pcreate(swh5_p_link_create()), "H5Pcreate", "making link-creation properties",
                            path: path, close: H5Pclose)
    try h5check(H5Pset_create_intermediate_group(lcpl.id, 1), "H5Pset_create_intermediate_group",
                "making link-creation properties", path: path)

    for name in sortedByUTF8(arrays.keys) {
        try writeDataset(name: name, value: arrays[name]!, file: file, lcpl: lcpl, path: path)
    }
    for name in sortedByUTF8(attributes.keys) {
        try writeAttribute(name: name, value: attributes[name]!, file: file, path: path)
    }
    try writeAttribute(name: formatVersionAttribute, value: .int(currentFormatVersion), file: file, path: path)
    try writeAttribute(name: checksumAttribute, value: .int(Int64(checksum)), file: file, path: path)

    try h5check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "H5Fflush", "flushing '\(tempPath)'", path: path)
    try file.close("H5Fclose", path: path)
}

private func writeDataset(name: String, value: ArrayValue, file: H5Handle, lcpl: H5Handle, path: String) throws {
    let space = try makeDataspace(value.shape, path: path, name: name)
    let dset = try H5Handle(H5Dcreate2(file.id, name, fileType(value.dtype), space.id, lcpl.id,
                                       swh5_p_default(), swh5_p_default()),
                            "H5Dcreate2", "creating dataset '\(name)' (\(value))", path: path, close: H5Dclose)
    guard value.count > 0 else { return }  // nothing to write (and no buffer to pass)
    let memType = memoryType(value.dtype)
    let status: herr_t
    switch value.storage {
    case .float32(let v): status = v.withUnsafeBytes { write(dset, memType, $0) }
    case .float64(let v): status = v.withUnsafeBytes { write(dset, memType, $0) }
    case .int64(let v): status = v.withUnsafeBytes { write(dset, memType, $0) }
    }
    try h5check(status, "H5Dwrite", "writing dataset '\(name)' (\(value))", path: path)
}

private func write(_ dset: H5Handle, _ memType: hid_t, _ bytes: UnsafeRawBufferPointer) -> herr_t {
    H5Dwrite(dset.id, memType, swh5_s_all(), swh5_s_all(), swh5_p_default(), bytes.baseAddress)
}

/// Writes one scalar root attribute: Int64 as little-endian int64, Double as float64, strings as
/// variable-length UTF-8.
private func writeAttribute(name: String, value: AttributeValue, file: H5Handle, path: String) throws {
    let space = try makeDataspace([], path: path, name: name)
    let doing = "writing attribute '\(name)' = \(value)"
    switch value {
    case .int(var x):
        let attr = try H5Handle(H5Acreate2(file.id, name, swh5_std_i64le(), space.id, swh5_p_default(), swh5_p_default()),
                                "H5Acreate2", doing, path: path, close: H5Aclose)
        try h5check(H5Awrite(attr.id, swh5_native_int64(), &x), "H5Awrite", doing, path: path)
    case .double(var x):
        let attr = try H5Handle(H5Acreate2(file.id, name, swh5_ieee_f64le(), space.id, swh5_p_default(), swh5_p_default()),
                                "H5Acreate2", doing, path: path, close: H5Aclose)
        try h5check(H5Awrite(attr.id, swh5_native_double(), &x), "H5Awrite", doing, path: path)
    case .string(let s):
        let type = try makeUTF8StringType(path: path)
        let attr = try H5Handle(H5Acreate2(file.id, name, type.id, space.id, swh5_p_default(), swh5_p_default()),
                                "H5Acreate2", doing, path: path, close: H5Aclose)
        // A variable-length string is written as a pointer to its C string.
        let status = s.withCString { cString -> herr_t in
            var pointer: UnsafePointer<CChar>? = cString
            return H5Awrite(attr.id, type.id, &pointer)
        }
        try h5check(status, "H5Awrite", doing, path: path)
    }
}

/// The directory holding `path` ("." for a bare file name).
private func directoryOf(_ path: String) -> String {
    let dir = (path as NSString).deletingLastPathComponent
    return dir.isEmpty ? "." : dir
}

/// Opens `target` read-only and fsyncs it, so its data (or, for a directory, its entries) is on
/// disk before we rely on it.
private func fsyncPath(_ target: String, directory: Bool, path: String) throws {
    let fd = open(target, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
    guard fd >= 0 else { throw posixError("cannot open '\(target)' to fsync it", path: path) }
    defer { close(fd) }
    if fsync(fd) != 0 { throw posixError("fsync of '\(target)' failed", path: path) }
}

/// An `.io` error carrying the current `errno` text.
func posixError(_ what: String, path: String) -> CheckpointError {
    let code = errno
    return CheckpointError(.io, path: path, "\(what): \(String(cString: strerror(code))) (errno \(code))")
}
