import Logging
import ServiceCore
import Synchronization

/// Declares a service's topology at start without letting a conflict stop the service.
///
/// A deployment of the original system has queues without our arguments, and RabbitMQ refuses to redeclare them
/// (406). That is not a reason to stop taking orders: events still route to the existing queues and consumers can
/// still read them, only retries and dead-lettering are missing until `ordersystem migrate-queues` has run. So a
/// conflict is logged with what to do and reported by `/health` (its `mq` check) instead of thrown; any other
/// failure still throws.
///
/// Thread-safety: `Sendable`.
public final class TopologyDeclaration: Sendable {
    private let conflict = Mutex<TopologyConflict?>(nil)

    /// Declares `topology` on `broker`, remembering a conflict instead of throwing it.
    public static func declare(_ topology: BrokerTopology, on broker: any MessageBroker, logger: Logger) async throws -> TopologyDeclaration {
        let declaration = TopologyDeclaration()
        do {
            try await broker.declare(topology)
        } catch let conflict as TopologyConflict {
            declaration.conflict.withLock { $0 = conflict }
            logger.error(
                "broker topology conflicts with existing queues; running without retries and dead-lettering for them",
                metadata: ["queues": "\(conflict.queues.joined(separator: ","))", "fix": "ordersystem migrate-queues"]
            )
        }
        return declaration
    }

    /// The conflict found at start, if any.
    public var conflictFound: TopologyConflict? { self.conflict.withLock { $0 } }

    /// Throws the conflict, for the `mq` health check.
    public func check() throws {
        if let conflict = self.conflictFound { throw conflict }
    }

    /// The `mq` health check of a service on `broker`: the broker answers, this topology was declared without a
    /// conflict, and `also` (a service's own view of the broker, e.g. the relay's routing) does not throw.
    public func healthCheck(
        broker: any MessageBroker, importance: HealthCheck.Importance,
        also: @escaping @Sendable () throws -> Void = {}
    ) -> HealthCheck {
        HealthCheck(name: "mq", importance: importance) {
            try self.check()
            try await broker.checkHealth()
            try also()
        }
    }
}
