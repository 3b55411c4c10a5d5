import NIOCore

/// The thin channel handler: writes requests (a whole batch from the connection's ``RedisOutbox`` in one buffer
/// and one flush), parses the replies with ``RESPParser`` and feeds them to ``RedisConnectionStateMachine``, and
/// enforces the deadline of the oldest request.
///
/// It parses the bytes itself rather than behind a `ByteToMessageHandler`: every reply would otherwise be boxed
/// into a `NIOAny` and passed through the pipeline, which cost more than parsing it.
///
/// A timed-out command leaves the reply stream in an unknown position, so a timeout closes the connection and
/// fails every request on it; the pool then replaces the connection.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let parser: RESPParser
    /// The start of a reply that has not fully arrived yet.
    private var partialReply: ByteBuffer?
    private var stateMachine = RedisConnectionStateMachine<RedisPendingReply>()
    /// The replies received so far for the pipeline at the head of the queue.
    private var collected: [RESPValue] = []
    /// The outbox's previous batch array, kept for its capacity.
    private var spare: [RedisRequest] = []
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(limits: RESPLimits = .init()) {
        self.parser = RESPParser(limits: limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed, context: context, close: false)
        self.context = nil
    }

    /// Writes every request queued in `outbox` in one buffer with one flush. Runs on the event loop, scheduled by
    /// the submitter that found the outbox empty.
    func writeQueued(from outbox: RedisOutbox) {
        outbox.takeAll(swappingWith: &self.spare)
        defer { self.spare.removeAll(keepingCapacity: true) }
        guard let context = self.context else {
            for request in self.spare { request.completion.fail(.closedBeforeSending) }
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: 64 * self.spare.count)
        let now = context.eventLoop.now
        for request in self.spare {
            self.enqueue(request, writingInto: &buffer, now: now)
        }
        if buffer.readableBytes > 0 {
            context.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
            self.scheduleTimerIfNeeded(context: context)
        }
    }

    /// A single request written through the pipeline (e.g. by tests); the outbox is the usual way in.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 64 * request.replyCount)
        if self.enqueue(request, writingInto: &buffer, now: context.eventLoop.now) {
            context.write(self.wrapOutboundOut(buffer), promise: promise)
            self.scheduleTimerIfNeeded(context: context)
        } else {
            promise?.fail(RedisError.closedBeforeSending)
        }
    }

    /// Queues `request` for its replies and encodes its commands into `buffer`, or fails it when the connection is
    /// closed (the server never saw it, so it may be retried). Returns whether it was written.
    @discardableResult
    private func enqueue(_ request: RedisRequest, writingInto buffer: inout ByteBuffer, now: NIODeadline) -> Bool {
        // Its caller was cancelled while it waited in the outbox and has returned: nobody wants the reply.
        if request.completion.isAbandoned { return false }
        let pending = RedisPendingReply(completion: request.completion, deadline: now + request.timeout, name: request.name)
        switch self.stateMachine.enqueue(pending, replies: request.replyCount) {
        case .fail:
            request.completion.fail(.closedBeforeSending)
            return false
        case .write:
            request.encode(into: &buffer)
            return true
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        if var partial = self.partialReply.take() {
            partial.writeBuffer(&buffer)
            buffer = partial
        }
        do {
            try self.parser.parseAll(from: &buffer) { value in
                self.deliver(value, context: context)
            }
        } catch {
            self.failAll(error, context: context, close: true)
            return
        }
        if buffer.readableBytes > 0 { self.partialReply = buffer }
    }

    private func deliver(_ value: RESPValue, context: ChannelHandlerContext) {
        switch self.stateMachine.receive() {
        case .partOf(let remaining):
            if self.collected.isEmpty { self.collected.reserveCapacity(remaining + 1) }
            self.collected.append(value)
        case .completes(let reply):
            reply.completion.succeed(last: value, collected: &self.collected)
        case .closeAndFail(let replies, let error):
            for reply in replies { reply.completion.fail(error) }
            context.close(promise: nil)
        case .ignore:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed, context: context, close: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let redisError = (error as? RedisError)
            ?? RedisError(code: .connectionClosed, message: "the connection failed", underlying: error)
        self.failAll(redisError, context: context, close: true)
    }

    private func failAll(_ error: RedisError, context: ChannelHandlerContext, close: Bool) {
        self.timer?.cancel()
        self.timer = nil
        let failed = self.stateMachine.close(error)
        self.collected = []
        self.partialReply = nil
        // Close before failing the requests: a caller woken by the failure returns the connection to the pool, which
        // must already see it closed, or it would lease it again.
        if close { context.close(promise: nil) }
        for reply in failed { reply.completion.fail(error) }
    }

    /// One timer at a time, for the oldest request; when it fires for a request that has since been answered, it
    /// re-arms for the new oldest one. No per-command timer, no cancellation on the hot path.
    private func scheduleTimerIfNeeded(context: ChannelHandlerContext) {
        guard self.timer == nil, let head = self.stateMachine.head else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(deadline: head.deadline) {
            loopBound.value.timerFired()
        }
    }

    private func timerFired() {
        self.timer = nil
        guard let context = self.context, let head = self.stateMachine.head else { return }
        if head.deadline <= context.eventLoop.now {
            self.failAll(
                RedisError(code: .timeout, message: "no reply to \(head.name) within the command timeout"),
                context: context,
                close: true
            )
        } else {
            self.scheduleTimerIfNeeded(context: context)
        }
    }
}
