/// Errors of the `Data` target.
///
/// Every loader reads files written by someone else, often on another machine, so the project rule is: bad
/// input is refused with an error that names the file, the field and the offending value, never with a trap.
/// A user who sees the message should know what to fix without reading the source.
public enum DataError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file that should exist does not. `hint` says how to obtain it (an apt command, or where to put it).
    case missingFile(path: String, hint: String)
    /// The file exists but cannot be opened or read (a directory, no permission, an I/O error).
    case unreadable(path: String, reason: String)
    /// The file's content is wrong: which file, which field (header entry, record, member), the value found
    /// and why it is refused.
    case invalid(file: String, field: String, value: String, reason: String)
    /// A request that does not fit the data (asking for more images than there are, a zero batch size, ...).
    /// `dataset` names the dataset (its source path) the request was made against.
    case invalidArgument(dataset: String, argument: String, value: String, reason: String)

    public var description: String {
        switch self {
        case let .missingFile(path, hint):
            return "missing file \(path). \(hint)"
        case let .unreadable(path, reason):
            return "cannot read \(path): \(reason)"
        case let .invalid(file, field, value, reason):
            return "\(file): \(field) = \(value): \(reason)"
        case let .invalidArgument(dataset, argument, value, reason):
            return "\(dataset): argument \(argument) = \(value): \(reason)"
        }
    }

    /// The field or argument the error is about, if any (lets tests check that the right thing was blamed).
    public var field: String? {
        switch self {
        case .missingFile, .unreadable: return nil
        case let .invalid(_, field, _, _): return field
        case let .invalidArgument(_, argument, _, _): return argument
        }
    }
}
