@testable import AMQPClient
import NIOCore
import NIOPosix
import XCTest

final class ConnectionStateMachineTests: XCTestCase {
    private func machine(heartbeat: UInt16 = 60) -> AMQPConnectionStateMachine {
        AMQPConnectionStateMachine(
            credentials: .init(
                username: "guest", password: "secret", virtualHost: "/", heartbeat: heartbeat, frameMax: 131_072,
                channelMax: 2047, clientProperties: ["product": "test"]))
    }

    private func openMachine(heartbeat: UInt16 = 10) -> AMQPConnectionStateMachine {
        var machine = self.machine(heartbeat: heartbeat)
        _ = machine.connected()
        _ = machine.methodReceived(.connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: [:], mechanisms: "PLAIN", locales: "en_US"))
        _ = machine.methodReceived(.connectionTune(channelMax: 0, frameMax: 131_072, heartbeat: 60))
        _ = machine.methodReceived(.connectionOpenOk)
        XCTAssertTrue(machine.isOpen)
        return machine
    }

    func testHandshakeSendsHeaderStartOkTuneOkOpenThenConnects() {
        var machine = self.machine()
        XCTAssertEqual(machine.connected(), [.sendProtocolHeader])
        XCTAssertEqual(
            machine.methodReceived(.connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: [:], mechanisms: "AMQPLAIN PLAIN", locales: "en_US")),
            [.send(.method(channel: 0, .connectionStartOk(clientProperties: ["product": "test"], mechanism: "PLAIN", response: "\u{0}guest\u{0}secret", locale: "en_US")))])
        XCTAssertEqual(
            machine.methodReceived(.connectionTune(channelMax: 2047, frameMax: 131_072, heartbeat: 30)),
            [
                .send(.method(channel: 0, .connectionTuneOk(channelMax: 2047, frameMax: 131_072, heartbeat: 30))),
                .send(.method(channel: 0, .connectionOpen(virtualHost: "/"))),
            ])
        XCTAssertEqual(machine.methodReceived(.connectionOpenOk), [.connected(.init(channelMax: 2047, frameMax: 131_072, heartbeat: 30))])
    }

    func testNegotiationTakesTheLowerNonZeroValue() {
        typealias T = AMQPConnectionStateMachine.Tuning
        XCTAssertEqual(
            AMQPConnectionStateMachine.negotiate(client: T(channelMax: 2047, frameMax: 131_072, heartbeat: 60), server: T(channelMax: 0, frameMax: 8192, heartbeat: 0)),
            T(channelMax: 2047, frameMax: 8192, heartbeat: 60))
        XCTAssertEqual(
            AMQPConnectionStateMachine.negotiate(client: T(channelMax: 10, frameMax: 0, heartbeat: 0), server: T(channelMax: 2047, frameMax: 131_072, heartbeat: 60)),
            T(channelMax: 10, frameMax: 131_072, heartbeat: 0))
    }

    func testBrokerWithoutPlainFailsAuthentication() {
        var machine = self.machine()
        _ = machine.connected()
        let actions = machine.methodReceived(.connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: [:], mechanisms: "EXTERNAL", locales: "en_US"))
        guard case .closeConnection(let error) = actions.last else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .authenticationFailed)
    }

    func testAccessRefusedAfterStartOkIsAuthenticationFailedWithoutPassword() {
        var machine = self.machine()
        _ = machine.connected()
        _ = machine.methodReceived(.connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: [:], mechanisms: "PLAIN", locales: "en_US"))
        let actions = machine.methodReceived(.connectionClose(replyCode: 403, replyText: "ACCESS_REFUSED", classID: 0, methodID: 0))
        guard case .closeConnection(let error) = actions.last else { return XCTFail("\(actions)") }
        XCTAssertEqual(error.code, .authenticationFailed)
        XCTAssertEqual(error.replyCode, 403)
        XCTAssertFalse(error.description.contains("secret"))
    }

    func testSocketClosedAfterStartOkIsAuthenticationFailed() {
        var machine = self.machine()
        _ = machine.connected()
        _ = machine.methodReceived(.connectionStart(versionMajor: 0, versionMinor: 9, serverProperties: [:], mechanisms: "PLAIN", locales: "en_US"))
        guard case .closeConnection(let error) = machine.channelInactive().last else { return XCTFail() }
        XCTAssertEqual(error.code, .authenticationFailed)
    }

    func testHeartbeatTicksSendHeartbeatsAndFourSilentTicksKillTheConnection() {
        var machine = self.openMachine()
        XCTAssertEqual(machine.heartbeatTick(), [.send(.heartbeat)])
        XCTAssertEqual(machine.heartbeatTick(), [.send(.heartbeat)])
        machine.frameReceived()
        XCTAssertEqual(machine.heartbeatTick(), [.send(.heartbeat)])
        XCTAssertEqual(machine.heartbeatTick(), [.send(.heartbeat)])
        XCTAssertEqual(machine.heartbeatTick(), [.send(.heartbeat)])
        guard case .closeConnection(let error) = machine.heartbeatTick().last else { return XCTFail() }
        XCTAssertEqual(error.code, .connectionClosed)
        XCTAssertTrue(error.message.contains("heartbeat"))
        XCTAssertEqual(machine.heartbeatTick(), [])
    }

    func testBrokerCloseIsAnsweredAndReported() {
        var machine = self.openMachine()
        let actions = machine.methodReceived(.connectionClose(replyCode: 320, replyText: "CONNECTION_FORCED - shutdown", classID: 0, methodID: 0))
        XCTAssertEqual(actions.first, .send(.method(channel: 0, .connectionCloseOk)))
        guard case .closeConnection(let error) = actions.last else { return XCTFail() }
        XCTAssertEqual(error.code, .brokerClosedConnection)
        XCTAssertEqual(error.replyCode, 320)
    }

    func testClientCloseWaitsForCloseOk() {
        var machine = self.openMachine()
        XCTAssertEqual(machine.closeRequested(), [.send(.method(channel: 0, .connectionClose(replyCode: 200, replyText: "bye", classID: 0, methodID: 0)))])
        XCTAssertEqual(machine.closeRequested(), [])
        guard case .closeConnection(let error) = machine.methodReceived(.connectionCloseOk).last else { return XCTFail() }
        XCTAssertEqual(error.code, .connectionClosed)
    }

    func testBlockedAndUnblockedAreReported() {
        var machine = self.openMachine()
        XCTAssertEqual(machine.methodReceived(.connectionBlocked(reason: "low on memory")), [.blocked("low on memory")])
        XCTAssertEqual(machine.methodReceived(.connectionUnblocked), [.unblocked])
    }

    func testUnexpectedMethodIsAProtocolError() {
        var machine = self.openMachine()
        let actions = machine.methodReceived(.connectionTune(channelMax: 1, frameMax: 1, heartbeat: 1))
        guard case .closeConnection(let error) = actions.last else { return XCTFail() }
        XCTAssertEqual(error.code, .protocolError)
    }
}

