import NIOCore

/// The life of one connection: handshake, authentication, then one command at a time. Pure: events in, actions
/// out; the channel handler performs the actions.
struct MySQLConnectionStateMachine {
    /// What the channel handler must do.
    enum Action: Equatable {
        /// Write this payload (framed from this sequence id).
        case send(ByteBuffer, sequenceID: UInt8)
        /// Put TLS at the front of the pipeline (the `SSLRequest` was just sent) and report the outcome with
        /// ``MySQLConnectionStateMachine/tlsEstablished()`` or ``MySQLConnectionStateMachine/tlsFailed(_:)``.
        case startTLS
        /// The server does not offer TLS and the mode is `preferred`: the connection goes on in plain text.
        case continuingWithoutTLS
        /// The connection is ready.
        case connected(connectionID: UInt32, serverVersion: String)
        /// The current command completed.
        case succeedCommand(MySQLCommandResult)
        /// The current command failed.
        case failCommand(MySQLError)
        /// Connecting failed.
        case failConnect(MySQLError)
        /// Fail everything still queued, with this error.
        case failAll(MySQLError)
        /// Close the channel.
        case close
    }

    private enum State {
        case waitingForHandshake(MySQLAuthenticationStateMachine)
        /// The `SSLRequest` was sent; the TLS handshake runs.
        case negotiatingTLS(MySQLAuthenticationStateMachine)
        case authenticating(MySQLAuthenticationStateMachine)
        case ready
        /// A command runs; its reader is ``MySQLConnectionStateMachine/command``.
        case running
        case closed
    }

    private var state: State
    private(set) var capabilities: MySQLCapabilities = []
    private(set) var connectionID: UInt32 = 0
    private(set) var serverVersion = ""
    /// Each prepared statement's result columns as last received, by statement id (see ``MySQLResultColumns``).
    private var resultColumns: [UInt32: MySQLResultColumns] = [:]
    /// The reader of the running command's answer. Kept outside `State` so it is mutated in place: as an enum
    /// payload it was copied out and back on every packet (perf: its value-witness copy and destroy were among the
    /// client's top symbols).
    private var command: MySQLCommandStateMachine?
    /// The statement id of the running `COM_STMT_EXECUTE`.
    private var executingStatement: UInt32?

    init(authentication: MySQLAuthenticationStateMachine) {
        self.state = .waitingForHandshake(authentication)
    }

    /// Whether a command may be started now.
    var isReady: Bool {
        if case .ready = self.state { return true }
        return false
    }

    /// Whether the connection has ended.
    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    /// Whether the TLS handshake is running (its errors are TLS errors).
    var isNegotiatingTLS: Bool {
        if case .negotiatingTLS = self.state { return true }
        return false
    }

    /// Whether authentication ran inside TLS.
    private(set) var isTLS = false

    /// A packet arrived.
    mutating func packetReceived(_ packet: MySQLPacket) -> [Action] {
        switch self.state {
        case .waitingForHandshake(var auth):
            if isErrorPacket(packet.payload) {
                // e.g. "Too many connections" or a blocked host, before any handshake.
                let error = (try? parseErrorPacket(packet.payload))
                    ?? MySQLError(code: .protocolError, message: "malformed ERR packet")
                return self.failConnect(error)
            }
            do {
                let handshake = try MySQLHandshakeV10(payload: packet.payload)
                self.connectionID = handshake.connectionID
                self.serverVersion = handshake.serverVersion
                let action = auth.handshakeReceived(handshake, sequenceID: packet.sequenceID)
                self.capabilities = auth.capabilities
                if case .requestTLS = action {
                    self.state = .negotiatingTLS(auth)
                } else {
                    self.state = .authenticating(auth)
                }
                return self.authAction(action)
            } catch {
                return self.failConnect(Self.asMySQLError(error))
            }
        case .negotiatingTLS:
            // Nothing but TLS records may arrive now, and the TLS handler in front consumes those.
            return self.failConnect(
                MySQLError(code: .protocolError, message: "the server sent a MySQL packet instead of starting TLS"))
        case .authenticating(var auth):
            let action = auth.packetReceived(packet)
            self.state = .authenticating(auth)
            return self.authAction(action)
        case .running:
            do {
                switch try self.command!.packetReceived(packet.payload) {
                case .needMore:
                    return []
                case .succeeded(let result):
                    self.state = .ready
                    if let learned = self.command!.learnedColumns, let id = self.executingStatement {
                        self.resultColumns[id] = learned
                    }
                    self.command = nil
                    return [.succeedCommand(result)]
                case .failed(let error):
                    self.state = .ready
                    self.command = nil
                    return [.failCommand(error)]
                }
            } catch {
                let error = Self.asMySQLError(error)
                self.state = .closed
                self.command = nil
                // Close first, so the connection reads as closed before anyone learns of the failure.
                return [.close, .failCommand(error), .failAll(error)]
            }
        case .ready:
            // An unsolicited ERR (e.g. the server killed or timed out the connection) ends the connection.
            var error = MySQLError(code: .connectionClosed, message: "the server closed the connection")
            if let serverError = try? parseErrorPacket(packet.payload) {
                error.serverErrorNumber = serverError.serverErrorNumber
                error.sqlState = serverError.sqlState
                error.message = "the server closed the connection: \(serverError.message)"
            }
            self.state = .closed
            return [.failAll(error), .close]
        case .closed:
            return []
        }
    }

