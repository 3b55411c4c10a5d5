/// The connection-level protocol (channel 0) as a pure value type: events in, actions out, no I/O.
///
/// It negotiates (Start/StartOk with PLAIN, Tune/TuneOk, Open/OpenOk), closes in both directions, counts heartbeat
/// ticks and reports `connection.blocked` / `unblocked`. `AMQPConnectionHandler` performs its actions.
struct AMQPConnectionStateMachine {
    /// What Tune/TuneOk agreed.
    struct Tuning: Equatable, Sendable {
        var channelMax: UInt16
        var frameMax: UInt32
        var heartbeat: UInt16
    }

    enum State: Equatable {
        case idle
        case awaitingStart
        case awaitingTune
        case awaitingOpenOk(Tuning)
        case open(Tuning)
        case closing(Tuning)
        case closed
    }

    enum Action: Equatable {
        /// Write the protocol header `AMQP 0 0 9 1`.
        case sendProtocolHeader
        case send(AMQPFrame)
        /// The handshake finished: start heartbeats (if `heartbeat > 0`) and succeed the connect.
        case connected(Tuning)
        /// Fail everything with the error and close the socket (after sending what precedes this action).
        case closeConnection(AMQPError)
        case blocked(String)
        case unblocked
    }

    struct Credentials: Equatable {
        var username: String
        var password: String
        var virtualHost: String
        var heartbeat: UInt16
        var frameMax: UInt32
        var channelMax: UInt16
        var clientProperties: AMQPFieldTable
    }

    private(set) var state: State = .idle
    let credentials: Credentials
    /// Heartbeat ticks (one every half interval) since the last frame was received.
    private var ticksWithoutTraffic = 0
    private var closeError: AMQPError?

    init(credentials: Credentials) {
        self.credentials = credentials
    }

    var isOpen: Bool {
        if case .open = self.state { return true }
        return false
    }

    mutating func connected() -> [Action] {
        guard case .idle = self.state else { return [] }
        self.state = .awaitingStart
        return [.sendProtocolHeader]
    }

    /// Any frame counts as traffic for the heartbeat.
    mutating func frameReceived() {
        self.ticksWithoutTraffic = 0
    }

    /// Called every half heartbeat interval. Two whole intervals without a frame mean the broker is gone.
    mutating func heartbeatTick() -> [Action] {
        guard case .open = self.state else { return [] }
        self.ticksWithoutTraffic += 1
        if self.ticksWithoutTraffic >= 4 {
            let error = AMQPError.connectionClosed("missed heartbeats from the broker: the connection is dead")
            self.state = .closed
            return [.closeConnection(error)]
        }
        return [.send(.heartbeat)]
    }

    mutating func methodReceived(_ method: AMQPMethod) -> [Action] {
        switch (self.state, method) {
        case (.awaitingStart, .connectionStart(let major, let minor, _, let mechanisms, _)):
            guard major == 0, minor == 9 else {
                return self.fail(.protocolError("unsupported protocol version \(major)-\(minor)"))
            }
            guard mechanisms.split(separator: " ").contains("PLAIN") else {
                return self.fail(
                    AMQPError(code: .authenticationFailed, message: "the broker does not offer PLAIN: \(mechanisms)"))
            }
            self.state = .awaitingTune
            let response = "\u{0}\(self.credentials.username)\u{0}\(self.credentials.password)"
            return [
                .send(
                    .method(
                        channel: 0,
                        .connectionStartOk(
                            clientProperties: self.credentials.clientProperties, mechanism: "PLAIN",
                            response: response, locale: "en_US")))
            ]
        case (.awaitingTune, .connectionTune(let channelMax, let frameMax, let heartbeat)):
            let tuning = Self.negotiate(
                client: Tuning(
                    channelMax: self.credentials.channelMax, frameMax: self.credentials.frameMax,
                    heartbeat: self.credentials.heartbeat),
                server: Tuning(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat))
            self.state = .awaitingOpenOk(tuning)
            return [
                .send(
                    .method(
                        channel: 0,
                        .connectionTuneOk(
                            channelMax: tuning.channelMax, frameMax: tuning.frameMax, heartbeat: tuning.heartbeat))),
                .send(.method(channel: 0, .connectionOpen(virtualHost: self.credentials.virtualHost))),
            ]
        case (.awaitingTune, .connectionSecure):
            return self.fail(AMQPError(code: .authenticationFailed, message: "the broker sent a SASL challenge"))
        case (.awaitingOpenOk(let tuning), .connectionOpenOk):
            self.state = .open(tuning)
            return [.connected(tuning)]
        case (.awaitingStart, .connectionClose(let code, let text, let classID, let methodID)),
            (.awaitingTune, .connectionClose(let code, let text, let classID, let methodID)),
            (.awaitingOpenOk, .connectionClose(let code, let text, let classID, let methodID)):
            // A 403 before Open is the broker refusing the credentials; during Open it refuses the vhost.
            let authentication = code == 403 && self.state == .awaitingTune
            var message = "the broker closed the connection during the handshake"
            if authentication {
                message = "the broker refused the credentials of user '\(self.credentials.username)'"
            } else if case .awaitingOpenOk = self.state {
                message = "the broker refused to open vhost '\(self.credentials.virtualHost)'"
            }
            let error = AMQPError(
                code: authentication ? .authenticationFailed : .brokerClosedConnection, message: message,
                replyCode: code, replyText: text, classID: classID, methodID: methodID)
            self.state = .closed
            return [.send(.method(channel: 0, .connectionCloseOk)), .closeConnection(error)]
        case (.open, .connectionClose(let code, let text, let classID, let methodID)):
            self.state = .closed
            let error = AMQPError(
                code: .brokerClosedConnection, message: "the broker closed the connection", replyCode: code,
                replyText: text, classID: classID, methodID: methodID)
            return [.send(.method(channel: 0, .connectionCloseOk)), .closeConnection(error)]
        case (.closing, .connectionClose):
            self.state = .closed
            return [.send(.method(channel: 0, .connectionCloseOk)), .closeConnection(.connectionClosed())]
        case (.closing, .connectionCloseOk):
            self.state = .closed
            return [.closeConnection(self.closeError ?? .connectionClosed())]
        case (.open, .connectionBlocked(let reason)):
            return [.blocked(reason)]
        case (.open, .connectionUnblocked):
            return [.unblocked]
        case (.closing, _), (.closed, _):
            return []
        default:
            return self.fail(.protocolError("unexpected method \(method.ids) on channel 0 in state \(self.state)"))
        }
    }

