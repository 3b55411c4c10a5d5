import NIOCore

/// One command waiting for its reply.
struct RedisRequest: Sendable {
    var command: RedisCommand
    var promise: EventLoopPromise<RESPValue>
    var deadline: NIODeadline
}

/// The thin channel handler: writes commands (batched into one flush), feeds replies to
/// ``RedisConnectionStateMachine``, and enforces the command deadline of the oldest request.
///
/// A timed-out command leaves the reply stream in an unknown position, so a timeout closes the connection and
/// fails every request on it; the pool then replaces the connection.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = [RedisRequest]
    typealias OutboundOut = ByteBuffer

    private var stateMachine = RedisConnectionStateMachine<RedisRequest>()
    private var timer: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed, context: context, close: false)
        self.context = nil
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let requests = self.unwrapOutboundIn(data)
        switch self.stateMachine.enqueue(requests) {
        case .fail:
            for request in requests { request.promise.fail(RedisError.closedBeforeSending) }
            promise?.fail(RedisError.closedBeforeSending)
        case .write:
            var buffer = context.channel.allocator.buffer(capacity: 64 * requests.count)
            for request in requests { RESPEncoder.encode(request.command, into: &buffer) }
            context.write(self.wrapOutboundOut(buffer), promise: promise)
            self.scheduleTimerIfNeeded(context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = self.unwrapInboundIn(data)
        switch self.stateMachine.receive() {
        case .succeed(let request):
            request.promise.succeed(value)
        case .closeAndFail(let requests, let error):
            for request in requests { request.promise.fail(error) }
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
        // Close before failing the requests: a caller woken by the failure returns the connection to the pool, which
        // must already see it closed, or it would lease it again.
        if close { context.close(promise: nil) }
        for request in failed { request.promise.fail(error) }
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
                RedisError(code: .timeout, message: "no reply to \(head.command.name) within the command timeout"),
                context: context,
                close: true
            )
        } else {
            self.scheduleTimerIfNeeded(context: context)
        }
    }
}
