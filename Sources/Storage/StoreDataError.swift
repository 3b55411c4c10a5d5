/// A store refused the data of a write, not the write itself: a value a column rejects, a constraint the row
/// breaks, a running total that would overflow. The same write fails the same way however often it is retried, so
/// a consumer sets the offending message aside (dead-letters it) instead of pausing as it does for an outage.
///
/// Stores throw it themselves, or throw a driver error that says it is about the data (``DataRejectingError``);
/// every other failure keeps its own type and counts as an outage.
public struct StoreDataError: Error, Sendable, CustomStringConvertible {
    /// What was rejected and why, for the log line and the dead-letter header; never a value's full text.
    public var reason: String

    /// Creates the error.
    public init(reason: String) {
        self.reason = reason
    }

    public var description: String { self.reason }

    /// `error` as a ``StoreDataError`` when it is one, or a driver error that rejected the data (each storage
    /// backend makes its driver's error a ``DataRejectingError``). Nil for anything else (connection lost, deadlock,
    /// lock wait timeout, read-only server, busy file, timeout).
    public static func classify(_ error: any Error) -> StoreDataError? {
        switch error {
        case let error as StoreDataError:
            return error
        case let error as any DataRejectingError where error.isDataError:
            return StoreDataError(reason: "the database rejected the data: \(error)")
        default:
            return nil
        }
    }
}

/// A driver's error that can tell whether the server rejected the data itself (a constraint, a value out of
/// range) rather than failed to run the statement now. The storage backends conform their driver's error to it.
public protocol DataRejectingError: Error {
    /// Whether the same statement with the same data will always fail this way.
    var isDataError: Bool { get }
}