final class ChannelStateMachineTests: XCTestCase {
    private let eventLoop = MultiThreadedEventLoopGroup.singleton.next()

    /// Records what the actions asked for and completes their promises, as the handler would.
    private struct Outcome {
        var sent: [AMQPFrame] = []
        var delivered: [AMQPIncomingMessage] = []
        var returned: [AMQPIncomingMessage] = []
        var closed: AMQPError?
        var connectionError: AMQPError?
    }

    private func perform(_ actions: [AMQPChannelStateMachine.Action], into outcome: inout Outcome) {
        for action in actions {
            switch action {
            case .send(let frames, let promise):
                outcome.sent += frames
                promise?.succeed()
            case .succeedRPC(let promise, let response): promise.succeed(response)
            case .failRPC(let promise, let error): promise.fail(error)
            case .failWrite(let promise, let error): promise?.fail(error)
            case .succeedConfirms(let promises): promises.forEach { $0.succeed() }
            case .failConfirms(let promises, let error): promises.forEach { $0.fail(error) }
            case .yield(let continuation, let message):
                outcome.delivered.append(message)
                continuation.yield(message)
            case .finishConsumer(let continuation, let error):
                if let error { continuation.finish(throwing: error) } else { continuation.finish() }
            case .returned(let message, _, _): outcome.returned.append(message)
            case .channelClosed(let error): outcome.closed = error
            case .connectionError(let error): outcome.connectionError = error
            }
        }
    }

