import NotificationWorker
import RedisClient

/// ``NotificationRecord`` in Redis (the worker with `--cache redis`): one key per (order, channel),
/// `notification:sent:{order_id}:{channel}`, written with `SET NX` and a time to live (docs/CONTRACTS.md, "Notifications").
///
/// The time to live bounds the memory used: a redelivery later than that could notify again, so it is far longer
/// than any redelivery delay (default 7 days). Redis unreachable → the calls throw and the worker pauses.
public struct RedisNotificationRecord: NotificationRecord {
    /// How long a sent notification is remembered by default.
    public static let defaultRetention: Duration = .seconds(7 * 24 * 3600)

    private let client: any RedisCommandExecutor
    private let retention: Duration

    /// A record on `client`, remembering each send for `retention`.
    public init(client: any RedisCommandExecutor, retention: Duration = Self.defaultRetention) {
        self.client = client
        self.retention = retention
    }

    static func key(orderID: String, channel: NotificationChannel) -> String {
        "notification:sent:\(orderID):\(channel.rawValue)"
    }

    public var healthCheckName: String { "cache" }

    public func sent(among keys: [NotificationKey]) async throws -> Set<NotificationKey> {
        guard !keys.isEmpty else { return [] }
        let values = try await self.client.mget(keys.map { Self.key(orderID: $0.orderID, channel: $0.channel) })
        guard values.count == keys.count else {
            throw RedisError(code: .unexpectedResponse, message: "MGET answered \(values.count) values for \(keys.count) keys")
        }
        var sent = Set<NotificationKey>()
        for (key, value) in zip(keys, values) where value != nil { sent.insert(key) }
        return sent
    }

    public func recordSent(_ keys: [NotificationKey]) async throws {
        guard !keys.isEmpty else { return }
        // One pipeline: every SET NX goes out in one write and comes back in one read.
        let results = try await self.client.pipeline(
            keys.map {
                RedisCommand.set(
                    Self.key(orderID: $0.orderID, channel: $0.channel), value: "1", expiration: .after(self.retention),
                    condition: .ifNotExists
                )
            }
        )
        for result in results { _ = try result.get() }
    }

    public func checkHealth() async throws {
        _ = try await self.client.ping()
    }

    /// The client is owned by whoever created it.
    public func close() async {}
}
