import GRDB
import RunModel

// The ledger stores stage and trial states as their raw strings (RunModel/StageStatus.swift).
extension StageStatus: DatabaseValueConvertible {}
extension TrialStatus: DatabaseValueConvertible {}
extension AttemptOutcome: DatabaseValueConvertible {}
