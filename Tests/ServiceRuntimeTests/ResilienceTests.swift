import Caching
import ClientTestSupport
import Clocks
import Logging
import ServiceCore
import Synchronization
import TestSupport
import XCTest

/// A cache whose behaviour the test switches: answering, failing, or stuck (no answer until cancelled).
final class SwitchableCache: KeyValueCache {
    enum Mode: Sendable { case up, failing, stuck }
    private let mode = Mutex(Mode.up)
    private let calls = Atomic<Int>(0)
    private let backing = MemoryCache()
    /// Calls stuck until ``releaseStuckCalls()``; `nil` once released.
    private let stuck = Mutex<[CheckedContinuation<Void, Never>]?>([])

    func set(mode: Mode) { self.mode.withLock { $0 = mode } }
    var callCount: Int { self.calls.load(ordering: .relaxed) }

    /// Lets the stuck calls (and any later one) end, failing.
    func releaseStuckCalls() {
        let waiting = self.stuck.withLock { stuck in
            defer { stuck = nil }
            return stuck ?? []
        }
        for continuation in waiting { continuation.resume() }
    }

    private func enter() async throws {
        self.calls.add(1, ordering: .relaxed)
        switch self.mode.withLock({ $0 }) {
        case .up: return
        case .failing: throw TestFailure("connection refused (test)")
        case .stuck:
            // Like a Redis command on a socket whose peer is paused: no answer comes, and the call returns when it
            // is cancelled, as the Redis client's commands do (RedisCancellationTests).
            try await Task.sleep(for: .seconds(3600))
            throw TestFailure("stuck (test)")
        }
    }

    func get(_ key: String) async throws -> [UInt8]? { try await self.enter(); return try await self.backing.get(key) }
    func set(_ key: String, value: [UInt8], ttl: Duration) async throws {
        try await self.enter()
        try await self.backing.set(key, value: value, ttl: ttl)
    }
    func setIfAbsent(_ key: String, value: [UInt8], ttl: Duration) async throws -> Bool {
        try await self.enter()
        return try await self.backing.setIfAbsent(key, value: value, ttl: ttl)
    }
    func setIfNewer(_ key: String, value: [UInt8], version: Int64, ttl: Duration) async throws -> Bool {
        try await self.enter()
        return try await self.backing.setIfNewer(key, value: value, version: version, ttl: ttl)
    }
    func delete(_ key: String) async throws { try await self.enter(); try await self.backing.delete(key) }
    func checkHealth() async throws { try await self.enter() }
}

final class ResilienceTests: XCTestCase {
    // This used to prove that the deadline returns even before an operation that ignores cancellation, which took
    // an unstructured task per call, left running after the deadline. The deadline is now a task-group race that
    // cancels the operation and awaits it, so it holds for operations that honour cancellation, and the clients'
    // commands do, also on a stalled socket: RedisCancellationTests and MySQLClientTests.CancellationTests prove
    // that, and CachingTests.StalledRedisCacheTests proves the original claim end to end (a cache call on a
    // paused Redis fails at its deadline).
    func testDeadlineCancelsAnOperationThatHonoursCancellationAndReturnsWhenItEnds() async {
        let cancelled = FinishedBox()
        do {
            _ = try await withDeadline(.milliseconds(50)) { () async throws -> Int in
                // Never answers by itself: only the deadline's cancellation ends it.
                do {
                    try await Task.sleep(for: .seconds(3600))
                } catch {
                    cancelled.mark()
                    throw error
                }
                return 1
            }
            XCTFail("the deadline should have passed")
        } catch {
            XCTAssertTrue(error is DeadlineExceededError, "\(error)")
            XCTAssertTrue(cancelled.isFinished, "the operation was cancelled and had ended when the caller resumed")
        }
    }

    func testDeadlineErrorWinsOverAResultThatComesAfterTheDeadline() async {
        do {
            _ = try await withDeadline(.milliseconds(20)) { () async -> Int in
                // Answers with a value, not an error, once cancelled: that late value must be discarded.
                await Latch().wait()
                return 1
            }
            XCTFail("a result that came after the deadline was returned")
        } catch {
            XCTAssertTrue(error is DeadlineExceededError, "\(error)")
        }
    }

