import ServiceCore
import XCTest

/// The stop gate of the consumer loop and the embedded broker: every waiter wakes, later waits do not block, and a
/// cancelled waiter leaves without the latch opening.
final class LatchTests: XCTestCase {
    func testOpeningWakesEveryWaiterAndLaterWaitsReturnAtOnce() async {
        let latch = Latch()
        let woken = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<5 { group.addTask { await latch.wait() } }
            group.addTask {
                latch.open()
                return true
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(woken, Array(repeating: true, count: 6))
        let again = await latch.wait()
        XCTAssertTrue(again)
        let withTimeout = await latch.wait(timeout: .seconds(3600))
        XCTAssertTrue(withTimeout, "an open latch does not wait for the timeout")
    }

    func testCancelledWaiterReturnsFalseAndTheLatchStaysClosed() async {
        let latch = Latch()
        let result = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await latch.wait() }
            group.cancelAll()
            return await group.next()!
        }
        XCTAssertFalse(result)
        XCTAssertFalse(latch.isOpen)
    }

    func testWaitWithATimeoutReturnsFalseWhenItPasses() async {
        let latch = Latch()
        let opened = await latch.wait(timeout: .milliseconds(1))
        XCTAssertFalse(opened)
    }
}
