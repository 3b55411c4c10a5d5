import Logging
import ServiceCore

/// Wraps a remote ``KeyValueCache`` (Redis) so that its failure never slows the service down: every call is bounded
/// by a short timeout, and after a few consecutive failures the circuit opens and calls fail at once, without touching
/// the network, until a cool-down has passed; then one call probes, and a success closes the circuit again.
///
/// Callers treat every error as a miss, so with the circuit open requests are served from the store at the store's
/// speed. `checkHealth` reports the open circuit with the last failure, which `/health` shows as `degraded`.
///
/// The cool-down runs on a clock given at creation (the continuous clock by default; tests pass a test clock and
/// advance it past the cool-down instead of sleeping through it).
///
/// Thread-safety: `Sendable`; the breaker's state is behind a `Mutex`.
public final class CircuitBreakingCache: KeyValueCache {
    /// Tunables.
    public struct Configuration: Sendable {
        /// How long one call may take before it counts as failed.
        public var timeout: Duration = .milliseconds(100)
        /// Consecutive failures that open the circuit.
        public var failureThreshold: Int = 3
        /// How long the circuit stays open before a probe.
        public var coolDown: Duration = .seconds(1)

        /// Creates the defaults.
        public init() {}
    }

    /// The breaker's state.
    public enum Circuit: Sendable, Equatable {
        /// Calls go through.
        case closed
        /// Calls fail at once for `remaining` more (on the cache's clock); then one call probes.
        case open(remaining: Duration)
        /// One probe is in flight; other calls fail at once.
        case probing
    }

    private let wrapped: any KeyValueCache
    private let configuration: Configuration
    private let logger: Logger
    private let breaker: any CircuitBreaking

    /// Wraps `cache`, timing the cool-down on `clock`.
    public init(
        wrapping cache: any KeyValueCache, configuration: Configuration = Configuration(),
        clock: some Clock<Duration> = ContinuousClock(), logger: Logger
    ) {
        self.wrapped = cache
        self.configuration = configuration
        self.logger = logger
        self.breaker = CircuitBreaker(
            failureThreshold: configuration.failureThreshold, coolDown: configuration.coolDown, clock: clock)
    }

    /// The breaker's current state.
    public var circuit: Circuit { self.breaker.circuit }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await self.guarded { try await $0.get(key) }
    }

    public func set(_ key: String, value: [UInt8], ttl: Duration) async throws {
        try await self.guarded { try await $0.set(key, value: value, ttl: ttl) }
    }

    public func set(_ entries: [(key: String, value: [UInt8])], ttl: Duration) async throws {
        try await self.guarded { try await $0.set(entries, ttl: ttl) }
    }

    public func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool {
        try await self.guarded { try await $0.setIfAbsent(key, value: value, ttl: ttl) }
    }

    public func setIfNewer(_ key: String, value: [UInt8], version: Int64, ttl: Duration) async throws -> Bool {
        try await self.guarded { try await $0.setIfNewer(key, value: value, version: version, ttl: ttl) }
    }

    public func delete(_ key: String) async throws {
        try await self.guarded { try await $0.delete(key) }
    }

    /// Probes the cache itself (not short-circuited), so `/health` sees recovery as soon as it happens; a success
    /// closes the circuit.
    public func checkHealth() async throws {
        do {
            try await self.withTimeout { try await $0.checkHealth() }
            self.recordSuccess()
        } catch {
            self.recordFailure(error)
            throw error
        }
    }

    private func guarded<T: Sendable>(_ operation: @escaping @Sendable (any KeyValueCache) async throws -> T) async throws -> T {
        try self.admit()
        do {
            let value = try await self.withTimeout(operation)
            self.recordSuccess()
            return value
        } catch {
            self.recordFailure(error)
            throw error
        }
    }

    /// Lets a call through, or throws at once while the circuit is open.
    private func admit() throws {
        if let refusal = self.breaker.admit() { throw CacheUnavailableError(reason: "circuit open after: \(refusal)") }
    }

    private func recordSuccess() {
        if self.breaker.recordSuccess() { self.logger.info("cache is back; circuit closed") }
    }

    private func recordFailure(_ error: any Error) {
        if self.breaker.recordFailure(reason: HealthMonitor.reason(error)) {
            self.logger.warning(
                "cache failing; circuit open, serving from the store",
                metadata: ["error": "\(HealthMonitor.reason(error))", "cool_down": "\(DurationParser.format(self.configuration.coolDown))"]
            )
        }
    }

    private func withTimeout<T: Sendable>(_ operation: @escaping @Sendable (any KeyValueCache) async throws -> T) async throws -> T {
        let cache = self.wrapped
        return try await withDeadline(self.configuration.timeout) { try await operation(cache) }
    }
}

/// The cache did not answer, or its circuit is open.
public struct CacheUnavailableError: Error, CustomStringConvertible {
    /// Why.
    public var reason: String
    /// Creates the error.
    public init(reason: String) { self.reason = reason }
    public var description: String { self.reason }
}
