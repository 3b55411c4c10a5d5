import AMQPClient
import Logging

/// Warnings about credentials a deployment should not run with, logged once at start by the single-service
/// commands (`all` runs on this machine's embedded backends by default and warns of nothing).
enum CredentialWarnings {
    /// Logs a warning for each: the original's default MySQL password (`orderpass`, `analyticspass`) or RabbitMQ's
    /// `guest` account used against a server that is not on this machine, and a password given in `--rabbitmq-url`
    /// (every user of the machine can read a process's arguments). Never logs a password.
    static func log(_ configuration: SystemConfiguration, service: ServiceName, logger: Logger) {
        let backends = configuration.backends
        if backends.store == .mysql, service != .notification {
            let (database, defaults) = service == .order
                ? (configuration.orderDatabase, DatabaseSettings.Service.order)
                : (configuration.analyticsDatabase, DatabaseSettings.Service.analytics)
            if database.password == defaults.defaultPassword && !Self.isLoopback(database.host) {
                logger.warning(
                    "MySQL is not on this machine and the password is the original's default: set DB_PASSWORD or DB_PASSWORD_FILE",
                    metadata: ["database": "\(database)"])
            }
        }
        guard backends.broker == .rabbitmq, let url = try? AMQPConnectionConfiguration(url: backends.rabbitmqURL) else {
            return
        }
        if url.username == "guest" && url.password == "guest" && !Self.isLoopback(url.host) {
            logger.warning(
                "RabbitMQ is not on this machine and the URL uses the default guest account: set RABBITMQ_URL or RABBITMQ_URL_FILE",
                metadata: ["broker": "\(url.host):\(url.port)"])
        }
        if backends.rabbitmqURLSource == "--rabbitmq-url" && !url.password.isEmpty {
            logger.warning(
                "--rabbitmq-url holds a password, which every user of this machine can read in the process list: pass the URL in RABBITMQ_URL or RABBITMQ_URL_FILE")
        }
    }

    /// Whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1.
    static func isLoopback(_ host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: "[]")
        return host == "localhost" || host.hasSuffix(".localhost") || host == "::1" || host.hasPrefix("127.")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self.drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
