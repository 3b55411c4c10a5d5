import NIOCore
import Synchronization


/// An AMQP channel: declares topology, publishes (with publisher confirms), consumes and settles deliveries.
///
/// A channel error (e.g. 406 PRECONDITION_FAILED from a declare with other arguments, 404 NOT_FOUND) closes this
/// channel only: the failing call throws ``AMQPError`` with code ``AMQPError/Code/brokerClosedChannel`` and the reply
/// code, later calls throw, and the connection stays usable for new channels.
///
/// Thread-safety: `Sendable`; calls may come from many tasks at once. Publishes from concurrent tasks are written
/// whole (method, header, body frames never interleave) and may all be in flight awaiting their confirms.
public final class AMQPChannel: Sendable {
    /// The channel number.
    public let id: UInt16
    /// The connection the channel belongs to.
    public let connection: AMQPConnection
    /// The mandatory messages the broker could not route (`basic.return`), in order. Keeps the newest 1,024 when
    /// nobody reads. Only one task should iterate it. In confirm mode such a message's publish also fails with
    /// ``AMQPError/Code/unroutable``, so reading this is optional.
    public let returnedMessages: AsyncStream<AMQPReturnedMessage>
    private let consumerCounter = Atomic<Int>(0)
    let shared: AMQPChannelSharedState

    init(id: UInt16, connection: AMQPConnection, shared: AMQPChannelSharedState) {
        self.id = id
        self.connection = connection
        self.shared = shared
        let (stream, continuation) = AsyncStream<AMQPReturnedMessage>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        self.returnedMessages = stream
        connection.executeOnEventLoop { handler in
            handler.setReturnContinuation(continuation, channel: id, shared: shared)
        }
    }

    // MARK: internals

    private func rpc(_ method: AMQPMethod) async throws -> AMQPRPCResponse {
        // Encoding once here catches unencodable arguments (too-long names) before anything is queued.
        var scratch = ByteBuffer()
        try method.encode(into: &scratch)
        let id = self.id
        let shared = self.shared
        return try await self.connection.onEventLoop { handler, promise in
            handler.withChannel(id, shared: shared, missing: promise.fail) { $0.rpc(method, promise: promise) }
        }
    }

    private func send(_ method: AMQPMethod) async throws {
        let id = self.id
        let shared = self.shared
        let _: Void = try await self.connection.onEventLoop { handler, promise in
            handler.withChannel(id, shared: shared, missing: promise.fail) { $0.send(method, promise: promise) }
        }
    }

    // MARK: exchanges

    /// Declares an exchange (`passive`: only checks that it exists, failing with 404 otherwise).
    public func exchangeDeclare(
        name: String, type: AMQPExchangeType, passive: Bool = false, durable: Bool = false, autoDelete: Bool = false,
        internal isInternal: Bool = false, arguments: AMQPFieldTable = [:]
    ) async throws {
        _ = try await self.rpc(
            .exchangeDeclare(
                exchange: name, type: type.name, passive: passive, durable: durable, autoDelete: autoDelete,
                internal: isInternal, noWait: false, arguments: arguments))
    }

    /// Deletes an exchange (`ifUnused`: only when it has no bindings).
    public func exchangeDelete(name: String, ifUnused: Bool = false) async throws {
        _ = try await self.rpc(.exchangeDelete(exchange: name, ifUnused: ifUnused, noWait: false))
    }

    /// Binds exchange `destination` to exchange `source` (RabbitMQ's exchange-to-exchange bindings).
    public func exchangeBind(
        destination: String, source: String, routingKey: String, arguments: AMQPFieldTable = [:]
    ) async throws {
        _ = try await self.rpc(
            .exchangeBind(
                destination: destination, source: source, routingKey: routingKey, noWait: false, arguments: arguments))
    }

    /// Removes an exchange-to-exchange binding.
    public func exchangeUnbind(
        destination: String, source: String, routingKey: String, arguments: AMQPFieldTable = [:]
    ) async throws {
        _ = try await self.rpc(
            .exchangeUnbind(
                destination: destination, source: source, routingKey: routingKey, noWait: false, arguments: arguments))
    }

    // MARK: queues

