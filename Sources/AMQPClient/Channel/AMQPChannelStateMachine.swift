import NIOCore

/// One channel's protocol as a pure value type: events in, actions out, no I/O.
///
/// It keeps the queue of synchronous requests (the broker answers them in order), assembles content (a method, a
/// header, body frames) into messages, numbers publishes in confirm mode and resolves them on `basic.ack` /
/// `basic.nack`, routes deliveries to consumers, and fails everything pending when the channel closes. Promises and
/// continuations are stored, never completed here: the actions say what to complete.
///
/// Confirmed means routed: in confirm mode, a `mandatory` publish the broker returns (`basic.return`, e.g. 312
/// NO_ROUTE) fails with ``AMQPError/Code/unroutable`` when its ack arrives, instead of succeeding. RabbitMQ sends the
/// return before the ack of the same message and returns in publish order, but acks of earlier *routed* messages may
/// still be outstanding when a return arrives, so a return is matched by content (exchange, routing key, message id,
/// body) to the earliest unconfirmed, not yet returned mandatory publish after the last one returned (see
/// `matchReturn`).
///
/// Bounded bodies: a consumer may set a largest body it takes (`consume(maxBodySize:)`). When a delivery's content
/// header announces more, its body frames are counted and dropped as they arrive, never buffered, and the message is
/// yielded with an empty body and `oversizedBodySize` set, so the consumer can still settle it (e.g. reject it into
/// a dead-letter queue, which keeps the broker's copy of the body). Counting keeps the frame sequence checked: a
/// body that overruns its announced size is a protocol error either way.
struct AMQPChannelStateMachine {
    typealias ConsumerContinuation = AsyncThrowingStream<AMQPIncomingMessage, any Error>.Continuation

    enum State: Equatable {
        case opening, open, closing, closed
    }

    enum Action {
        case send([AMQPFrame], EventLoopPromise<Void>?)
        case succeedRPC(EventLoopPromise<AMQPRPCResponse>, AMQPRPCResponse)
        case failRPC(EventLoopPromise<AMQPRPCResponse>, AMQPError)
        case failWrite(EventLoopPromise<Void>?, AMQPError)
        case succeedConfirms([EventLoopPromise<Void>])
        case failConfirms([EventLoopPromise<Void>], AMQPError)
        case yield(ConsumerContinuation, AMQPIncomingMessage)
        case finishConsumer(ConsumerContinuation, AMQPError?)
        case returned(AMQPIncomingMessage, replyCode: UInt16, replyText: String)
        /// The channel is closed for good: forget it.
        case channelClosed(AMQPError)
        /// The broker broke the protocol on this channel: close the whole connection.
        case connectionError(AMQPError)
    }

    private struct PendingRPC {
        var expected: [UInt32]
        var promise: EventLoopPromise<AMQPRPCResponse>
    }