    /// The application asked to close: send `connection.close` and wait for `close-ok`.
    mutating func closeRequested() -> [Action] {
        switch self.state {
        case .open(let tuning):
            self.state = .closing(tuning)
            self.closeError = .connectionClosed("the connection was closed by the client")
            return [
                .send(.method(channel: 0, .connectionClose(replyCode: 200, replyText: "bye", classID: 0, methodID: 0)))
            ]
        case .closing, .closed:
            return []
        case .idle, .awaitingStart, .awaitingTune, .awaitingOpenOk:
            self.state = .closed
            return [.closeConnection(.connectionClosed("the connection was closed during the handshake"))]
        }
    }

    /// The socket closed.
    mutating func channelInactive() -> [Action] {
        switch self.state {
        case .closed:
            return []
        case .awaitingTune:
            // RabbitMQ without `authentication_failure_close` just drops the socket on bad credentials.
            self.state = .closed
            return [
                .closeConnection(
                    AMQPError(
                        code: .authenticationFailed,
                        message: "the broker closed the socket after StartOk (credentials of user "
                            + "'\(self.credentials.username)' refused?)"))
            ]
        default:
            self.state = .closed
            return [.closeConnection(.connectionClosed("the connection to the broker was lost"))]
        }
    }

    /// A decoding or protocol error: tell the broker (501 FRAME_ERROR) and close.
    mutating func errorCaught(_ error: AMQPError) -> [Action] {
        guard self.state != .closed else { return [] }
        return self.fail(error)
    }

    private mutating func fail(_ error: AMQPError) -> [Action] {
        let wasOpen = self.isOpen
        self.state = .closed
        var actions: [Action] = []
        if wasOpen {
            actions.append(
                .send(
                    .method(
                        channel: 0,
                        .connectionClose(
                            replyCode: 501, replyText: String(error.message.prefix(200)), classID: 0, methodID: 0))))
        }
        actions.append(.closeConnection(error))
        return actions
    }

    static func negotiate(client: Tuning, server: Tuning) -> Tuning {
        func lower<T: FixedWidthInteger>(_ a: T, _ b: T) -> T {
            if a == 0 { return b }
            if b == 0 { return a }
            return min(a, b)
        }
        // A client that asks for no heartbeat gets none; otherwise the lower non-zero proposal wins.
        let heartbeat = client.heartbeat == 0 ? 0 : lower(client.heartbeat, server.heartbeat)
        var frameMax = lower(client.frameMax, server.frameMax)
        if frameMax == 0 { frameMax = 131_072 }
        var channelMax = lower(client.channelMax, server.channelMax)
        if channelMax == 0 { channelMax = 2047 }
        return Tuning(channelMax: channelMax, frameMax: max(frameMax, AMQPFrame.minimumFrameMax), heartbeat: heartbeat)
    }
}
