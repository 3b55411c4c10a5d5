/// The TLS side of the real servers, from the variables `scripts/stack env` exports.
///
/// `scripts/stack` makes a private certificate authority under `.stack/tls/` and starts each server with TLS beside
/// plain connections:
/// - MariaDB: TLS on its usual port (MySQL negotiates it inside the protocol), with the server certificate below.
/// - Redis: a TLS-only port (`REDIS_TLS_PORT`) beside the plain one; client certificates are checked when sent.
/// - RabbitMQ: a TLS-only listener (`RABBITMQ_TLS_PORT`) beside the plain one; client certificates are checked when
///   sent.
///
/// The server certificate names `DNS:localhost` and `IP:127.0.0.1` (so verifying the host works when connecting to
/// either) and nothing else: a client verifying another name (e.g. a server name of `wrong.example`) must refuse it.
/// A second, unrelated authority (`otherCA`) signed nothing the servers present: trusting only it must fail the
/// certificate check. Tests call ``RealServers/tls()`` and get a skip or a CI failure, as ``RealServers/require(_:)``.
public struct RealServersTLS: Sendable {
    /// PEM file of the authority that signed every server and client certificate (`STACK_TLS_CA`).
    public var caFile: String
    /// PEM file of another authority that signed nothing the servers present (`STACK_TLS_OTHER_CA`).
    public var otherCAFile: String
    /// PEM certificate of a client, signed by ``caFile`` (`STACK_TLS_CLIENT_CERT`).
    public var clientCertificateFile: String
    /// PEM private key of that client certificate (`STACK_TLS_CLIENT_KEY`).
    public var clientKeyFile: String
    /// Redis's TLS-only port (`REDIS_TLS_PORT`).
    public var redisPort: Int
    /// RabbitMQ's TLS-only port (`RABBITMQ_TLS_PORT`); `amqps://guest:guest@localhost:<port>/` reaches it.
    public var rabbitMQPort: Int
}

extension RealServers {
    /// The TLS files and ports of the stack (see ``RealServersTLS``).
    public static func tls() throws -> RealServersTLS {
        func port(_ name: String) throws -> Int {
            let text = try Self.require(name)
            guard let port = Int(text), (1...65535).contains(port) else {
                throw TestFailure("\(name)=\(text) is not a port")
            }
            return port
        }
        return RealServersTLS(
            caFile: try Self.require("STACK_TLS_CA"),
            otherCAFile: try Self.require("STACK_TLS_OTHER_CA"),
            clientCertificateFile: try Self.require("STACK_TLS_CLIENT_CERT"),
            clientKeyFile: try Self.require("STACK_TLS_CLIENT_KEY"),
            redisPort: try port("REDIS_TLS_PORT"),
            rabbitMQPort: try port("RABBITMQ_TLS_PORT"))
    }

    /// A RabbitMQ user whose password holds `/`, `@`, `#` and `:` (`RABBITMQ_SECRET_USER`,
    /// `RABBITMQ_SECRET_PASSWORD`), for the percent-encoding and no-secret-in-output tests.
    public static func rabbitMQSecretUser() throws -> (user: String, password: String) {
        (try Self.require("RABBITMQ_SECRET_USER"), try Self.require("RABBITMQ_SECRET_PASSWORD"))
    }
}

extension RealServers {
    /// A MariaDB account with every privilege (`STACK_DB_ADMIN_USER`, `STACK_DB_ADMIN_PASSWORD`), for the tests that
    /// change a server setting (e.g. `require_secure_transport`) and put it back; tests run one at a time.
    public static func mariaDBAdmin() throws -> (user: String, password: String) {
        (try Self.require("STACK_DB_ADMIN_USER"), try Self.require("STACK_DB_ADMIN_PASSWORD"))
    }
}
