import Metrics
import NIOCore
import NIOHTTPTypes

/// `HTTP_HEADER_TIMEOUT`: a request's head must arrive whole within the timeout of its first byte.
///
/// Hummingbird's idle timeout already closes a connection on which nothing is decoded for `HTTP_IDLE_TIMEOUT`,
/// but a client sending one byte now and then keeps a connection for that long each time it starts a request;
/// this bound is much shorter and starts with the first byte. Two handlers share the state: one before the HTTP
/// decoder sees the first byte of each request, one after it sees the head decoded and the response finished.
final class HeaderDeadline {
    let timeout: TimeAmount
    let timeouts: Counter
    /// Requests whose head was read and whose response has not ended.
    var requestsInProgress = 0
    var timer: Scheduled<Void>?

    init(timeout: TimeAmount, timeouts: Counter) {
        self.timeout = timeout
        self.timeouts = timeouts
    }

    /// Bytes arrived while no request is in progress: the next head has begun, and its clock starts.
    func bytesArrived(context: ChannelHandlerContext) {
        guard self.requestsInProgress == 0, self.timer == nil else { return }
        let timeouts = self.timeouts
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) {
            timeouts.increment()
            context.close(promise: nil)
        }
    }

    func headArrived() {
        self.requestsInProgress += 1
        self.cancel()
    }

    func responseEnded() {
        self.requestsInProgress = max(0, self.requestsInProgress - 1)
    }

    func cancel() {
        self.timer?.cancel()
        self.timer = nil
    }
}

/// After the HTTP codec: a decoded head stops the clock; the end of the last response lets the next byte start it.
/// When added, it puts ``RequestStartWatcher`` at the front of the pipeline, where the raw bytes arrive.
final class RequestHeadWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let deadline: HeaderDeadline

    init(timeout: Duration, timeouts: Counter) {
        self.deadline = HeaderDeadline(timeout: TimeAmount(timeout), timeouts: timeouts)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        do {
            try context.pipeline.syncOperations.addHandler(RequestStartWatcher(deadline: self.deadline), position: .first)
        } catch {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.deadline.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) { self.deadline.headArrived() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.deadline.responseEnded() }
        context.write(data, promise: promise)
    }
}

/// Before the HTTP decoder: the first bytes of a request start its head's clock.
final class RequestStartWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let deadline: HeaderDeadline

    init(deadline: HeaderDeadline) {
        self.deadline = deadline
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.unwrapInboundIn(data).readableBytes > 0 { self.deadline.bytesArrived(context: context) }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.deadline.cancel()
        context.fireChannelInactive()
    }
}
