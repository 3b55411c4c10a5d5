import HummingbirdCore
import Logging
import NIOCore

/// Hummingbird's HTTP/1.1 child channel behind a ``ConnectionGate``: a connection within the cap gets the usual
/// pipeline, one beyond it only a ``ConnectionRefusalHandler``.
///
/// Hummingbird's own `MaximumAvailableConnections` stops accepting instead, which leaves clients waiting in the
/// kernel's queue with no answer; we accept, answer 503 and close (docs/OPERATIONS.md, "HTTP connections").
struct BoundedHTTP1Channel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let channel: any Channel
        /// Nil for a refused connection.
        let http: HTTP1Channel.Value?
    }

    let http: HTTP1Channel
    let gate: ConnectionGate

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard self.gate.enter() else {
            let limit = self.gate.limit
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ConnectionRefusalHandler(limit: limit))
                return Value(channel: channel, http: nil)
            }
        }
        let gate = self.gate
        channel.closeFuture.whenComplete { _ in gate.leave() }
        return self.http.setup(channel: channel, logger: logger).map { Value(channel: channel, http: $0) }
    }

    func handle(value: Value, logger: Logger) async {
        guard let http = value.http else { return }
        await self.http.handle(value: http, logger: logger)
    }
}
