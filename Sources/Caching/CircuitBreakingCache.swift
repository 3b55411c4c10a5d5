import Logging
import ServiceCore
import Synchronization

/// Wraps a remote ``KeyValueCache`` (Redis) so that its failure never slows the service down: every call is bounded
/// by a short timeout, and after a few consecutive failures the circuit opens and calls fail at once, without touching
/// the network, until a cool-down has passed; then one call probes, and a success closes the circuit again.
///
/// Callers treat every error as a miss, so with the circuit open requests are served from the store at the store's
/// speed. `checkHealth` reports the open circuit with the last failure, which `/health` shows as `degraded`.
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
        /// Calls fail at once until `until`.
        case open(until: ContinuousClock.Instant)
        /// One probe is in flight; other calls fail at once.
        case probing
    }

    private struct State {
        var circuit = Circuit.closed
        var consecutiveFailures = 0
        var lastFailure = ""
    }

    private let wrapped: any KeyValueCache
    private let configuration: Configuration
    private let logger: Logger
    private let state = Mutex(State())

    /// Wraps `cache`.
    public init(wrapping cache: any KeyValueCache, configuration: Configuration = Configuration(), logger: Logger) {
        self.wrapped = cache
        self.configuration = configuration
        self.logger = logger
    }

    /// The breaker's current state.
    public var circuit: Circuit { self.state.withLock { $0.circuit } }

    public func get(_ key: String) async throws -> [UInt8]? {
        try await self.guarded { try await $0.get(key) }
    }

    public func set(_ key: String, value: [UInt8], ttl: Duration) async throws {
        try await self.guarded { try await $0.set(key, value: value, ttl: ttl) }
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
        let now = ContinuousClock.now
        let refusal = self.state.withLock { state -> String? in
            switch state.circuit {
            case .closed:
                return nil
            case .open(let until) where now >= until:
                state.circuit = .probing
                return nil
            case .open, .probing:
                return state.lastFailure
            }
        }
        if let refusal { throw CacheUnavailableError(reason: "circuit open after: \(refusal)") }
    }

    private func recordSuccess() {
        let recovered = self.state.withLock { state -> Bool in
            defer {
                state.circuit = .closed
                state.consecutiveFailures = 0
            }
            return state.circuit != .closed
        }
        if recovered { self.logger.info("cache is back; circuit closed") }
    }

    private func recordFailure(_ error: any Error) {
        let now = ContinuousClock.now
        let opened = self.state.withLock { state -> Bool in
            state.consecutiveFailures += 1
            state.lastFailure = HealthMonitor.reason(error)
            switch state.circuit {
            case .probing:
                state.circuit = .open(until: now + self.configuration.coolDown)
                return false
            case .closed where state.consecutiveFailures >= self.configuration.failureThreshold:
                state.circuit = .open(until: now + self.configuration.coolDown)
                return true
            default:
                return false
            }
        }
        if opened {
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
