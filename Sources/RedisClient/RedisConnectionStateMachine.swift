import NIOCore

/// The request/reply bookkeeping of one connection, as a pure value type: requests go in, replies and closes come
/// in, and it answers with what to do. RESP2 replies arrive in request order, so a FIFO queue matches them.
///
/// `Request` is generic so tests can drive it without promises or channels.
struct RedisConnectionStateMachine<Request> {
    private enum State {
        case open
        case closed(RedisError)
    }

    private var state: State = .open
    private(set) var pending = CircularBuffer<Request>(initialCapacity: 16)

    enum EnqueueAction {
        /// Write the requests' commands; they wait for replies.
        case write
        /// The connection is closed: fail the requests with this error.
        case fail(RedisError)
    }

    enum ReceiveAction {
        /// Complete this request with the value.
        case succeed(Request)
        /// A reply nobody asked for: the stream is out of sync. Close, failing these requests.
        case closeAndFail([Request], RedisError)
        /// Already closed; drop the value.
        case ignore
    }

    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    /// The oldest request still waiting for its reply.
    var head: Request? { self.pending.first }

    mutating func enqueue(_ requests: some Collection<Request>) -> EnqueueAction {
        switch self.state {
        case .open:
            self.pending.append(contentsOf: requests)
            return .write
        case .closed(let error):
            return .fail(error)
        }
    }

    mutating func receive() -> ReceiveAction {
        switch self.state {
        case .closed:
            return .ignore
        case .open:
            if let request = self.pending.popFirst() { return .succeed(request) }
            let error = RedisError.protocolError("received a reply with no command waiting for it")
            self.state = .closed(error)
            return .closeAndFail([], error)
        }
    }

    /// The connection closed or must close: returns the requests to fail (each only once).
    mutating func close(_ error: RedisError) -> [Request] {
        guard case .open = self.state else { return [] }
        self.state = .closed(error)
        let failed = Array(self.pending)
        self.pending.removeAll()
        return failed
    }
}
