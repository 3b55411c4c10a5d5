import Logging
import ServiceLifecycle

/// The last service of a process's group, after the protocol clients: once they run, it opens the stores (migrating
/// them, waiting for a database that starts later), builds the services and runs them in a group of their own;
/// when that group has stopped, it closes what it opened and returns, and the process's group stops the clients,
/// after everything that used them.
///
/// The inner group follows the outer one's graceful shutdown (SIGTERM, SIGINT) and stops its services in reverse
/// order; a graceful shutdown during start-up cancels the start-up (a wait for MySQL or RabbitMQ) at once.
struct ServiceHost: Service {
    let logger: Logger
    /// Opens the backends into `opened` and builds the services, in the order their group must run them.
    let open: @Sendable (OpenedResources) async throws -> [any Service]

    func run() async throws {
        let opened = OpenedResources()
        try await opened.closing {
            let open = self.open
            let services: [any Service]
            do {
                services = try await cancelWhenGracefulShutdown { try await open(opened) }
            } catch is CancellationError where Task.isShuttingDownGracefully {
                // Asked to stop while waiting for a dependency: a normal stop, not a start-up failure.
                self.logger.info("stopped during start-up")
                return
            }
            let group = ServiceGroup(configuration: .init(services: opened.services + services, logger: self.logger))
            try await group.run()
        }
    }
}
