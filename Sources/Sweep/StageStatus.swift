import GRDB
import RunModel

// The ledger stores stage and trial states as their raw strings (RunModel/StageStatus.swift).
extension StageStatus: DatabaseValueConvertible {}
extension TrialStatus: DatabaseValueConvertible {}
extension AttemptOutcome: DatabaseValueConvertible {}

// What `status`, `show`, `list`, the exports and the dashboard print for a state: the stored word itself
// (the raw value), named here so call sites print a state rather than spell one.
extension StageStatus { public var displayName: String { rawValue } }
extension TrialStatus { public var displayName: String { rawValue } }
extension AttemptOutcome { public var displayName: String { rawValue } }