    /// Declares a queue and returns its name and counts. With `passive`, only checks that it exists (404
    /// otherwise) and returns its message count. Arguments: `x-dead-letter-exchange`, `x-dead-letter-routing-key`,
    /// `x-message-ttl`, `x-queue-type`, `x-max-length`, ...; declaring an existing queue with other arguments fails
    /// with 406 and closes this channel.
    @discardableResult
    public func queueDeclare(
        name: String = "", passive: Bool = false, durable: Bool = false, exclusive: Bool = false,
        autoDelete: Bool = false, arguments: AMQPFieldTable = [:]
    ) async throws -> AMQPQueueDeclareResult {
        let response = try await self.rpc(
            .queueDeclare(
                queue: name, passive: passive, durable: durable, exclusive: exclusive, autoDelete: autoDelete,
                noWait: false, arguments: arguments))
        guard case .method(.queueDeclareOk(let queue, let messageCount, let consumerCount)) = response else {
            throw AMQPError.protocolError("unexpected answer to queue.declare")
        }
        return AMQPQueueDeclareResult(name: queue, messageCount: messageCount, consumerCount: consumerCount)
    }

    /// Binds a queue to an exchange.
    public func queueBind(
        queue: String, exchange: String, routingKey: String = "", arguments: AMQPFieldTable = [:]
    ) async throws {
        _ = try await self.rpc(
            .queueBind(queue: queue, exchange: exchange, routingKey: routingKey, noWait: false, arguments: arguments))
    }

    /// Removes a queue binding.
    public func queueUnbind(
        queue: String, exchange: String, routingKey: String = "", arguments: AMQPFieldTable = [:]
    ) async throws {
        _ = try await self.rpc(
            .queueUnbind(queue: queue, exchange: exchange, routingKey: routingKey, arguments: arguments))
    }

