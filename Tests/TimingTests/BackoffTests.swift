import ClientTestSupport
import Clocks
import Timing
import XCTest

final class BackoffTests: XCTestCase {
    func testDelaysDoubleUpToTheMaximumEachBetweenHalfAndAllOfItsCeiling() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        let ceilings: [Duration] = [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1),
        ]
        for ceiling in ceilings {
            let delay = backoff.nextDelay()
            XCTAssertGreaterThanOrEqual(delay, ceiling / 2)
            XCTAssertLessThanOrEqual(delay, ceiling)
        }
    }

    func testResetStartsAgainFromTheInitialDelay() {
        var backoff = Backoff(initial: .milliseconds(10), maximum: .seconds(5))
        for _ in 0..<10 { _ = backoff.nextDelay() }
        backoff.reset()
        XCTAssertLessThanOrEqual(backoff.nextDelay(), .milliseconds(10))
    }

    func testManyAttemptsNeitherOverflowNorExceedTheMaximum() {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(30))
        for _ in 0..<1000 { XCTAssertLessThanOrEqual(backoff.nextDelay(), .seconds(30)) }
    }

    func testSleepEndsWhenTheClockReachesTheDelay() async {
        let clock = TestClock()
        let slept = Task {
            var backoff = Backoff(initial: .seconds(10), maximum: .seconds(10), clock: clock)
            return await backoff.sleep()
        }
        let sleeping = await eventuallySleeping(on: clock)
        XCTAssertTrue(sleeping)
        // At most the ceiling: advancing by it always ends the sleep, and no real time passes.
        await clock.advance(by: .seconds(10))
        let completed = await slept.value
        XCTAssertTrue(completed)
    }

    func testSleepReturnsFalseWhenCancelled() async {
        let clock = TestClock()
        let slept = Task {
            var backoff = Backoff(initial: .seconds(10), maximum: .seconds(10), clock: clock)
            return await backoff.sleep()
        }
        slept.cancel()
        let completed = await slept.value
        XCTAssertFalse(completed, "a cancelled sleep says so, and the clock never had to move")
    }
}
