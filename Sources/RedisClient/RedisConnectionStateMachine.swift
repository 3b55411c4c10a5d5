import NIOCore

/// The request/reply bookkeeping of one connection, as a pure value type: requests go in, replies and closes come
/// in, and it answers with what to do. RESP2 replies arrive in request order, so a FIFO queue matches them.
///
/// A request may expect several replies (a pipeline is one request): it stays at the head until the last of them
/// has arrived, so a pipeline needs one completion rather than one per command.
///
/// `Request` is generic so tests can drive it without continuations or channels.
struct RedisConnectionStateMachine<Request> {
    private enum State {
        case open
        case closed(RedisError)
    }

    private struct Entry {
        var request: Request
        /// Replies still to come for this request.
        var remaining: Int
    }

    private var state: State = .open
    private var pending = CircularBuffer<Entry>(initialCapacity: 16)

    enum EnqueueAction {
        /// Write the request's commands; it waits for its replies.
        case write
        /// The connection is closed: fail the request with this error.
        case fail(RedisError)
    }

    enum ReceiveAction {
        /// The reply belongs to the head request, which waits for `remaining` more.
        case partOf(remaining: Int)
        /// The reply is the last one for this request: complete it.
        case completes(Request)
        /// A reply nobody asked for: the stream is out of sync. Close, failing these requests.
        case closeAndFail([Request], RedisError)
        /// Already closed; drop the value.
        case ignore
    }

    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    /// The oldest request still waiting for a reply.
    var head: Request? { self.pending.first?.request }

    /// Requests still waiting for a reply.
    var count: Int { self.pending.count }

    /// Queues `request`, which expects `replies` replies (at least 1).
    mutating func enqueue(_ request: Request, replies: Int) -> EnqueueAction {
        switch self.state {
        case .open:
            precondition(replies > 0, "a request must expect at least one reply")
            self.pending.append(Entry(request: request, remaining: replies))
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
            guard let head = self.pending.first else {
                let error = RedisError.protocolError("received a reply with no command waiting for it")
                self.state = .closed(error)
                return .closeAndFail([], error)
            }
            if head.remaining == 1 {
                self.pending.removeFirst()
                return .completes(head.request)
            }
            self.pending[self.pending.startIndex].remaining -= 1
            return .partOf(remaining: head.remaining - 1)
        }
    }

    /// The connection closed or must close: returns the requests to fail (each only once).
    mutating func close(_ error: RedisError) -> [Request] {
        guard case .open = self.state else { return [] }
        self.state = .closed(error)
        let failed = self.pending.map(\.request)
        self.pending.removeAll()
        return failed
    }
}