    private func openChannel(frameMax: UInt32 = 4096, outcome: inout Outcome) async throws -> AMQPChannelStateMachine {
        var machine = AMQPChannelStateMachine(id: 1, frameMax: frameMax)
        let promise = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.open(promise: promise), into: &outcome)
        XCTAssertEqual(outcome.sent.last, .method(channel: 1, .channelOpen))
        self.perform(machine.frameReceived(.method(channel: 1, .channelOpenOk)), into: &outcome)
        _ = try await promise.futureResult.get()
        XCTAssertEqual(machine.state, .open)
        return machine
    }

    /// An open channel with consumer `c1` on queue `q` registered (taking bodies up to `maxBodySize`), and the
    /// stream its deliveries go to.
    private func consumingChannel(
        maxBodySize: UInt64? = nil, outcome: inout Outcome
    ) async throws -> (AMQPChannelStateMachine, AsyncThrowingStream<AMQPIncomingMessage, any Error>) {
        var machine = try await self.openChannel(outcome: &outcome)
        let (stream, continuation) = AsyncThrowingStream<AMQPIncomingMessage, any Error>.makeStream()
        let consume = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.consume(queue: "q", consumerTag: "c1", noAck: false, exclusive: false, arguments: [:], maxBodySize: maxBodySize, continuation: continuation, promise: consume), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicConsumeOk(consumerTag: "c1"))), into: &outcome)
        _ = try await consume.futureResult.get()
        return (machine, stream)
    }

    func testResponsesCompleteRequestsInOrder() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        let declare = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        let qos = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.queueDeclare(queue: "q", passive: true, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: [:]), promise: declare), into: &outcome)
        self.perform(machine.rpc(.basicQos(prefetchSize: 0, prefetchCount: 10, global: false), promise: qos), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .queueDeclareOk(queue: "q", messageCount: 42, consumerCount: 0))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicQosOk)), into: &outcome)
        guard case .method(.queueDeclareOk(_, 42, _)) = try await declare.futureResult.get() else { return XCTFail() }
        guard case .method(.basicQosOk) = try await qos.futureResult.get() else { return XCTFail() }
    }

    func testPublishSplitsTheBodyByFrameMax() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(frameMax: 4096, outcome: &outcome)
        outcome.sent = []
        let promise = self.eventLoop.makePromise(of: Void.self)
        let body = ByteBuffer(repeating: 7, count: 10_000)
        self.perform(machine.publish(body: body, exchange: "e", routingKey: "k", mandatory: true, properties: .init(), promise: promise), into: &outcome)
        try await promise.futureResult.get()
        XCTAssertEqual(outcome.sent.count, 5)
        let sizes = outcome.sent.compactMap { frame -> Int? in
            if case .body(_, let chunk) = frame { return chunk.readableBytes }
            return nil
        }
        XCTAssertEqual(sizes, [4088, 4088, 1824])
        XCTAssertEqual(outcome.sent[1], .header(channel: 1, AMQPContentHeader(bodySize: 10_000, properties: .init())))
    }

    func testConfirmsResolveSinglyAndMultiplyAndNacksFail() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        let select = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.confirmSelect(noWait: false), promise: select), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .confirmSelectOk)), into: &outcome)
        _ = try await select.futureResult.get()
        let promises = (0..<5).map { _ in self.eventLoop.makePromise(of: Void.self) }
        for promise in promises {
            self.perform(machine.publish(body: ByteBuffer(string: "x"), exchange: "", routingKey: "q", mandatory: false, properties: .init(), promise: promise), into: &outcome)
        }
        XCTAssertEqual(machine.unconfirmedCount, 5)
        self.perform(machine.frameReceived(.method(channel: 1, .basicAck(deliveryTag: 2, multiple: false))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicAck(deliveryTag: 3, multiple: true))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicNack(deliveryTag: 4, multiple: false, requeue: false))), into: &outcome)
        for promise in promises[0..<3] { try await promise.futureResult.get() }
        do {
            try await promises[3].futureResult.get()
            XCTFail("a nacked publish must throw")
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .publishNacked)
        }
        XCTAssertEqual(machine.unconfirmedCount, 1)
        // A broker close fails what is still unconfirmed, so the caller retries it.
        self.perform(machine.frameReceived(.method(channel: 1, .channelClose(replyCode: 404, replyText: "NOT_FOUND", classID: 60, methodID: 40))), into: &outcome)
        do {
            try await promises[4].futureResult.get()
            XCTFail("an unconfirmed publish must fail when the channel closes")
        } catch let error as AMQPError {
            XCTAssertEqual(error.replyCode, 404)
        }
        XCTAssertEqual(outcome.sent.last, .method(channel: 1, .channelCloseOk))
        XCTAssertEqual(outcome.closed?.code, .brokerClosedChannel)
    }

    func testDeliveryIsAssembledFromMethodHeaderAndBodies() async throws {
        var outcome = Outcome()
        var (machine, stream) = try await self.consumingChannel(outcome: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 1, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 6, properties: .init(type: "T")))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "abc"))), into: &outcome)
        XCTAssertTrue(outcome.delivered.isEmpty)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "def"))), into: &outcome)
        // An empty body completes with the header alone.
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 2, redelivered: true, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 0, properties: .init()))), into: &outcome)
        XCTAssertEqual(outcome.delivered.map { String(buffer: $0.body) }, ["abcdef", ""])
        XCTAssertEqual(outcome.delivered.first?.properties.type, "T")
        let close = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.closeRequested(promise: close), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .channelCloseOk)), into: &outcome)
        _ = try await close.futureResult.get()
        var received = 0
        for try await _ in stream { received += 1 }
        XCTAssertEqual(received, 2)
    }

    /// Deliveries the broker sent before it saw our channel.close arrive after it, method, header and body: all
    /// of it is discarded until close-ok. A delivery cut in half by the close is dropped too (the broker requeues
    /// both). The header used to be a protocol error, which reset the whole connection when a consumer stopped
    /// while messages were flowing.
    func testDeliveriesArrivingWhileClosingAreDiscardedWithTheirContent() async throws {
        var outcome = Outcome()
        var (machine, stream) = try await self.consumingChannel(outcome: &outcome)
        // Delivery 1 is half received when the close goes out.
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 1, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 6, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "abc"))), into: &outcome)
        let close = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.closeRequested(promise: close), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "def"))), into: &outcome)
        // Delivery 2 comes whole after the close.
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 2, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 2, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "gh"))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .channelCloseOk)), into: &outcome)
        _ = try await close.futureResult.get()
        XCTAssertNil(outcome.connectionError)
        XCTAssertTrue(outcome.delivered.isEmpty)
        XCTAssertEqual(machine.state, .closed)
        var received = 0
        for try await _ in stream { received += 1 }
        XCTAssertEqual(received, 0)
    }

    func testDeliveryForAGoneConsumerIsRequeued() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "gone", deliveryTag: 9, redelivered: false, exchange: "", routingKey: "q"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 0, properties: .init()))), into: &outcome)
        XCTAssertEqual(outcome.sent.last, .method(channel: 1, .basicReject(deliveryTag: 9, requeue: true)))
    }

    // MARK: bodies over the consumer's limit

    /// A body over the consumer's `maxBodySize` is counted frame by frame and never kept: the delivery comes with an
    /// empty body, its properties and the announced size, so it can still be settled; the next delivery, and one
    /// exactly at the limit, come whole.
    func testABodyOverTheConsumersLimitIsDroppedAcrossItsFramesAndTheDeliveryIsMarked() async throws {
        var outcome = Outcome()
        var (machine, _) = try await self.consumingChannel(maxBodySize: 8, outcome: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 1, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 20, properties: .init(messageID: "big")))), into: &outcome)
        for part in ["01234567", "89abcdef"] {
            self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: part))), into: &outcome)
            XCTAssertTrue(outcome.delivered.isEmpty, "nothing is yielded before the last frame")
        }
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "ghij"))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 2, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 3, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "abc"))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 3, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 8, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "12345678"))), into: &outcome)

        XCTAssertNil(outcome.connectionError)
        XCTAssertEqual(outcome.delivered.map(\.deliveryTag), [1, 2, 3])
        XCTAssertEqual(outcome.delivered.map { String(buffer: $0.body) }, ["", "abc", "12345678"])
        XCTAssertEqual(outcome.delivered.map(\.oversizedBodySize), [20, nil, nil])
        XCTAssertEqual(outcome.delivered.first?.properties.messageID, "big")
    }

    /// Dropping a body still checks the frames: one that runs past the announced size is a protocol error.
    func testADroppedBodyOverrunningItsAnnouncedSizeIsStillAProtocolError() async throws {
        var outcome = Outcome()
        var (machine, _) = try await self.consumingChannel(maxBodySize: 4, outcome: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c1", deliveryTag: 1, redelivered: false, exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 10, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "01234567"))), into: &outcome)
        XCTAssertNil(outcome.connectionError)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "89abcdef"))), into: &outcome)
        XCTAssertEqual(outcome.connectionError?.code, .protocolError)
        XCTAssertTrue(outcome.delivered.isEmpty)
    }

    /// The limit is the consumer's: `basic.get` (what `replay-dlq` and `migrate-queues` move messages with) keeps
    /// every body.
    func testTheLimitBelongsToTheConsumerAndGetKeepsLargeBodies() async throws {
        var outcome = Outcome()
        var (machine, _) = try await self.consumingChannel(maxBodySize: 2, outcome: &outcome)
        let get = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.basicGet(queue: "q", noAck: false), promise: get), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicGetOk(deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q", messageCount: 0))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 5, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "hello"))), into: &outcome)
        guard case .message(let message) = try await get.futureResult.get() else { return XCTFail() }
        XCTAssertEqual(String(buffer: message.body), "hello")
        XCTAssertNil(message.oversizedBodySize)
    }

    func testGetOkAndGetEmptyAnswerGet() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        let first = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        let second = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.basicGet(queue: "q", noAck: false), promise: first), into: &outcome)
        self.perform(machine.rpc(.basicGet(queue: "q", noAck: false), promise: second), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicGetOk(deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q", messageCount: 0))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 2, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "hi"))), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicGetEmpty)), into: &outcome)
        guard case .message(let message) = try await first.futureResult.get() else { return XCTFail() }
        XCTAssertEqual(String(buffer: message.body), "hi")
        XCTAssertEqual(message.messageCount, 0)
        guard case .empty = try await second.futureResult.get() else { return XCTFail() }
    }

    func testReturnIsReported() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .basicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "e", routingKey: "k"))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 1, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "x"))), into: &outcome)
        XCTAssertEqual(outcome.returned.map(\.routingKey), ["k"])
    }

    func testBrokerCloseFailsPendingRequestsAndLaterOnesWithTheReason() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        let declare = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.queueDeclare(queue: "q", passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: ["x-message-ttl": 1]), promise: declare), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .channelClose(replyCode: 406, replyText: "PRECONDITION_FAILED", classID: 50, methodID: 10))), into: &outcome)
        do {
            _ = try await declare.futureResult.get()
            XCTFail()
        } catch let error as AMQPError {
            XCTAssertEqual(error.code, .brokerClosedChannel)
            XCTAssertEqual(error.replyCode, 406)
            XCTAssertEqual(error.classID, 50)
        }
        let later = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.basicQos(prefetchSize: 0, prefetchCount: 1, global: false), promise: later), into: &outcome)
        do {
            _ = try await later.futureResult.get()
            XCTFail()
        } catch let error as AMQPError {
            XCTAssertEqual(error.replyCode, 406)
        }
    }

    // MARK: confirmed means routed

    private func confirmChannel(outcome: inout Outcome) async throws -> AMQPChannelStateMachine {
        var machine = try await self.openChannel(outcome: &outcome)
        let select = self.eventLoop.makePromise(of: AMQPRPCResponse.self)
        self.perform(machine.rpc(.confirmSelect(noWait: false), promise: select), into: &outcome)
        self.perform(machine.frameReceived(.method(channel: 1, .confirmSelectOk)), into: &outcome)
        _ = try await select.futureResult.get()
        return machine
    }

    private func publish(
        _ body: String, routingKey: String, mandatory: Bool = true, messageID: String? = nil,
        on machine: inout AMQPChannelStateMachine, outcome: inout Outcome
    ) -> EventLoopPromise<Void> {
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.perform(
            machine.publish(
                body: ByteBuffer(string: body), exchange: "e", routingKey: routingKey, mandatory: mandatory,
                properties: .init(messageID: messageID), promise: promise),
            into: &outcome)
        return promise
    }

    /// What RabbitMQ sends for an unroutable mandatory message: `basic.return` (312 NO_ROUTE), header, body.
    private func returnFromBroker(
        _ body: String, routingKey: String, messageID: String? = nil, on machine: inout AMQPChannelStateMachine,
        outcome: inout Outcome
    ) {
        let frames: [AMQPFrame] = [
            .method(
                channel: 1, .basicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "e", routingKey: routingKey)),
            .header(
                channel: 1,
                AMQPContentHeader(bodySize: UInt64(body.utf8.count), properties: .init(messageID: messageID))),
            .body(channel: 1, ByteBuffer(string: body)),
        ]
        for frame in frames { self.perform(machine.frameReceived(frame), into: &outcome) }
    }

    private func ack(
        _ tag: UInt64, multiple: Bool = false, on machine: inout AMQPChannelStateMachine, outcome: inout Outcome
    ) {
        self.perform(
            machine.frameReceived(.method(channel: 1, .basicAck(deliveryTag: tag, multiple: multiple))), into: &outcome)
    }

    /// The publish's error, `nil` when it succeeded.
    private func error(of promise: EventLoopPromise<Void>) async -> AMQPError? {
        do {
            try await promise.futureResult.get()
            return nil
        } catch {
            return error as? AMQPError ?? AMQPError(code: .protocolError, message: "not an AMQPError: \(error)")
        }
    }

    func testReturnedMandatoryPublishFailsAsUnroutableWithTheReplyCodeWhenItsAckArrives() async throws {
        var outcome = Outcome()
        var machine = try await self.confirmChannel(outcome: &outcome)
        let promise = self.publish("lost", routingKey: "nowhere", messageID: "m-1", on: &machine, outcome: &outcome)
        XCTAssertEqual(machine.pendingMandatoryCount, 1)
        self.returnFromBroker("lost", routingKey: "nowhere", messageID: "m-1", on: &machine, outcome: &outcome)
        // The return is still reported to `returnedMessages`.
        XCTAssertEqual(outcome.returned.map { String(buffer: $0.body) }, ["lost"])
        self.ack(1, on: &machine, outcome: &outcome)
        let error = await self.error(of: promise)
        XCTAssertEqual(error?.code, .unroutable)
        XCTAssertEqual(error?.replyCode, 312)
        XCTAssertEqual(error?.replyText, "NO_ROUTE")
        XCTAssertEqual(
            error?.message, "the broker could not route the message to any queue (exchange 'e', routing key 'nowhere')")
        XCTAssertEqual(error?.code.description, "unroutable")
        XCTAssertEqual(machine.unconfirmedCount, 0)
        XCTAssertEqual(machine.pendingMandatoryCount, 0)
    }

    func testReturnOfMessageTwoWhileRoutedMessageOneIsUnconfirmedFailsOnlyMessageTwo() async throws {
        for multiple in [false, true] {
            var outcome = Outcome()
            var machine = try await self.confirmChannel(outcome: &outcome)
            let routed = self.publish("first", routingKey: "bound", on: &machine, outcome: &outcome)
            let lost = self.publish("second", routingKey: "unbound", on: &machine, outcome: &outcome)
            self.returnFromBroker("second", routingKey: "unbound", on: &machine, outcome: &outcome)
            if multiple {
                self.ack(2, multiple: true, on: &machine, outcome: &outcome)
            } else {
                // RabbitMQ acks the unroutable message at once and the routed one when its queue confirmed it.
                self.ack(2, on: &machine, outcome: &outcome)
                self.ack(1, on: &machine, outcome: &outcome)
            }
            let routedError = await self.error(of: routed)
            let lostError = await self.error(of: lost)
            XCTAssertNil(routedError, "multiple: \(multiple)")
            XCTAssertEqual(lostError?.code, .unroutable, "multiple: \(multiple)")
            XCTAssertEqual(lostError?.replyCode, 312, "multiple: \(multiple)")
            XCTAssertEqual(machine.pendingMandatoryCount, 0, "multiple: \(multiple)")
        }
    }

    func testIdenticalBodiesFailOnlyTheSecondWhenOnlyTheSecondIsReturned() async throws {
        // Same body and message id, another routing key: the first is routed and still unconfirmed.
        do {
            var outcome = Outcome()
            var machine = try await self.confirmChannel(outcome: &outcome)
            let routed = self.publish("same", routingKey: "bound", messageID: "id", on: &machine, outcome: &outcome)
            let lost = self.publish("same", routingKey: "unbound", messageID: "id", on: &machine, outcome: &outcome)
            self.returnFromBroker("same", routingKey: "unbound", messageID: "id", on: &machine, outcome: &outcome)
            self.ack(2, on: &machine, outcome: &outcome)
            self.ack(1, on: &machine, outcome: &outcome)
            let routedError = await self.error(of: routed)
            let lostError = await self.error(of: lost)
            XCTAssertNil(routedError)
            XCTAssertEqual(lostError?.code, .unroutable)
        }
        // Identical in every field: the first is confirmed before the second comes back.
        do {
            var outcome = Outcome()
            var machine = try await self.confirmChannel(outcome: &outcome)
            let routed = self.publish("same", routingKey: "k", on: &machine, outcome: &outcome)
            let lost = self.publish("same", routingKey: "k", on: &machine, outcome: &outcome)
            self.ack(1, on: &machine, outcome: &outcome)
            self.returnFromBroker("same", routingKey: "k", on: &machine, outcome: &outcome)
            self.ack(2, on: &machine, outcome: &outcome)
            let routedError = await self.error(of: routed)
            let lostError = await self.error(of: lost)
            XCTAssertNil(routedError)
            XCTAssertEqual(lostError?.code, .unroutable)
        }
    }

    func testReturnsInPublishOrderSkipAnIdenticalRoutedPublishBeforeTheLastReturned() async throws {
        // 1 is routed (unconfirmed), then its binding goes: 2 and 3 come back, 3 identical to 1.
        var outcome = Outcome()
        var machine = try await self.confirmChannel(outcome: &outcome)
        let routed = self.publish("x", routingKey: "k", on: &machine, outcome: &outcome)
        let lostY = self.publish("y", routingKey: "k", on: &machine, outcome: &outcome)
        let lostX = self.publish("x", routingKey: "k", on: &machine, outcome: &outcome)
        self.returnFromBroker("y", routingKey: "k", on: &machine, outcome: &outcome)
        self.ack(2, on: &machine, outcome: &outcome)
        self.returnFromBroker("x", routingKey: "k", on: &machine, outcome: &outcome)
        self.ack(3, on: &machine, outcome: &outcome)
        self.ack(1, on: &machine, outcome: &outcome)
        let routedError = await self.error(of: routed)
        let lostYError = await self.error(of: lostY)
        let lostXError = await self.error(of: lostX)
        XCTAssertNil(routedError)
        XCTAssertEqual(lostYError?.code, .unroutable)
        XCTAssertEqual(lostXError?.code, .unroutable)
        XCTAssertEqual(outcome.returned.count, 2)
    }

    func testNonMandatoryPublishIsNeverFailedByAReturn() async throws {
        var outcome = Outcome()
        var machine = try await self.confirmChannel(outcome: &outcome)
        let promise = self.publish("x", routingKey: "k", mandatory: false, on: &machine, outcome: &outcome)
        XCTAssertEqual(machine.pendingMandatoryCount, 0)
        // RabbitMQ never returns it; a return that looks like it matches nothing: it is only reported.
        self.returnFromBroker("x", routingKey: "k", on: &machine, outcome: &outcome)
        self.ack(1, on: &machine, outcome: &outcome)
        let error = await self.error(of: promise)
        XCTAssertNil(error)
        XCTAssertEqual(outcome.returned.count, 1)
    }

    func testMandatoryPublishOutsideConfirmModeIsOnlyReported() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        let promise = self.publish("x", routingKey: "k", on: &machine, outcome: &outcome)
        let error = await self.error(of: promise)
        XCTAssertNil(error)
        XCTAssertEqual(machine.pendingMandatoryCount, 0)
        self.returnFromBroker("x", routingKey: "k", on: &machine, outcome: &outcome)
        XCTAssertEqual(outcome.returned.count, 1)
        XCTAssertNil(outcome.connectionError)
    }

    func testNackOfAReturnedMandatoryPublishIsStillPublishNacked() async throws {
        var outcome = Outcome()
        var machine = try await self.confirmChannel(outcome: &outcome)
        let promise = self.publish("x", routingKey: "k", on: &machine, outcome: &outcome)
        self.returnFromBroker("x", routingKey: "k", on: &machine, outcome: &outcome)
        self.perform(
            machine.frameReceived(.method(channel: 1, .basicNack(deliveryTag: 1, multiple: false, requeue: false))),
            into: &outcome)
        let error = await self.error(of: promise)
        XCTAssertEqual(error?.code, .publishNacked)
        XCTAssertEqual(machine.pendingMandatoryCount, 0)
    }

    func testChannelCloseFailsReturnedAndRoutedMandatoryPublishesWithTheCloseReason() async throws {
        var outcome = Outcome()
        var machine = try await self.confirmChannel(outcome: &outcome)
        let routed = self.publish("a", routingKey: "bound", on: &machine, outcome: &outcome)
        let lost = self.publish("b", routingKey: "unbound", on: &machine, outcome: &outcome)
        self.returnFromBroker("b", routingKey: "unbound", on: &machine, outcome: &outcome)
        let close = AMQPMethod.channelClose(
            replyCode: 406, replyText: "PRECONDITION_FAILED", classID: 60, methodID: 40)
        self.perform(machine.frameReceived(.method(channel: 1, close)), into: &outcome)
        let routedError = await self.error(of: routed)
        let lostError = await self.error(of: lost)
        XCTAssertEqual(routedError?.code, .brokerClosedChannel)
        XCTAssertEqual(lostError?.code, .brokerClosedChannel)
        XCTAssertEqual(machine.pendingMandatoryCount, 0)
    }

    func testRoutedMandatoryPublishesAreForgottenWhenConfirmed() async throws {
        var outcome = Outcome()
        var machine = try await self.confirmChannel(outcome: &outcome)
        let promises = (0..<100).map { index in
            self.publish("m\(index)", routingKey: "k", on: &machine, outcome: &outcome)
        }
        XCTAssertEqual(machine.pendingMandatoryCount, 100)
        self.ack(40, on: &machine, outcome: &outcome)
        self.ack(39, multiple: true, on: &machine, outcome: &outcome)
        self.ack(100, multiple: true, on: &machine, outcome: &outcome)
        for promise in promises {
            let error = await self.error(of: promise)
            XCTAssertNil(error)
        }
        XCTAssertEqual(machine.unconfirmedCount, 0)
        XCTAssertEqual(machine.pendingMandatoryCount, 0)
    }

    func testFrameMaxBelowTheMinimumStillSplitsBodiesInsteadOfTrapping() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(frameMax: 0, outcome: &outcome)
        outcome.sent = []
        let promise = self.eventLoop.makePromise(of: Void.self)
        self.perform(
            machine.publish(
                body: ByteBuffer(repeating: 1, count: 5000), exchange: "", routingKey: "q", mandatory: false,
                properties: .init(), promise: promise),
            into: &outcome)
        try await promise.futureResult.get()
        let sizes = outcome.sent.compactMap { frame -> Int? in
            if case .body(_, let chunk) = frame { return chunk.readableBytes }
            return nil
        }
        XCTAssertEqual(sizes, [4088, 912])
    }

    func testUnexpectedFramesAreConnectionErrors() async throws {
        var outcome = Outcome()
        var machine = try await self.openChannel(outcome: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "x"))), into: &outcome)
        XCTAssertEqual(outcome.connectionError?.code, .protocolError)
        outcome.connectionError = nil
        self.perform(machine.frameReceived(.method(channel: 1, .queueBindOk)), into: &outcome)
        XCTAssertEqual(outcome.connectionError?.code, .protocolError)
        outcome.connectionError = nil
        self.perform(machine.frameReceived(.method(channel: 1, .basicDeliver(consumerTag: "c", deliveryTag: 1, redelivered: false, exchange: "", routingKey: ""))), into: &outcome)
        self.perform(machine.frameReceived(.header(channel: 1, AMQPContentHeader(bodySize: 1, properties: .init()))), into: &outcome)
        self.perform(machine.frameReceived(.body(channel: 1, ByteBuffer(string: "too long"))), into: &outcome)
        XCTAssertEqual(outcome.connectionError?.code, .protocolError)
    }
}
