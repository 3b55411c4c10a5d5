import Logging

/// One notification of one order: what the record remembers as sent.
public struct NotificationKey: Hashable, Sendable {
    /// The order it is about.
    public var orderID: String
    /// Email or SMS.
    public var channel: NotificationChannel

    /// Creates the key.
    public init(orderID: String, channel: NotificationChannel) {
        self.orderID = orderID
        self.channel = channel
    }
}

/// Remembers which (order, channel) notifications were sent, so a redelivered event does not notify twice.
///
/// Both calls take a whole batch of deliveries at once: one round trip to Redis (or one statement in SQLite) per
/// batch, not two per notification, which was most of the worker's cost per event.
///
/// A crash between a send and its record can repeat that send (documented in README.md): the record is written
/// right after the batch's sends were accepted, before any delivery is acknowledged, not atomically with them,
/// because no provider takes part in our transactions.
///
/// Thread-safety: implementations are `Sendable` and called concurrently.
public protocol NotificationRecord: Sendable {
    /// Those of `keys` recorded as sent.
    func sent(among keys: [NotificationKey]) async throws -> Set<NotificationKey>
    /// Records that `keys` were sent; recording one twice is harmless.
    func recordSent(_ keys: [NotificationKey]) async throws
    /// Throws when the record cannot be reached.
    func checkHealth() async throws
    /// The key in `/health`'s checks: `database` for SQLite, `cache` for Redis.
    var healthCheckName: String { get }
    /// Releases connections.
    func close() async
}
