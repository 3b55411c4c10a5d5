import Clocks

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. The one way tests wait for an
/// asynchronous effect they can observe, instead of sleeping for a guessed time (not a speed assertion: the timeout
/// is generous, and a condition that holds returns at once).
public func eventually(
    timeout: Duration = .seconds(20),
    interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Waits until some task sleeps on `clock`; returns whether one did within `timeout`. Advancing a test clock before
/// the code under test has started its sleep would leave that sleep waiting forever, so tests call this first.
public func eventuallySleeping(on clock: TestClock<Duration>, timeout: Duration = .seconds(20)) async -> Bool {
    await eventually(timeout: timeout, interval: .milliseconds(1)) {
        do {
            try await clock.checkSuspension()
            return false
        } catch {
            return true
        }
    }
}

/// Polls `condition` as ``eventually(timeout:interval:_:)`` does, moving `clock` on by `step` after each poll that
/// failed, never past `limit` in all: for effects that need the test clock to move and real work (a round trip to a
/// server) between its steps, which one `advance` cannot wait for.
public func eventually(
    advancing clock: TestClock<Duration>, by step: Duration, upTo limit: Duration = .seconds(24 * 3600),
    timeout: Duration = .seconds(20), _ condition: () async -> Bool
) async -> Bool {
    var advanced = Duration.zero
    return await eventually(timeout: timeout) {
        if await condition() { return true }
        if advanced + step <= limit {
            await clock.advance(by: step)
            advanced += step
        }
        return false
    }
}
