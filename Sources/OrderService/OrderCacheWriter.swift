import Caching
import Logging
import Metrics
import ServiceCore
import ServiceLifecycle
import Synchronization

/// Writes orders to the shared cache (Redis) behind the requests, many per round trip.
///
/// `POST /orders` used to wait for its own `SET`: a round trip per order, with its task, timer and system calls on
/// both sides, for a write the request's answer does not depend on. Requests now queue the write here and answer;
/// this service sends whatever has queued since its last write as one pipeline. Under load that is dozens of orders
/// per round trip; alone, an order reaches Redis a fraction of a millisecond after its answer. A read in the meantime
/// is answered by the near cache or the store, correctly either way, since orders never change.
///
/// The queue is bounded (``capacity``): while Redis is slow the writes beyond it are dropped and counted as cache
/// errors; a dropped entry costs one read of the store later, never a wrong answer. Failures are counted and logged
/// once per failed write. On graceful shutdown it writes what is queued, then returns.
public final class OrderCacheWriter: Service, Sendable {
    private struct State {
        var pending: [(key: String, value: [UInt8])] = []
        var stopping = false
    }

    private let cache: any KeyValueCache
    private let ttl: Duration
    /// Writes waiting at most; more are dropped.
    public let capacity: Int
    private let metrics: OrderServiceMetrics
    private let logger: Logger
    private let state = Mutex(State())
    private let wake = WakeSignal()

    /// A writer to `cache`, keeping entries for `ttl`.
    public init(cache: any KeyValueCache, ttl: Duration, capacity: Int = 4096, metrics: OrderServiceMetrics, logger: Logger) {
        self.cache = cache
        self.ttl = ttl
        self.capacity = max(1, capacity)
        self.metrics = metrics
        self.logger = logger
    }

    /// Queues `value` under `key`; returns at once.
    public func enqueue(key: String, value: [UInt8]) {
        let queued = self.state.withLock { state -> Bool in
            guard state.pending.count < self.capacity else { return false }
            state.pending.append((key, value))
            return true
        }
        if queued {
            self.wake.signal()
        } else {
            self.metrics.cacheErrors.increment()
        }
    }

    /// Writes queued entries until graceful shutdown, then what is left.
    public func run() async {
        await withGracefulShutdownHandler {
            while true {
                let (batch, stopping) = self.state.withLock { state in
                    defer { state.pending.removeAll(keepingCapacity: true) }
                    return (state.pending, state.stopping)
                }
                if !batch.isEmpty { await self.write(batch) }
                if stopping { return }
                await self.wake.wait()
                if Task.isCancelled { return }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.wake.signal()
        }
    }

    private func write(_ batch: [(key: String, value: [UInt8])]) async {
        do {
            try await self.cache.set(batch, ttl: self.ttl)
        } catch {
            self.metrics.cacheErrors.increment(by: Int64(batch.count))
            self.logger.warning("order cache write failed", metadata: ["orders": "\(batch.count)", "error": "\(error)"])
        }
    }
}
