import Foundation

/// Every failure of this module: it always names the checkpoint file, and the message names the
/// dataset or attribute and the offending value, so a user can act on it without a debugger.
///
/// No failure in this module traps on bad input (a corrupt, truncated or foreign file, an
/// unwritable destination, a bad name): they all surface as this error.
public struct CheckpointError: Error, Sendable, CustomStringConvertible, LocalizedError {
    public enum Kind: Sendable, Equatable {
        /// A POSIX call (open, fsync, rename, stat) failed.
        case io
        /// An HDF5 library call returned a failure code; the message names the call.
        case hdf5
        /// The file is valid HDF5 but not in this format (missing or unknown `rdd_format_version`,
        /// missing `rdd_checksum`).
        case notACheckpoint
        /// The stored checksum does not match the data: the file was modified or corrupted.
        case checksumMismatch
        /// A dataset or attribute has an element type or dataspace this format does not support.
        case unsupportedType
        /// An array or attribute name is not allowed (empty component, reserved, clashes).
        case invalidName
        /// A string attribute holds text that cannot be stored or decoded (NUL, invalid UTF-8, JSON).
        case invalidValue
        /// A requested array or attribute is absent, or has another dtype or shape than required.
        case missing
    }

    public let kind: Kind
    /// The checkpoint file the failure is about (the destination when saving).
    public let path: String
    /// What went wrong, naming the dataset/attribute and the value.
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { "checkpoint '\(path)': \(message)" }
    public var errorDescription: String? { description }
}
