import ArgumentParser
import MySQLClient

/// How a MySQL connection is protected (`DB_TLS_*`, `DB_SERVER_PUBLIC_KEY`, `DB_ALLOW_PUBLIC_KEY_RETRIEVAL`).
public struct DatabaseTLSSettings: Sendable, Equatable {
    /// MySQL's own `ssl-mode` names (`MySQLClient`'s modes).
    public typealias Mode = MySQLConfiguration.TLS.Mode

    /// The mode.
    public var mode: Mode = .preferred
    /// PEM file of the authority that signed the server's certificate; nil: the system's trust roots.
    public var caFile: String?
    /// PEM file of the client certificate, for servers that check clients.
    public var certificateFile: String?
    /// PEM file of the client certificate's private key.
    public var keyFile: String?
    /// PEM file of the server's RSA public key, pinned for `caching_sha2_password` without TLS.
    public var serverPublicKeyFile: String?
    /// That file's content, read when the settings are resolved (a missing file is a configuration error at start).
    public var serverPublicKeyPEM: String?
    /// Whether the server may be asked for its RSA key without TLS.
    public var allowPublicKeyRetrieval = false

    /// The defaults: TLS when offered.
    public init() {}

    /// Resolves the settings from flags and the variables `prefix` + `TLS_MODE` and so on (e.g. `ORDER_DB_`, then
    /// `DB_`): the first of `prefixes` that is set wins.
    static func resolve(_ flags: Flags, prefixes: [String], resolver: SettingResolver) throws -> DatabaseTLSSettings {
        func names(_ suffix: String) -> [String] { prefixes.map { $0 + suffix } }
        let option = String((prefixes.first ?? "DB_").lowercased().map { $0 == "_" ? "-" : $0 })
        var settings = DatabaseTLSSettings()
        settings.mode = try resolver.choice(
            flags.mode, option: option + "tls-mode", env: names("TLS_MODE"), default: .preferred)
        settings.caFile = resolver.optionalString(flags.caFile, env: names("TLS_CA"))
        settings.certificateFile = resolver.optionalString(flags.certificateFile, env: names("TLS_CERT"))
        settings.keyFile = resolver.optionalString(flags.keyFile, env: names("TLS_KEY"))
        if let file = resolver.optionalString(flags.serverPublicKeyFile, env: names("SERVER_PUBLIC_KEY")) {
            settings.serverPublicKeyFile = file
            settings.serverPublicKeyPEM = try SettingFile.text(at: file, variable: names("SERVER_PUBLIC_KEY")[0])
        }
        settings.allowPublicKeyRetrieval = try resolver.bool(
            flags.allowPublicKeyRetrieval, option: option + "allow-public-key-retrieval",
            env: names("ALLOW_PUBLIC_KEY_RETRIEVAL"), default: false)
        try TLSFiles.check(certificate: settings.certificateFile, key: settings.keyFile, names: names("TLS_CERT") + names("TLS_KEY"))
        return settings
    }

    /// The flags of one database, from whichever option group has them.
    struct Flags {
        var mode: String?
        var caFile: String?
        var certificateFile: String?
        var keyFile: String?
        var serverPublicKeyFile: String?
        var allowPublicKeyRetrieval: Bool?
    }
}

/// TLS to Redis (`REDIS_TLS`, `REDIS_TLS_CA`, `REDIS_TLS_CERT`, `REDIS_TLS_KEY`) or, without the switch, to RabbitMQ
/// (`amqps://` and `RABBITMQ_TLS_*`): the server's certificate and name are always verified.
public struct ServerTLSSettings: Sendable, Equatable {
    /// PEM file of the authority that signed the server's certificate; nil: the system's trust roots.
    public var caFile: String?
    /// PEM file of the client certificate, for servers that check clients.
    public var certificateFile: String?
    /// PEM file of the client certificate's private key.
    public var keyFile: String?

    /// Creates settings.
    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    static func resolve(
        ca: String?, certificate: String?, key: String?, prefix: String, resolver: SettingResolver
    ) throws -> ServerTLSSettings {
        let settings = ServerTLSSettings(
            caFile: resolver.optionalString(ca, env: ["\(prefix)_TLS_CA"]),
            certificateFile: resolver.optionalString(certificate, env: ["\(prefix)_TLS_CERT"]),
            keyFile: resolver.optionalString(key, env: ["\(prefix)_TLS_KEY"]))
        try TLSFiles.check(
            certificate: settings.certificateFile, key: settings.keyFile,
            names: ["\(prefix)_TLS_CERT", "\(prefix)_TLS_KEY"])
        return settings
    }

    /// Whether any file is set (for RabbitMQ, where TLS itself comes from the URL's scheme).
    var isEmpty: Bool { self.caFile == nil && self.certificateFile == nil && self.keyFile == nil }
}

/// Checks shared by the TLS settings.
enum TLSFiles {
    /// A client certificate needs its key and the other way round.
    static func check(certificate: String?, key: String?, names: [String]) throws {
        if (certificate == nil) != (key == nil) {
            throw ValidationError("a client certificate needs its key: set both or neither of \(names.joined(separator: ", "))")
        }
    }
}