    private enum ContentKind {
        case deliver(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case getOk(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String, messageCount: UInt32)
        case returned(replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
    }

    private struct PartialContent {
        var kind: ContentKind
        var header: AMQPContentHeader?
        var body: ByteBuffer?
        /// Set when the body is over the consumer's limit: the bytes of its frames dropped so far.
        var discardedBytes: UInt64?
    }

    /// A consumer on this channel: where its deliveries go, and the largest body it takes (`nil`: any).
    private struct Consumer {
        var continuation: ConsumerContinuation
        var maxBodySize: UInt64?
    }

    /// What a `mandatory` publish in confirm mode keeps until its confirm, to recognise its `basic.return`: the body
    /// is the caller's buffer (a reference, not a copy), so keeping it costs no copy.
    private struct MandatoryPublish {
        var exchange: String
        var routingKey: String
        var messageID: String?
        var body: ByteBuffer
        /// Set when a `basic.return` was matched to this publish: its ack then fails the publish.
        var returned: (replyCode: UInt16, replyText: String)?

        func matches(exchange: String, routingKey: String, messageID: String?, body: ByteBuffer) -> Bool {
            // The cheap comparisons first; the body is compared only when everything else agrees.
            self.routingKey == routingKey && self.exchange == exchange && self.messageID == messageID
                && self.body == body
        }
    }

    let id: UInt16
    private(set) var state: State = .opening
    private(set) var closeError: AMQPError?
    private(set) var frameMax: UInt32
    private var rpcs = CircularBuffer<PendingRPC>()
    private var content: PartialContent?
    private(set) var confirmMode = false
    private var nextPublishSequence: UInt64 = 1
    private var unconfirmedOrder = CircularBuffer<UInt64>()
    private var unconfirmed: [UInt64: EventLoopPromise<Void>] = [:]
    /// The unconfirmed mandatory publishes (with a promise), by sequence number; an entry goes when its confirm
    /// arrives. Publishes that are not mandatory never get one, so they pay nothing for return matching.
    private var mandatoryPublishes: [UInt64: MandatoryPublish] = [:]
    /// The sequence numbers of `mandatoryPublishes`, ascending, for matching returns in publish order. Numbers whose
    /// entry is gone are dropped from the front as confirms arrive (and skipped when matching).
    private var mandatoryOrder = CircularBuffer<UInt64>()
    /// The sequence number the last matched return belonged to. RabbitMQ returns in publish order, so the next
    /// return belongs to a later publish: an identical earlier one still awaiting its ack was routed.
    private var lastReturnedSequence: UInt64 = 0
    private var consumers: [String: Consumer] = [:]

    init(id: UInt16, frameMax: UInt32) {
        self.id = id
        // Negotiation never agrees on less than the minimum; clamping here too keeps the body chunk size of
        // `publish` positive whatever the caller passes.
        self.frameMax = max(frameMax, AMQPFrame.minimumFrameMax)
    }

    var unconfirmedCount: Int { self.unconfirmed.count }
    /// The mandatory publishes kept for return matching (they go when their confirm arrives).
    var pendingMandatoryCount: Int { self.mandatoryPublishes.count }
    var consumerTags: [String] { Array(self.consumers.keys) }

    private static func key(_ classID: UInt16, _ methodID: UInt16) -> UInt32 { UInt32(classID) << 16 | UInt32(methodID) }

    /// The responses a synchronous method expects.
    static func expectedResponses(to method: AMQPMethod) -> [UInt32]? {
        switch method {
        case .channelOpen: [key(20, 11)]
        case .channelFlow: [key(20, 21)]
        case .channelClose: [key(20, 41)]
        case .exchangeDeclare: [key(40, 11)]
        case .exchangeDelete: [key(40, 21)]
        case .exchangeBind: [key(40, 31)]
        case .exchangeUnbind: [key(40, 51)]
        case .queueDeclare: [key(50, 11)]
        case .queueBind: [key(50, 21)]
        case .queuePurge: [key(50, 31)]
        case .queueDelete: [key(50, 41)]
        case .queueUnbind: [key(50, 51)]
        case .basicQos: [key(60, 11)]
        case .basicConsume: [key(60, 21)]
        case .basicCancel: [key(60, 31)]
        case .basicGet: [key(60, 71), key(60, 72)]
        case .basicRecover: [key(60, 111)]
        case .confirmSelect: [key(85, 11)]
        default: nil
        }
    }

    // MARK: requests from the application

    mutating func open(promise: EventLoopPromise<AMQPRPCResponse>) -> [Action] {
        guard self.state == .opening, self.rpcs.isEmpty else {
            return [.failRPC(promise, .protocolError("channel \(self.id) opened twice"))]
        }
        self.rpcs.append(PendingRPC(expected: Self.expectedResponses(to: .channelOpen)!, promise: promise))
        return [.send([.method(channel: self.id, .channelOpen)], nil)]
    }

    /// A synchronous request (declare, bind, qos, get, confirm.select, flow, ...).
    mutating func rpc(_ method: AMQPMethod, promise: EventLoopPromise<AMQPRPCResponse>) -> [Action] {
        guard self.state == .open else { return [.failRPC(promise, self.notOpenError)] }
        guard let expected = Self.expectedResponses(to: method) else {
            return [.failRPC(promise, .protocolError("\(method.ids) is not a synchronous method"))]
        }
        if case .confirmSelect = method { self.confirmMode = true }
        self.rpcs.append(PendingRPC(expected: expected, promise: promise))
        return [.send([.method(channel: self.id, method)], nil)]
    }

    /// Starts a consumer; a delivery whose body is larger than `maxBodySize` is yielded without its body (see the
    /// type's documentation).
    mutating func consume(
        queue: String, consumerTag: String, noAck: Bool, exclusive: Bool, arguments: AMQPFieldTable,
        maxBodySize: UInt64? = nil, continuation: ConsumerContinuation, promise: EventLoopPromise<AMQPRPCResponse>
    ) -> [Action] {
        guard self.state == .open else {
            return [.finishConsumer(continuation, self.notOpenError), .failRPC(promise, self.notOpenError)]
        }
        guard self.consumers[consumerTag] == nil else {
            let error = AMQPError.invalidArgument("consumer tag '\(consumerTag)' is in use on channel \(self.id)")
            return [.finishConsumer(continuation, error), .failRPC(promise, error)]
        }
        // Registered before the request goes out, so no delivery can arrive before its consumer.
        self.consumers[consumerTag] = Consumer(continuation: continuation, maxBodySize: maxBodySize)
        let method = AMQPMethod.basicConsume(
            queue: queue, consumerTag: consumerTag, noLocal: false, noAck: noAck, exclusive: exclusive, noWait: false,
            arguments: arguments)
        self.rpcs.append(PendingRPC(expected: Self.expectedResponses(to: method)!, promise: promise))
        return [.send([.method(channel: self.id, method)], nil)]
    }

    mutating func publish(
        body: ByteBuffer, exchange: String, routingKey: String, mandatory: Bool, properties: AMQPBasicProperties,
        promise: EventLoopPromise<Void>?
    ) -> [Action] {
        guard self.state == .open else { return [.failWrite(promise, self.notOpenError)] }
        var frames: [AMQPFrame] = [
            .method(
                channel: self.id,
                .basicPublish(exchange: exchange, routingKey: routingKey, mandatory: mandatory, immediate: false)),
            .header(
                channel: self.id,
                AMQPContentHeader(bodySize: UInt64(body.readableBytes), properties: properties)),
        ]
        let chunk = Int(self.frameMax) - AMQPFrame.overhead
        var remaining = body
        while remaining.readableBytes > 0 {
            frames.append(.body(channel: self.id, remaining.readSlice(length: min(chunk, remaining.readableBytes))!))
        }
        guard self.confirmMode else { return [.send(frames, promise)] }
        let sequence = self.nextPublishSequence
        self.nextPublishSequence += 1
        if let promise {
            self.unconfirmed[sequence] = promise
            self.unconfirmedOrder.append(sequence)
            if mandatory {
                self.mandatoryPublishes[sequence] = MandatoryPublish(
                    exchange: exchange, routingKey: routingKey, messageID: properties.messageID, body: body)
                self.mandatoryOrder.append(sequence)
            }
        }
        return [.send(frames, nil)]
    }

    /// A method with no response (ack, nack, reject).
    mutating func send(_ method: AMQPMethod, promise: EventLoopPromise<Void>?) -> [Action] {
        guard self.state == .open else { return [.failWrite(promise, self.notOpenError)] }
        return [.send([.method(channel: self.id, method)], promise)]
    }

    mutating func closeRequested(promise: EventLoopPromise<AMQPRPCResponse>) -> [Action] {
        switch self.state {
        case .open, .opening:
            self.state = .closing
            // A message half received is dropped with the rest of its frames (see frameReceived); the broker
            // requeues it with every other unacknowledged delivery when the channel closes.
            self.content = nil
            self.closeError = .channelClosed("channel \(self.id) was closed by the client")
            self.rpcs.append(PendingRPC(expected: [Self.key(20, 41)], promise: promise))
            return [
                .send(
                    [.method(channel: self.id, .channelClose(replyCode: 200, replyText: "bye", classID: 0, methodID: 0))],
                    nil)
            ]
        case .closing, .closed:
            return [.succeedRPC(promise, .empty)]
        }
    }

    /// The connection went away: fail everything.
    mutating func connectionClosed(_ error: AMQPError) -> [Action] {
        guard self.state != .closed else { return [] }
        return self.closeAll(error, sendCloseOk: false)
    }

    // MARK: frames from the broker

    mutating func frameReceived(_ frame: AMQPFrame) -> [Action] {
        switch frame {
        case .method(_, let method):
            return self.methodReceived(method)
        case .header where self.state == .closing, .body where self.state == .closing:
            // The content of a delivery or return the broker sent before it saw our close: its method was
            // discarded (methodReceived), so are its header and body frames (AMQP 0-9-1, channel.close).
            return []
        case .header(_, let header):
            guard var content = self.content, content.header == nil else {
                return self.protocolViolation("unexpected content header on channel \(self.id)")
            }
            content.header = header
            content.body = nil
            if case .deliver(let tag, _, _, _, _) = content.kind, let limit = self.consumers[tag]?.maxBodySize,
                header.bodySize > limit
            {
                content.discardedBytes = 0
            }
            self.content = content
            return header.bodySize == 0 ? self.completeContent() : []
        case .body(_, var body):
            guard var content = self.content, let header = content.header else {
                return self.protocolViolation("unexpected body frame on channel \(self.id)")
            }
            let received: UInt64
            if let discarded = content.discardedBytes {
                // Over the consumer's limit: only counted, so the frame's buffer is released at once.
                received = discarded + UInt64(body.readableBytes)
                content.discardedBytes = received
            } else {
                if content.body == nil {
                    content.body = body
                } else {
                    content.body!.writeBuffer(&body)
                }
                received = UInt64(content.body!.readableBytes)
            }
            guard received <= header.bodySize else {
                return self.protocolViolation("body longer than announced on channel \(self.id)")
            }
            self.content = content
            return received == header.bodySize ? self.completeContent() : []
        case .heartbeat:
            return self.protocolViolation("heartbeat on channel \(self.id)")
        }
    }

    private mutating func methodReceived(_ method: AMQPMethod) -> [Action] {
        if self.content != nil { return self.protocolViolation("method during content on channel \(self.id)") }
        switch method {
        case .channelClose(let code, let text, let classID, let methodID):
            let error = AMQPError(
                code: .brokerClosedChannel, message: "the broker closed channel \(self.id)", replyCode: code,
                replyText: text, classID: classID, methodID: methodID)
            return self.closeAll(error, sendCloseOk: true)
        case .channelCloseOk where self.state == .closing:
            return self.closeAll(self.closeError ?? .channelClosed(), sendCloseOk: false)
        case _ where self.state == .closing:
            // After sending close, everything but close/close-ok is discarded (AMQP 0-9-1, channel.close).
            return []
        case .basicDeliver(let tag, let deliveryTag, let redelivered, let exchange, let routingKey):
            self.content = PartialContent(
                kind: .deliver(
                    consumerTag: tag, deliveryTag: deliveryTag, redelivered: redelivered, exchange: exchange,
                    routingKey: routingKey))
            return []
        case .basicGetOk(let deliveryTag, let redelivered, let exchange, let routingKey, let count):
            self.content = PartialContent(
                kind: .getOk(
                    deliveryTag: deliveryTag, redelivered: redelivered, exchange: exchange, routingKey: routingKey,
                    messageCount: count))
            return []
        case .basicReturn(let code, let text, let exchange, let routingKey):
            self.content = PartialContent(
                kind: .returned(replyCode: code, replyText: text, exchange: exchange, routingKey: routingKey))
            return []
        case .basicAck(let tag, let multiple):
            return self.acked(self.takeConfirms(tag, multiple: multiple))
        case .basicNack(let tag, let multiple, _):
            // A nack stays a nack, returned or not: the broker lost the message.
            let error = AMQPError(code: .publishNacked, message: "the broker nacked the publish (delivery tag \(tag))")
            let confirms = self.takeConfirms(tag, multiple: multiple)
            self.forgetMandatoryPublishes(confirms)
            return [.failConfirms(confirms.map { $0.promise }, error)]
        case .basicCancel(let tag, let noWait):
            var actions: [Action] = []
            if let continuation = self.consumers.removeValue(forKey: tag)?.continuation {
                actions.append(
                    .finishConsumer(
                        continuation,
                        .channelClosed("the broker cancelled consumer '\(tag)' (queue deleted or failed over?)")))
            }
            if !noWait { actions.append(.send([.method(channel: self.id, .basicCancelOk(consumerTag: tag))], nil)) }
            return actions
        case .channelFlow(let active):
            return [.send([.method(channel: self.id, .channelFlowOk(active: active))], nil)]
        default:
            guard let pending = self.rpcs.first else {
                return self.protocolViolation("unexpected \(method.ids) on channel \(self.id)")
            }
            let ids = method.ids
            guard pending.expected.contains(Self.key(ids.classID, ids.methodID)) else {
                return self.protocolViolation("unexpected \(method.ids) on channel \(self.id)")
            }
            self.rpcs.removeFirst()
            var actions: [Action] = []
            switch method {
            case .channelOpenOk:
                self.state = .open
            case .basicCancelOk(let tag):
                if let continuation = self.consumers.removeValue(forKey: tag)?.continuation {
                    actions.append(.finishConsumer(continuation, nil))
                }
            case .basicGetEmpty:
                actions.append(.succeedRPC(pending.promise, .empty))
                return actions
            default:
                break
            }
            actions.append(.succeedRPC(pending.promise, .method(method)))
            return actions
        }
    }

    private mutating func completeContent() -> [Action] {
        guard let content = self.content, let header = content.header else { return [] }
        self.content = nil
        let body = content.body ?? ByteBuffer()
        switch content.kind {
        case .deliver(let tag, let deliveryTag, let redelivered, let exchange, let routingKey):
            let message = AMQPIncomingMessage(
                consumerTag: tag, deliveryTag: deliveryTag, redelivered: redelivered, exchange: exchange,
                routingKey: routingKey, properties: header.properties, body: body,
                oversizedBodySize: content.discardedBytes == nil ? nil : header.bodySize)
            guard let continuation = self.consumers[tag]?.continuation else {
                // The consumer is gone (cancelled locally): give the message back.
                return [.send([.method(channel: self.id, .basicReject(deliveryTag: deliveryTag, requeue: true))], nil)]
            }
            return [.yield(continuation, message)]
        case .getOk(let deliveryTag, let redelivered, let exchange, let routingKey, let count):
            let message = AMQPIncomingMessage(
                consumerTag: nil, deliveryTag: deliveryTag, redelivered: redelivered, exchange: exchange,
                routingKey: routingKey, properties: header.properties, body: body, messageCount: count)
            guard let pending = self.rpcs.first, pending.expected.contains(Self.key(60, 71)) else {
                return self.protocolViolation("unexpected get-ok on channel \(self.id)")
            }
            self.rpcs.removeFirst()
            return [.succeedRPC(pending.promise, .message(message))]
        case .returned(let code, let text, let exchange, let routingKey):
            let message = AMQPIncomingMessage(
                consumerTag: nil, deliveryTag: 0, redelivered: false, exchange: exchange, routingKey: routingKey,
                properties: header.properties, body: body)
            self.matchReturn(message, replyCode: code, replyText: text)
            return [.returned(message, replyCode: code, replyText: text)]
        }
    }

    /// Marks the publish a `basic.return` belongs to, so its ack fails it: the earliest unconfirmed, not yet
    /// returned mandatory publish after the last returned one with the same exchange, routing key, message id and
    /// body. A return that matches nothing (not confirm mode, no promise, ...) is only reported.
    ///
    /// Why this is the right publish with RabbitMQ: it sends a message's return before its ack, so the publish is
    /// still unconfirmed; it returns in publish order, so it is after the last returned one. Acks of earlier routed
    /// messages can still be outstanding (queues confirm later), so "the oldest unconfirmed" would blame a routed
    /// message; comparing the content skips those. What stays ambiguous: two publishes identical in all four fields,
    /// the first routed and still unconfirmed, the second returned (possible only if a binding changed in between or
    /// headers route them): the return is then blamed on the first.
    private mutating func matchReturn(_ message: AMQPIncomingMessage, replyCode: UInt16, replyText: String) {
        guard !self.mandatoryPublishes.isEmpty else { return }
        // The numbers are ascending: a binary search skips everything up to the last returned publish.
        var low = 0
        var high = self.mandatoryOrder.count
        while low < high {
            let middle = low + (high - low) / 2
            if self.mandatoryOrder[self.mandatoryOrder.index(self.mandatoryOrder.startIndex, offsetBy: middle)]
                <= self.lastReturnedSequence
            {
                low = middle + 1
            } else {
                high = middle
            }
        }
        var index = self.mandatoryOrder.index(self.mandatoryOrder.startIndex, offsetBy: low)
        while index < self.mandatoryOrder.endIndex {
            let sequence = self.mandatoryOrder[index]
            if let publish = self.mandatoryPublishes[sequence], publish.returned == nil,
                publish.matches(
                    exchange: message.exchange, routingKey: message.routingKey,
                    messageID: message.properties.messageID, body: message.body)
            {
                self.mandatoryPublishes[sequence]?.returned = (replyCode, replyText)
                self.lastReturnedSequence = sequence
                return
            }
            index = self.mandatoryOrder.index(after: index)
        }
    }

    /// Resolves acked publishes: success, except the mandatory ones the broker returned, which fail as unroutable.
    /// In sequence order, successes batched.
    private mutating func acked(_ confirms: [(sequence: UInt64, promise: EventLoopPromise<Void>)]) -> [Action] {
        guard !self.mandatoryPublishes.isEmpty else { return [.succeedConfirms(confirms.map { $0.promise })] }
        var actions: [Action] = []
        var succeeded: [EventLoopPromise<Void>] = []
        for (sequence, promise) in confirms {
            guard let publish = self.mandatoryPublishes.removeValue(forKey: sequence), let returned = publish.returned
            else {
                succeeded.append(promise)
                continue
            }
            if !succeeded.isEmpty {
                actions.append(.succeedConfirms(succeeded))
                succeeded = []
            }
            let error = AMQPError(
                code: .unroutable,
                message: "the broker could not route the message to any queue (exchange '\(publish.exchange)', "
                    + "routing key '\(publish.routingKey)')",
                replyCode: returned.replyCode, replyText: returned.replyText)
            actions.append(.failConfirms([promise], error))
        }
        if !succeeded.isEmpty { actions.append(.succeedConfirms(succeeded)) }
        self.dropSettledMandatoryPublishes()
        return actions
    }

    private mutating func forgetMandatoryPublishes(_ confirms: [(sequence: UInt64, promise: EventLoopPromise<Void>)]) {
        guard !self.mandatoryPublishes.isEmpty else { return }
        for confirm in confirms { self.mandatoryPublishes.removeValue(forKey: confirm.sequence) }
        self.dropSettledMandatoryPublishes()
    }

    /// Keeps `mandatoryOrder` from growing: settled numbers leave from the front (amortised O(1) per publish).
    private mutating func dropSettledMandatoryPublishes() {
        while let first = self.mandatoryOrder.first, self.mandatoryPublishes[first] == nil {
            self.mandatoryOrder.removeFirst()
        }
    }

    /// Removes the publishes an ack or nack settles and returns them in sequence order. A nack drops their
    /// mandatory entries here; an ack leaves them to `acked`, which needs them.
    private mutating func takeConfirms(
        _ tag: UInt64, multiple: Bool
    ) -> [(sequence: UInt64, promise: EventLoopPromise<Void>)] {
        var promises: [(sequence: UInt64, promise: EventLoopPromise<Void>)] = []
        if multiple {
            while let first = self.unconfirmedOrder.first, first <= tag {
                self.unconfirmedOrder.removeFirst()
                if let promise = self.unconfirmed.removeValue(forKey: first) { promises.append((first, promise)) }
            }
        } else if let promise = self.unconfirmed.removeValue(forKey: tag) {
            promises.append((tag, promise))
            // Drop already-settled sequence numbers from the front so the order buffer stays small.
            while let first = self.unconfirmedOrder.first, self.unconfirmed[first] == nil {
                self.unconfirmedOrder.removeFirst()
            }
        }
        return promises
    }

    private var notOpenError: AMQPError {
        switch self.state {
        case .opening: .channelClosed("channel \(self.id) is not open yet")
        default: self.closeError ?? .channelClosed("channel \(self.id) is closed")
        }
    }

    private mutating func closeAll(_ error: AMQPError, sendCloseOk: Bool) -> [Action] {
        let wasClosing = self.state == .closing
        self.state = .closed
        self.closeError = error
        self.content = nil
        var actions: [Action] = []
        if sendCloseOk { actions.append(.send([.method(channel: self.id, .channelCloseOk)], nil)) }
        while let pending = self.rpcs.popFirst() {
            let isCloseRequest = pending.expected == [Self.key(20, 41)]
            if isCloseRequest, wasClosing || sendCloseOk {
                // The close the client asked for is done, whoever closed first.
                actions.append(.succeedRPC(pending.promise, .empty))
            } else {
                actions.append(.failRPC(pending.promise, error))
            }
        }
        let promises = self.unconfirmedOrder.compactMap { self.unconfirmed[$0] }
        self.unconfirmed.removeAll()
        self.unconfirmedOrder.removeAll()
        self.mandatoryPublishes.removeAll()
        self.mandatoryOrder.removeAll()
        if !promises.isEmpty { actions.append(.failConfirms(promises, error)) }
        // A channel the client closed ends its consumers normally; any other close ends them with the reason.
        for (_, consumer) in self.consumers {
            actions.append(.finishConsumer(consumer.continuation, wasClosing && !sendCloseOk ? nil : error))
        }
        self.consumers.removeAll()
        actions.append(.channelClosed(error))
        return actions
    }

    private mutating func protocolViolation(_ message: String) -> [Action] {
        [.connectionError(AMQPError.protocolError(message))]
    }
}
