import ClientTLS
import NIOCore

/// AMQP's side of ClientTLS: its settings' names in messages, the setup built from
/// ``AMQPConnectionConfiguration/TLS`` at each connect (so renewed certificate files are picked up on reconnection;
/// the chain and the name always verified), and the handlers a connection adds.
enum AMQPTLS {
    private static let wording = ClientTLSWording(
        peerNoun: "broker", caVariable: "RABBITMQ_TLS_CA", certificateVariable: "RABBITMQ_TLS_CERT",
        keyVariable: "RABBITMQ_TLS_KEY", plainPortHint: "amqps:// against a plain AMQP port?")

    private static let plainConnectionWording = ClientTLSPlainConnectionGuard.Wording(
        peerNoun: "broker", handshake: "AMQP handshake", firstReply: "sending anything", hint: "use an amqps:// URL",
        closedMessageNamesThePort: true)

    /// Reads the TLS files and builds the context.
    ///
    /// - Throws: a ``AMQPError/Code/tls`` error naming the file or setting that is wrong.
    static func setup(
        configuration: AMQPConnectionConfiguration, tls: AMQPConnectionConfiguration.TLS
    ) throws(AMQPError) -> ClientTLSSetup {
        try ClientTLSSetup(
            settings: .init(
                caFile: tls.caFile, certificateFile: tls.certificateFile, keyFile: tls.keyFile,
                serverName: tls.serverName, verification: .chainAndName),
            host: configuration.host, port: configuration.port, wording: Self.wording, mapError: { AMQPError($0) })
    }

    /// The TLS handler for one connection and the handshake handler behind it, which sends a failure down the
    /// pipeline as a ``AMQPError/Code/tls`` error that the connection handler fails the connect with. The connect
    /// timeout covers the handshake (``AMQPConnectionHandler/startConnectTimeout(_:)``): while the handshake handler
    /// is in the pipeline the TLS handshake has not finished, which is how that timeout tells a TLS handshake that
    /// hangs from a slow AMQP one.
    static func handlers(
        setup: ClientTLSSetup, configuration: AMQPConnectionConfiguration
    ) throws(AMQPError) -> [any ChannelHandler] {
        [
            try setup.makeHandler(mapError: { AMQPError($0) }),
            ClientTLSHandshakeHandler(
                setup: setup, timeout: .connectTimeout(configuration.connectTimeout), mapError: { AMQPError($0) }),
        ]
    }

    /// The guard of a plain connection to `peer` (`host:port`), in front of the frame decoder.
    static func plainConnectionGuard(peer: String) -> ClientTLSPlainConnectionGuard {
        ClientTLSPlainConnectionGuard(peer: peer, wording: Self.plainConnectionWording, mapError: { AMQPError($0) })
    }
}

extension AMQPError {
    /// ClientTLS's error as this client's: its `tls` code, or `connectionClosed` where ClientTLS says so.
    init(_ error: ClientTLSError) {
        self.init(code: error.kind == .connectionClosed ? .connectionClosed : .tls, message: error.message)
    }
}
