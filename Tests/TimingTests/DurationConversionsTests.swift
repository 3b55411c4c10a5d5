import Timing
import XCTest

final class DurationConversionsTests: XCTestCase {
    func testWholeUnitsAreTruncatedTowardZero() {
        let duration = Duration.seconds(2) + .nanoseconds(1_999_999)
        XCTAssertEqual(duration.totalNanoseconds, 2_001_999_999)
        XCTAssertEqual(duration.totalMilliseconds, 2001)
        XCTAssertEqual(Duration.microseconds(999).totalMilliseconds, 0)
        XCTAssertEqual(Duration.milliseconds(-1500).totalMilliseconds, -1500)
        XCTAssertEqual(Duration.milliseconds(1500).totalSeconds, 1.5, accuracy: 1e-12)
    }

    func testDurationsBeyondTheRangeSaturate() {
        let huge = Duration.seconds(Int64.max / 2)
        XCTAssertEqual(huge.totalNanoseconds, .max)
        XCTAssertEqual(huge.totalMilliseconds, .max)
        XCTAssertEqual((Duration.zero - huge).totalNanoseconds, .min)
    }
}
