import SQLiteNIO
import Storage

extension SQLiteError: DataRejectingError {
    /// Whether SQLite rejected the data itself (a constraint, a value too big, a type mismatch) rather than failed
    /// to run the statement now.
    public var isDataError: Bool {
        switch self.reason {
        case .constraint, .tooBig, .mismatch, .constraintCheckFailed, .constraintForeignKeyFailed,
            .constraintNotNullFailed, .constraintPrimaryKeyFailed, .constraintTriggerFailed, .constraintUniqueFailed,
            .constraintStrictDataTypeFailed, .constraintUserFunctionFailed:
            return true
        default:
            return false
        }
    }
}
