import Logging

/// Remembers which (order, channel) notifications were sent, so a redelivered event does not notify twice.
///
/// A crash between a send and its record can repeat that one send (documented in README.md): the record is written
/// right after the provider accepted, not atomically with it, because no provider takes part in our transactions.
///
/// Thread-safety: implementations are `Sendable` and called concurrently.
public protocol NotificationRecord: Sendable {
    /// True when the notification for `orderID` on `channel` was sent.
    func wasSent(orderID: String, channel: NotificationChannel) async throws -> Bool
    /// Records that it was sent.
    func markSent(orderID: String, channel: NotificationChannel) async throws
    /// Throws when the record cannot be reached.
    func checkHealth() async throws
    /// The key in `/health`'s checks: `database` for SQLite, `cache` for Redis.
    var healthCheckName: String { get }
    /// Releases connections.
    func close() async
}
