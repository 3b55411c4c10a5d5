import Logging
import MySQLClient
import MySQLStorage
import ServiceRuntime

/// The stack's two MySQL databases, as tests use them: a running client as each service's own user, and a way to
/// start from an empty database (every table of ours dropped), since tests run one after another on one server.
public enum MySQLTestDatabase: Sendable {
    case order, analytics

    var credentials: (user: String, password: String, database: String) {
        switch self {
        case .order: ("orderuser", "orderpass", "order_db")
        case .analytics: ("analyticsuser", "analyticspass", "analytics_db")
        }
    }

    /// Every table the services create, dropped by ``withClient(empty:_:)``.
    static let tables = ["idempotency_keys", "outbox_events", "orders", "order_metrics", "analytics_totals", "schema_migrations"]

    /// The configuration for this database at the address in `DB_HOST`/`DB_PORT`.
    public func configuration() throws -> MySQLConfiguration {
        let server = try RealServers.mariaDB()
        var configuration = MySQLConfiguration(
            host: server.host, port: server.port, username: self.credentials.user,
            password: self.credentials.password, database: self.credentials.database
        )
        configuration.connectionInitialization = MySQLSession.initialization
        return configuration
    }

    /// Runs `body` with a running client; with `empty`, every table of ours is dropped first and again afterwards,
    /// so no test leaves rows behind for the services that run on the same database later (an outbox row a test
    /// leased or set aside would otherwise be published by whatever order service starts next).
    public func withClient<T: Sendable>(
        empty: Bool = true,
        _ body: (MySQLClient) async throws -> T
    ) async throws -> T {
        let client = MySQLClient(configuration: try self.configuration(), logger: testLogger("mysql"))
        return try await withRunning(client) {
            if empty { try await Self.dropTables(client) }
            let result = try await body(client)
            if empty { try await Self.dropTables(client) }
            return result
        }
    }

    private static func dropTables(_ client: MySQLClient) async throws {
        for table in Self.tables {
            try await client.query("DROP TABLE IF EXISTS \(table)")
        }
    }

    /// The `--order-db-*`/`--analytics-db-*` and host/port arguments of `ordersystem all` for the stack's databases.
    public static func systemArguments() throws -> [String] {
        let server = try RealServers.mariaDB()
        return [
            "--store", "mysql", "--order-db-host", server.host, "--order-db-port", "\(server.port)",
            "--analytics-db-host", server.host, "--analytics-db-port", "\(server.port)",
        ]
    }
}