    func testDeadlinePassesTheCallersCancellationToTheOperation() async {
        let started = Latch()
        let result = await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                do {
                    _ = try await withDeadline(.seconds(3600)) { () async throws -> Int in
                        started.open()
                        try await Task.sleep(for: .seconds(3600))
                        return 1
                    }
                    return nil
                } catch {
                    return error
                }
            }
            await started.wait()
            group.cancelAll()
            return await group.next()!
        }
        XCTAssertTrue(result is CancellationError, "\(String(describing: result))")
    }

    func testDeadlinePassesResultsAndErrorsThrough() async throws {
        let value = try await withDeadline(.seconds(10)) { 42 }
        XCTAssertEqual(value, 42)
        do {
            _ = try await withDeadline(.seconds(10)) { () async throws -> Int in throw TestFailure("boom") }
            XCTFail("expected the operation's error")
        } catch {
            XCTAssertEqual("\(error)", "boom")
        }
    }

    func testSingleFlightRunsConcurrentCallsForOneKeyOnce() async throws {
        let flight = SingleFlight<Int>()
        let runs = RunCounter()
        let callers = RunCounter()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    callers.increment()
                    return try await flight.run(key: "order:1") {
                        runs.increment()
                        // In flight until every caller has called: they join it instead of running their own.
                        _ = await eventually(interval: .milliseconds(1)) { callers.value == 100 }
                        return 7
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(results, Array(repeating: 7, count: 100))
        XCTAssertLessThan(runs.value, 100, "concurrent callers shared runs")
        XCTAssertEqual(flight.count, 0, "the key is forgotten once the result is in")
        _ = try await flight.run(key: "order:1") {
            runs.increment()
            return 8
        }
        XCTAssertGreaterThanOrEqual(runs.value, 2, "a later call runs again")
    }

    func testBreakerOpensAfterFailuresFailsFastThenRecoversThroughAProbe() async throws {
        let backend = SwitchableCache()
        var configuration = CircuitBreakingCache.Configuration()
        configuration.failureThreshold = 3
        configuration.coolDown = .seconds(5)
        let clock = TestClock()
        let cache = CircuitBreakingCache(
            wrapping: backend, configuration: configuration, clock: clock, logger: testLogger("cache"))

        try await cache.set("k", value: [1], ttl: .seconds(60))
        backend.set(mode: .failing)
        for _ in 0..<3 {
            await XCTAssertThrowsErrorAsync { _ = try await cache.get("k") }
        }
        XCTAssertEqual(cache.circuit, .open(remaining: .seconds(5)), "three failures open the circuit")
        let callsWhenOpened = backend.callCount
        for _ in 0..<10 {
            await XCTAssertThrowsErrorAsync { _ = try await cache.get("k") }
        }
        XCTAssertEqual(backend.callCount, callsWhenOpened, "an open circuit does not touch the backend")

        backend.set(mode: .up)
        await clock.advance(by: .seconds(4))
        XCTAssertEqual(cache.circuit, .open(remaining: .seconds(1)))
        await XCTAssertThrowsErrorAsync { _ = try await cache.get("k") }
        XCTAssertEqual(backend.callCount, callsWhenOpened, "open until the cool-down ends, though the backend is back")

        await clock.advance(by: .seconds(1))
        let value = try await cache.get("k")
        XCTAssertEqual(value, [1], "after the cool-down a probe goes through")
        XCTAssertEqual(cache.circuit, .closed, "and its success closes the circuit")
        XCTAssertEqual(backend.callCount, callsWhenOpened + 1)
    }

    func testStuckCacheCountsAsFailedAtTheTimeout() async throws {
        let backend = SwitchableCache()
        var configuration = CircuitBreakingCache.Configuration()
        configuration.timeout = .milliseconds(30)
        let cache = CircuitBreakingCache(wrapping: backend, configuration: configuration, logger: testLogger("cache"))
        backend.set(mode: .stuck)
        defer { backend.releaseStuckCalls() }
        do {
            _ = try await cache.get("k")
            XCTFail("a stuck cache must not answer")
        } catch {
            XCTAssertTrue(error is DeadlineExceededError, "\(error)")
        }
    }

    func testHealthProbeSeesRecoveryEvenWhileTheCircuitIsOpen() async throws {
        let backend = SwitchableCache()
        var configuration = CircuitBreakingCache.Configuration()
        configuration.failureThreshold = 1
        configuration.coolDown = .seconds(60)
        let clock = TestClock()
        let cache = CircuitBreakingCache(
            wrapping: backend, configuration: configuration, clock: clock, logger: testLogger("cache"))
        backend.set(mode: .failing)
        await XCTAssertThrowsErrorAsync { try await cache.checkHealth() }
        guard case .open = cache.circuit else { return XCTFail("open after the failed probe") }
        backend.set(mode: .up)
        try await cache.checkHealth()
        XCTAssertEqual(cache.circuit, .closed, "a healthy probe closes the circuit without waiting for the cool-down")
    }
}

final class FinishedBox: Sendable {
    private let finished = Mutex(false)
    func mark() { self.finished.withLock { $0 = true } }
    var isFinished: Bool { self.finished.withLock { $0 } }
}

final class RunCounter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { self.count.add(1, ordering: .relaxed) }
    var value: Int { self.count.load(ordering: .relaxed) }
}

func XCTAssertThrowsErrorAsync(
    _ body: () async throws -> Void,
    file: StaticString = #filePath,
    line: UInt = #line
) async {
    do {
        try await body()
        XCTFail("expected an error", file: file, line: line)
    } catch {}
}