    /// Removes every ready message from a queue; returns how many.
    @discardableResult
    public func queuePurge(name: String) async throws -> UInt32 {
        guard case .method(.queuePurgeOk(let count)) = try await self.rpc(.queuePurge(queue: name, noWait: false))
        else { throw AMQPError.protocolError("unexpected answer to queue.purge") }
        return count
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func queueDelete(name: String, ifUnused: Bool = false, ifEmpty: Bool = false) async throws -> UInt32 {
        let response = try await self.rpc(.queueDelete(queue: name, ifUnused: ifUnused, ifEmpty: ifEmpty, noWait: false))
        guard case .method(.queueDeleteOk(let count)) = response else {
            throw AMQPError.protocolError("unexpected answer to queue.delete")
        }
        return count
    }

    // MARK: quality of service, confirms, flow

    /// Limits unacknowledged deliveries: per consumer (RabbitMQ's default) or, with `global`, per channel.
    public func basicQos(prefetchCount: UInt16, prefetchSize: UInt32 = 0, global: Bool = false) async throws {
        _ = try await self.rpc(.basicQos(prefetchSize: prefetchSize, prefetchCount: prefetchCount, global: global))
    }

    /// Puts the channel in confirm mode: from now on ``publish(_:exchange:routingKey:mandatory:properties:)``
    /// returns once the broker acked the message and throws ``AMQPError/Code/publishNacked`` when it nacked it, or
    /// ``AMQPError/Code/unroutable`` when it was `mandatory` and the broker could not route it.
    public func confirmSelect() async throws {
        _ = try await self.rpc(.confirmSelect(noWait: false))
    }

    /// Asks the broker to pause (`false`) or resume (`true`) deliveries on this channel; returns the new state.
    @discardableResult
    public func flow(active: Bool) async throws -> Bool {
        guard case .method(.channelFlowOk(let state)) = try await self.rpc(.channelFlow(active: active)) else {
            throw AMQPError.protocolError("unexpected answer to channel.flow")
        }
        return state
    }

    /// Asks the broker to redeliver the channel's unacknowledged messages.
    public func recover(requeue: Bool = true) async throws {
        _ = try await self.rpc(.basicRecover(requeue: requeue))
    }

    // MARK: publishing

    /// Publishes a message. In confirm mode it returns when the broker acked it (throws when nacked or when the
    /// channel or connection closes first: the message may or may not have been routed, so retry it); otherwise when
    /// it was written. With `mandatory`, an unroutable message comes back on ``returnedMessages`` (in confirm mode,
    /// before its ack), and in confirm mode the publish then throws ``AMQPError/Code/unroutable`` with the broker's
    /// reply code and text (e.g. 312 NO_ROUTE) instead of returning: confirmed means routed. Retrying it only helps
    /// once a queue is bound.
    public func publish(
        _ body: ByteBuffer, exchange: String, routingKey: String, mandatory: Bool = false,
        properties: AMQPBasicProperties = .init()
    ) async throws {
        let message = AMQPOutboundMessage(
            body: body, exchange: exchange, routingKey: routingKey, mandatory: mandatory, properties: properties)
        try Self.validate(message)
        let id = self.id
        let shared = self.shared
        let _: Void = try await self.connection.onEventLoop { handler, promise in
            handler.withChannel(id, shared: shared, missing: promise.fail) {
                $0.publish(
                    body: message.body, exchange: message.exchange, routingKey: message.routingKey,
                    mandatory: message.mandatory, properties: message.properties, promise: promise)
            }
        }
    }

    /// Publishes a message given as bytes; see ``publish(_:exchange:routingKey:mandatory:properties:)``.
    public func publish(
        _ body: some Sequence<UInt8> & Sendable, exchange: String, routingKey: String, mandatory: Bool = false,
        properties: AMQPBasicProperties = .init()
    ) async throws {
        try await self.publish(
            ByteBuffer(bytes: body), exchange: exchange, routingKey: routingKey, mandatory: mandatory,
            properties: properties)
    }

    /// Publishes many messages in one write with all of them in flight, and returns each one's outcome in order
    /// (in confirm mode: acked → success; nacked or lost → failure, to retry; a `mandatory` message the broker could
    /// not route → failure with ``AMQPError/Code/unroutable`` and the broker's reply code, e.g. 312 NO_ROUTE).
    /// With a `confirmTimeout`, a publish not confirmed by then fails with ``AMQPError/Code/timeout``.
    public func publishBatch(
        _ messages: [AMQPOutboundMessage], confirmTimeout: Duration? = nil
    ) async -> [Result<Void, AMQPError>] {
        var results = [Result<Void, AMQPError>?](repeating: nil, count: messages.count)
        var valid: [(Int, AMQPOutboundMessage)] = []
        for (index, message) in messages.enumerated() {
            do {
                try Self.validate(message)
                valid.append((index, message))
            } catch {
                results[index] = .failure(Self.amqpError(error))
            }
        }
        let id = self.id
        let shared = self.shared
        let toSend = valid
        let eventLoop = self.connection.eventLoop
        let futures: [EventLoopFuture<Void>]
        do {
            futures = try await self.connection.onEventLoop { handler, promise in
                var futures: [EventLoopFuture<Void>] = []
                futures.reserveCapacity(toSend.count)
                for (_, message) in toSend {
                    let publishPromise = eventLoop.makePromise(of: Void.self)
                    futures.append(publishPromise.futureResult)
                    handler.withChannel(id, shared: shared, missing: publishPromise.fail) {
                        $0.publish(
                            body: message.body, exchange: message.exchange, routingKey: message.routingKey,
                            mandatory: message.mandatory, properties: message.properties, promise: publishPromise)
                    }
                }
                promise.succeed(futures)
            }
        } catch {
            return messages.map { _ in .failure(Self.amqpError(error)) }
        }
        if let confirmTimeout {
            let confirmed = await ConfirmDeadline.results(of: futures, on: eventLoop, timeout: confirmTimeout)
            for ((index, _), result) in zip(valid, confirmed) { results[index] = result }
        } else {
            for ((index, _), future) in zip(valid, futures) {
                do {
                    try await future.get()
                    results[index] = .success(())
                } catch {
                    results[index] = .failure(Self.amqpError(error))
                }
            }
        }
        return results.map { $0 ?? .failure(.protocolError("unreachable")) }
    }

    private static func validate(_ message: AMQPOutboundMessage) throws {
        var scratch = ByteBuffer()
        try AMQPMethod.basicPublish(
            exchange: message.exchange, routingKey: message.routingKey, mandatory: message.mandatory, immediate: false
        ).encode(into: &scratch)
        try message.properties.encode(into: &scratch)
    }

    static func amqpError(_ error: any Error) -> AMQPError {
        (error as? AMQPError) ?? .connectionClosed("\(error)")
    }

    // MARK: consuming

    /// Starts a consumer on `queue` and returns its deliveries as an ``AMQPConsumer``.
    ///
    /// With `noAck` the broker considers each message settled when sent. The broker sends at most the prefetch
    /// (``basicQos(prefetchCount:prefetchSize:global:)``) unacknowledged deliveries.
    ///
    /// `maxBodySize` bounds what one delivery may make the client buffer: a message whose content header announces a
    /// larger body is delivered with an empty body and ``AMQPDelivery/oversizedBodySize`` set, its body frames
    /// dropped as they arrive (the prefetch times this bounds the consumer's memory). `nil`: no limit beyond the
    /// broker's own. With `noAck` such a message is gone once delivered; without, settle it as any other.
    public func consume(
        queue: String, consumerTag: String? = nil, noAck: Bool = false, exclusive: Bool = false,
        arguments: AMQPFieldTable = [:], maxBodySize: UInt64? = nil
    ) async throws -> AMQPConsumer {
        let tag = consumerTag ?? "swift-ctag-\(self.id)-\(self.consumerCounter.add(1, ordering: .relaxed).newValue)"
        var scratch = ByteBuffer()
        try scratch.writeAMQPShortString(queue)
        try scratch.writeAMQPShortString(tag)
        try scratch.writeAMQPFieldTable(arguments)
        let (stream, continuation) = AsyncThrowingStream<AMQPIncomingMessage, any Error>.makeStream()
        let id = self.id
        let shared = self.shared
        let connection = self.connection
        continuation.onTermination = { termination in
            guard case .cancelled = termination else { return }
            // The iterating task went away: stop the broker sending to nobody.
            connection.executeOnEventLoop { handler in
                handler.withChannel(id, shared: shared, missing: { _ in }) { channel in
                    guard channel.consumerTags.contains(tag) else { return [] }
                    let promise: EventLoopPromise<AMQPRPCResponse> = connection.eventLoop.makePromise()
                    promise.futureResult.whenFailure { _ in }
                    return channel.rpc(.basicCancel(consumerTag: tag, noWait: false), promise: promise)
                }
            }
        }
        _ = try await self.connection.onEventLoop { handler, promise in
            handler.withChannel(
                id, shared: shared,
                missing: { error in
                    continuation.finish(throwing: error)
                    promise.fail(error)
                }
            ) {
                $0.consume(
                    queue: queue, consumerTag: tag, noAck: noAck, exclusive: exclusive, arguments: arguments,
                    maxBodySize: maxBodySize, continuation: continuation, promise: promise)
            }
        }
        return AMQPConsumer(consumerTag: tag, channel: self, stream: stream)
    }

    /// Cancels a consumer; its sequence ends after the deliveries already received.
    public func cancel(consumerTag: String) async throws {
        _ = try await self.rpc(.basicCancel(consumerTag: consumerTag, noWait: false))
    }

    /// Fetches one message from `queue` (`basic.get`), or `nil` when it is empty.
    public func get(queue: String, noAck: Bool = false) async throws -> AMQPDelivery? {
        switch try await self.rpc(.basicGet(queue: queue, noAck: noAck)) {
        case .message(let message): return AMQPDelivery(message, channel: self)
        case .empty: return nil
        case .method: throw AMQPError.protocolError("unexpected answer to basic.get")
        }
    }

    /// Acknowledges a delivery (and, with `multiple`, every earlier unsettled one).
    public func ack(deliveryTag: UInt64, multiple: Bool = false) async throws {
        try await self.send(.basicAck(deliveryTag: deliveryTag, multiple: multiple))
    }

    /// Negatively acknowledges a delivery (and, with `multiple`, every earlier unsettled one): requeued, or
    /// dead-lettered / dropped with `requeue: false`.
    public func nack(deliveryTag: UInt64, multiple: Bool = false, requeue: Bool = false) async throws {
        try await self.send(.basicNack(deliveryTag: deliveryTag, multiple: multiple, requeue: requeue))
    }

    /// Rejects one delivery: requeued, or dead-lettered / dropped with `requeue: false`.
    public func reject(deliveryTag: UInt64, requeue: Bool = false) async throws {
        try await self.send(.basicReject(deliveryTag: deliveryTag, requeue: requeue))
    }

    // MARK: closing

    /// Why the channel closed, once it has (e.g. the broker's 406), `nil` while open.
    public var closeError: AMQPError? { self.shared.closeError.withLock { $0 } }

    /// Whether the channel is open (as far as this client knows: a close the broker has not sent yet is unknown).
    public var isOpen: Bool { self.closeError == nil }

    /// Closes the channel (`channel.close`, waiting for `close-ok`). Unconfirmed publishes fail; consumers end.
    public func close() async throws {
        let id = self.id
        let shared = self.shared
        let _: AMQPRPCResponse = try await self.connection.onEventLoop { handler, promise in
            handler.withChannel(id, shared: shared, missing: { _ in promise.succeed(.empty) }) { $0.closeRequested(promise: promise) }
        }
    }
}