    private mutating func authAction(_ action: MySQLAuthenticationStateMachine.Action) -> [Action] {
        switch action {
        case .send(let payload, let sequenceID):
            return [.send(payload, sequenceID: sequenceID)]
        case .requestTLS(let payload, let sequenceID):
            return [.send(payload, sequenceID: sequenceID), .startTLS]
        case .sendWithoutTLS(let payload, let sequenceID):
            return [.continuingWithoutTLS, .send(payload, sequenceID: sequenceID)]
        case .wait:
            return []
        case .authenticated:
            self.state = .ready
            return [.connected(connectionID: self.connectionID, serverVersion: self.serverVersion)]
        case .fail(let error):
            return self.failConnect(error)
        }
    }

    /// The TLS handshake completed (and the certificate passed the checks the mode asks for): authentication goes
    /// on inside the tunnel.
    mutating func tlsEstablished() -> [Action] {
        guard case .negotiatingTLS(var auth) = self.state else { return [] }
        let action = auth.tlsEstablished()
        self.isTLS = auth.isTLS
        self.state = .authenticating(auth)
        return self.authAction(action)
    }

    /// The TLS handshake failed or the certificate was refused; `error` says why (a ``MySQLError/Code/tls`` error).
    mutating func tlsFailed(_ error: MySQLError) -> [Action] {
        guard case .negotiatingTLS = self.state else { return [] }
        return self.failConnect(error)
    }

    private mutating func failConnect(_ error: MySQLError) -> [Action] {
        self.state = .closed
        return [.failConnect(error), .close]
    }

    /// Starts `command`; only valid when ``isReady``.
    mutating func startCommand(_ command: MySQLCommand) -> [Action] {
        switch self.state {
        case .ready:
            let send = Action.send(command.encode(), sequenceID: 0)
            if case .quit = command {
                self.state = .closed
                return [send, .succeedCommand(.done), .close]
            }
            var knownColumns: MySQLResultColumns?
            switch command {
            case .execute(let statement, _):
                self.executingStatement = statement.id
                knownColumns = self.resultColumns[statement.id]
            case .closeStatement(let id):
                self.resultColumns.removeValue(forKey: id)
                self.executingStatement = nil
            default:
                self.executingStatement = nil
            }
            if !command.expectsResponse { return [send, .succeedCommand(.done)] }
            self.command = MySQLCommandStateMachine(
                command: command, capabilities: self.capabilities, knownColumns: knownColumns)
            self.state = .running
            return [send]
        case .closed:
            return [.failCommand(MySQLError(code: .connectionClosed, message: "the connection is closed"))]
        default:
            return [.failCommand(MySQLError(code: .protocolError, message: "a command was started while busy"))]
        }
    }

    /// The current command (or the connect) took too long: the connection is closed, since the server may still
    /// send its answer.
    mutating func timedOut() -> [Action] {
        switch self.state {
        case .running:
            self.state = .closed
            self.command = nil
            let error = MySQLError(code: .timeout, message: "the query timed out; the connection was closed")
            return [.close, .failCommand(error), .failAll(error)]
        case .waitingForHandshake, .authenticating:
            self.state = .closed
            return [.failConnect(MySQLError(code: .timeout, message: "connecting timed out")), .close]
        case .negotiatingTLS:
            self.state = .closed
            let error = MySQLError(code: .timeout, message: "connecting timed out during the TLS handshake")
            return [.failConnect(error), .close]
        case .ready, .closed:
            return []
        }
    }

    /// The channel closed, or failed with `error`.
    mutating func connectionClosed(error: (any Error)? = nil) -> [Action] {
        let previous = self.state
        self.state = .closed
        self.command = nil
        var reason = "the connection was closed"
        if let error { reason += " (\(error))" }
        let closed = MySQLError(code: .connectionClosed, message: reason)
        // A reply over the packet limit is the running command's own failure, not a lost connection: it keeps its
        // code, so no caller retries it as transient. Queued commands never ran and fail as closed.
        let tooLarge = (error as? MySQLError).flatMap { $0.code == .packetTooLarge ? $0 : nil }
        switch previous {
        case .waitingForHandshake, .authenticating:
            return [.failConnect(tooLarge ?? closed), .close]
        case .negotiatingTLS:
            var tlsError = MySQLError(code: .tls, message: "the connection closed during the TLS handshake")
            if let error { tlsError.message += " (\(error))" }
            return [.failConnect(tlsError), .close]
        case .running:
            // Closed first, as on a timeout: a caller woken by the failure hands the connection back to the pool,
            // which must already see it closed (a decoder error arrives while the socket is still open).
            return [.close, .failCommand(tooLarge ?? closed), .failAll(closed)]
        case .ready:
            return [.failAll(closed), .close]
        case .closed:
            return []
        }
    }

    static func asMySQLError(_ error: any Error) -> MySQLError {
        error as? MySQLError ?? MySQLError(code: .protocolError, message: "\(error)")
    }
}
