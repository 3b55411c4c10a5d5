import ClientTLS
import NIOCore

/// Redis's side of ClientTLS: its settings' names in messages, the setup built once per client from
/// ``RedisConfiguration/TLS`` (the chain and the name always verified), and the handlers a connection adds.
enum RedisTLS {
    private static let wording = ClientTLSWording(
        peerNoun: "server", caVariable: "REDIS_TLS_CA", certificateVariable: "REDIS_TLS_CERT",
        keyVariable: "REDIS_TLS_KEY", plainPortHint: "REDIS_TLS=true against a plain port?")

    private static let plainConnectionWording = ClientTLSPlainConnectionGuard.Wording(
        peerNoun: "server", handshake: "handshake", firstReply: "its first reply", hint: "set REDIS_TLS=true",
        closedMessageNamesThePort: false)

    /// Reads the TLS files and builds the context.
    ///
    /// - Throws: a ``RedisError/Code/tls`` error naming the file or setting that is wrong.
    static func setup(
        configuration: RedisConfiguration, tls: RedisConfiguration.TLS
    ) throws(RedisError) -> ClientTLSSetup {
        try ClientTLSSetup(
            settings: .init(
                caFile: tls.caFile, certificateFile: tls.certificateFile, keyFile: tls.keyFile,
                serverName: tls.serverName, verification: .chainAndName),
            host: configuration.host, port: configuration.port, wording: Self.wording, mapError: { RedisError($0) })
    }

    /// The TLS handler for one connection and the handshake handler behind it, which fails `promise` with a
    /// ``RedisError/Code/tls`` error when the handshake fails or has not finished within the connect timeout.
    static func handlers(
        setup: ClientTLSSetup, configuration: RedisConfiguration, promise: EventLoopPromise<Void>
    ) throws(RedisError) -> [any ChannelHandler] {
        [
            try setup.makeHandler(mapError: { RedisError($0) }),
            ClientTLSHandshakeHandler(
                setup: setup, timeout: .after(configuration.connectTimeout), promise: promise,
                mapError: { RedisError($0) }),
        ]
    }

    /// The guard of a plain connection to `peer` (`host:port`), in front of ``RedisChannelHandler``.
    static func plainConnectionGuard(peer: String) -> ClientTLSPlainConnectionGuard {
        ClientTLSPlainConnectionGuard(peer: peer, wording: Self.plainConnectionWording, mapError: { RedisError($0) })
    }
}

extension RedisError {
    /// ClientTLS's error as this client's: its `tls` code, or `connectionClosed` where ClientTLS says so.
    init(_ error: ClientTLSError) {
        self.init(
            code: error.kind == .connectionClosed ? .connectionClosed : .tls, message: error.message,
            underlying: error.underlying)
    }
}
