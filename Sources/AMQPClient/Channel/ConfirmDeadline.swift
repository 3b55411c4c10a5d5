import NIOCore

/// Waits for a batch of publish confirms for at most a deadline: each publish's result, or
/// ``AMQPError/Code/timeout`` for those the broker has not confirmed by then.
///
/// A broker that stops confirming (a memory or disk alarm that blocks the connection after the publishes were sent,
/// or a broker that is stuck) must not keep the publisher waiting without end. The publishes themselves stay in
/// flight on the channel: a late confirm completes a promise nobody waits for any more. Everything runs on the
/// connection's event loop, where the confirms complete, so each result is recorded once and the answer given once.
/// A cancelled caller gets its answer at once, with the unconfirmed publishes failed as timed out.
enum ConfirmDeadline {
    static func results(
        of futures: [EventLoopFuture<Void>], on eventLoop: any EventLoop, timeout: Duration
    ) async -> [Result<Void, AMQPError>] {
        guard !futures.isEmpty else { return [] }
        let answer = eventLoop.makePromise(of: [Result<Void, AMQPError>].self)
        let box = NIOLoopBoundBox.makeEmptyBox(valueType: Collector.self, eventLoop: eventLoop)
        eventLoop.execute {
            let collector = Collector(count: futures.count, answer: answer, timeout: timeout)
            box.value = collector
            for (index, future) in futures.enumerated() {
                future.hop(to: eventLoop).assumeIsolated().whenComplete { result in
                    collector.record(index, result.mapError(AMQPChannel.amqpError))
                }
            }
            collector.timer = eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
                collector.expire()
            }
        }
        // The answer is always given: by the last confirm, by the timer, or at once when the caller is cancelled
        // (a stopping publisher stops waiting).
        return await withTaskCancellationHandler {
            (try? await answer.futureResult.get()) ?? futures.map { _ in .failure(.timeoutWaitingForConfirms(timeout)) }
        } onCancel: {
            eventLoop.execute { box.value?.expire() }
        }
    }

    /// The results so far; used on the event loop only.
    private final class Collector {
        private var results: [Result<Void, AMQPError>?]
        private var remaining: Int
        private var answer: EventLoopPromise<[Result<Void, AMQPError>]>?
        private let timeout: Duration
        var timer: Scheduled<Void>?

        init(count: Int, answer: EventLoopPromise<[Result<Void, AMQPError>]>, timeout: Duration) {
            self.results = Array(repeating: nil, count: count)
            self.remaining = count
            self.answer = answer
            self.timeout = timeout
        }

        func record(_ index: Int, _ result: Result<Void, AMQPError>) {
            guard self.results[index] == nil else { return }
            self.results[index] = result
            self.remaining -= 1
            if self.remaining == 0 {
                self.timer?.cancel()
                self.finish()
            }
        }

        func expire() {
            self.finish()
        }

        private func finish() {
            guard let answer = self.answer else { return }
            self.answer = nil
            let timeout = self.timeout
            answer.succeed(self.results.map { $0 ?? .failure(.timeoutWaitingForConfirms(timeout)) })
        }
    }
}

extension AMQPError {
    /// A publish the broker did not confirm within the publisher's deadline.
    static func timeoutWaitingForConfirms(_ timeout: Duration) -> AMQPError {
        AMQPError(code: .timeout, message: "the broker did not confirm the publish within \(timeout)")
    }

    /// A publish refused before it was sent, because the broker blocked the connection (`connection.blocked`).
    static func blocked(_ reason: String?) -> AMQPError {
        AMQPError(
            code: .blocked,
            message: "the broker blocks publishing on this connection (\(reason ?? "resource alarm")); nothing was sent"
        )
    }
}
