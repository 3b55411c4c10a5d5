import MySQLClient
import SQLiteNIO

/// A store refused the data of a write, not the write itself: a value a column rejects, a constraint the row
/// breaks, a running total that would overflow. The same write fails the same way however often it is retried, so
/// a consumer sets the offending message aside (dead-letters it) instead of pausing as it does for an outage.
///
/// Stores throw it in place of the driver's error when ``StoreDataError/classify(_:)`` says the cause is the data;
/// every other failure keeps its own type and counts as an outage.
public struct StoreDataError: Error, Sendable, CustomStringConvertible {
    /// What was rejected and why, for the log line and the dead-letter header; never a value's full text.
    public var reason: String

    /// Creates the error.
    public init(reason: String) {
        self.reason = reason
    }

    public var description: String { self.reason }

    /// `error` as a ``StoreDataError`` when it is one, or a driver error caused by the data: MySQL's
    /// ``MySQLError/dataErrorNumbers``, SQLite's CONSTRAINT (any of its extended codes), TOOBIG and MISMATCH.
    /// Nil for anything else (connection lost, deadlock, lock wait timeout, read-only server, busy file, timeout).
    public static func classify(_ error: any Error) -> StoreDataError? {
        switch error {
        case let error as StoreDataError:
            return error
        case let error as MySQLError where error.isDataError:
            return StoreDataError(reason: "the database rejected the data: \(error)")
        case let error as SQLiteError where error.isDataError:
            return StoreDataError(reason: "the database rejected the data: \(error)")
        default:
            return nil
        }
    }
}

extension SQLiteError {
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
