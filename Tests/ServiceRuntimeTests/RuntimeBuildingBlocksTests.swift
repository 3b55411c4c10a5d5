import ClientTestSupport
import Clocks
import Logging
@testable import ServiceRuntime
import Messaging
import ServiceCore
import ServiceRuntime
import Synchronization
import XCTest

final class RuntimeBuildingBlocksTests: XCTestCase {
    func testTopicPatternsFollowAMQPRules() {
        XCTAssertTrue(TopicPattern.matches(pattern: "order.created", routingKey: "order.created"))
        XCTAssertFalse(TopicPattern.matches(pattern: "order.created", routingKey: "order.shipped"))
        XCTAssertTrue(TopicPattern.matches(pattern: "order.*", routingKey: "order.created"))
        XCTAssertFalse(TopicPattern.matches(pattern: "order.*", routingKey: "order.created.eu"))
        XCTAssertTrue(TopicPattern.matches(pattern: "order.#", routingKey: "order.created.eu"))
        XCTAssertTrue(TopicPattern.matches(pattern: "order.#", routingKey: "order"))
        XCTAssertTrue(TopicPattern.matches(pattern: "#", routingKey: "anything.at.all"))
        XCTAssertTrue(TopicPattern.matches(pattern: "*.created", routingKey: "order.created"))
        XCTAssertFalse(TopicPattern.matches(pattern: "*.created", routingKey: "created"))
    }

    func testDurationsParseAsPeopleWriteThem() {
        XCTAssertEqual(DurationParser.parse("250ms"), .milliseconds(250))
        XCTAssertEqual(DurationParser.parse("1.5s"), .milliseconds(1500))
        XCTAssertEqual(DurationParser.parse("10m"), .seconds(600))
        XCTAssertEqual(DurationParser.parse("24h"), .seconds(86_400))
        XCTAssertEqual(DurationParser.parse("3"), .seconds(3))
        XCTAssertEqual(DurationParser.parse(" 2s "), .seconds(2))
        XCTAssertNil(DurationParser.parse("soon"))
        XCTAssertNil(DurationParser.parse("-1s"))
        XCTAssertNil(DurationParser.parse(""))
        XCTAssertEqual(DurationParser.parseList("1s,10s,60s"), [.seconds(1), .seconds(10), .seconds(60)])
        XCTAssertNil(DurationParser.parseList("1s,,x"))
        XCTAssertEqual(DurationParser.format(.seconds(7200)), "2h")
        XCTAssertEqual(DurationParser.format(.milliseconds(250)), "250ms")
    }

    func testIdentifiersAreCanonicalLowercaseUUIDs() {
        let id = Identifier.random()
        XCTAssertEqual(Identifier.canonicalUUID(id), id)
        XCTAssertEqual(Array(id)[14], "4", "version 4")
        XCTAssertNotEqual(Identifier.random(), id)
        XCTAssertEqual(Identifier.canonicalUUID("5B3C0D2E-8F1A-4C7B-9E6D-2A1B3C4D5E6F"), "5b3c0d2e-8f1a-4c7b-9e6d-2a1b3c4d5e6f")
        XCTAssertNil(Identifier.canonicalUUID("5b3c0d2e8f1a4c7b9e6d2a1b3c4d5e6f"))
        XCTAssertNil(Identifier.canonicalUUID("5b3c0d2e-8f1a-4c7b-9e6d-2a1b3c4d5e6g"))
        XCTAssertNil(Identifier.canonicalUUID("not-a-uuid"))
        XCTAssertNil(Identifier.canonicalUUID("5b3c0d2e-8f1a-4c7b-9e6d-2a1b3c4d5e6"), "35 characters")
        XCTAssertNil(Identifier.canonicalUUID("5b3c0d2e-8f1a-4c7b-9e6d2-a1b3c4d5e6f"), "a dash out of place")
        XCTAssertNil(Identifier.canonicalUUID("5b3c0d2e-8f1a-4c7b-9e6d-2a1b3c4d5éf"), "36 bytes, not ASCII")
        let substring = "/5B3C0D2E-8F1A-4C7B-9E6D-2A1B3C4D5E6F".dropFirst()
        XCTAssertEqual(Identifier.canonicalUUID(substring), "5b3c0d2e-8f1a-4c7b-9e6d-2a1b3c4d5e6f")
    }

    func testTimeOrderedIdentifiersStartWithTheirMillisecondAndSortByTime() {
        let time = Timestamp(microsecondsSinceEpoch: 1_700_000_000_123_456)  // 1,700,000,000,123 ms = 0x018bcfe5687b
        let id = Identifier.timeOrdered(at: time)
        XCTAssertEqual(Identifier.canonicalUUID(id), id)
        XCTAssertTrue(id.hasPrefix("018bcfe5-687b-7"), "48-bit Unix milliseconds, then version 7: \(id)")
        XCTAssertTrue("89ab".contains(Array(id)[19]), "RFC 4122 variant: \(id)")
        XCTAssertNotEqual(Identifier.timeOrdered(at: time), id, "74 random bits")
        // A later millisecond sorts after, as text and so as a key in an index.
        let later = Identifier.timeOrdered(at: time.adding(microseconds: 1000))
        XCTAssertLessThan(id, later)
        XCTAssertTrue(Identifier.timeOrdered(at: Timestamp(microsecondsSinceEpoch: 0)).hasPrefix("00000000-0000-7"))
    }

    func testHealthFoldsOptionalAndRequiredChecks() async {
        struct Down: Error, CustomStringConvertible { var description: String { "connection refused" } }
        let healthy = await HealthMonitor(service: "s", checks: [
            HealthCheck(name: "database", importance: .required) {},
            HealthCheck(name: "cache", importance: .optional) {},
        ]).report()
        XCTAssertEqual(healthy.status, .healthy)

        let degraded = await HealthMonitor(service: "s", checks: [
            HealthCheck(name: "database", importance: .required) {},
            HealthCheck(name: "cache", importance: .optional) { throw Down() },
        ]).report()
        XCTAssertEqual(degraded.status, .degraded)
        XCTAssertEqual(
            String(decoding: degraded.jsonBody, as: UTF8.self),
            #"{"status":"degraded","service":"s","checks":{"database":"healthy","cache":"unhealthy: connection refused"}}"#
        )

        let unhealthy = await HealthMonitor(service: "s", checks: [
            HealthCheck(name: "database", importance: .required) { throw Down() },
            HealthCheck(name: "cache", importance: .optional) { throw Down() },
        ]).report()
        XCTAssertEqual(unhealthy.status, .unhealthy)

        let slow = await HealthMonitor(service: "s", checks: [
            HealthCheck(name: "mq", importance: .required) { try await Task.sleep(for: .seconds(30)) },
        ], timeout: .milliseconds(50)).report()
        XCTAssertEqual(slow.status, .unhealthy, "a probe that hangs counts as down")
        XCTAssertTrue(slow.checks.first?.result.hasPrefix("unhealthy: timed out") ?? false)
    }

    func testLogLinesAreOneFlatJSONObjectEach() throws {
        let sink = LogSink(capturing: true)
        var logger = Logger(label: "order-service") { label in JSONLogHandler(label: label, logLevel: .info, sink: sink) }
        logger[metadataKey: "service"] = "order-service"
        logger.info("order created", metadata: ["order_id": "abc", "note": "line\nbreak \"quoted\""])
        logger.debug("not written below the level")
        let lines = sink.captured.split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        let line = try JSONReader.parse(Array(lines[0].utf8))
        XCTAssertEqual(line["level"], .string("info"))
        XCTAssertEqual(line["service"], .string("order-service"))
        XCTAssertEqual(line["message"], .string("order created"))
        XCTAssertEqual(line["order_id"], .string("abc"))
        XCTAssertEqual(line["note"], .string("line\nbreak \"quoted\""))
        XCTAssertNotNil(line["ts"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
    }

    func testAsyncLockNeverLetsTwoHoldersOverlap() async {
        final class Counters: Sendable {
            let inside = Atomic<Int>(0)
            let overlaps = Atomic<Int>(0)
        }
        let lock = AsyncLock()
        let counters = Counters()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await lock.withLock {
                        if counters.inside.add(1, ordering: .sequentiallyConsistent).newValue > 1 {
                            counters.overlaps.add(1, ordering: .relaxed)
                        }
                        await Task.yield()
                        counters.inside.subtract(1, ordering: .sequentiallyConsistent)
                    }
                }
            }
        }
        XCTAssertEqual(counters.overlaps.load(ordering: .relaxed), 0)
    }

    func testWakeSignalCoalescesAndTimesOut() async {
        let clock = TestClock()
        let signal = WakeSignal()
        signal.signal()
        signal.signal()
        // A pending signal returns at once: the test clock never moves, so a sleep would never end.
        let pending = FinishedBox()
        let pendingWait = Task {
            await signal.wait(timeout: .seconds(30), clock: clock)
            pending.mark()
        }
        let returnedAtOnce = await eventually { pending.isFinished }
        XCTAssertTrue(returnedAtOnce)
        await pendingWait.value

        // The two signals were coalesced into one: the next wait lasts until its timeout.
        let timeout = FinishedBox()
        let timedWait = Task {
            await signal.wait(timeout: .seconds(50), clock: clock)
            timeout.mark()
        }
        let sleeping = await eventuallySleeping(on: clock)
        XCTAssertTrue(sleeping, "no signal pending: the wait sleeps")
        await clock.advance(by: .seconds(49))
        XCTAssertFalse(timeout.isFinished, "not before its timeout")
        await clock.advance(by: .seconds(1))
        await timedWait.value

        let woken = FinishedBox()
        let signalledWait = Task {
            await signal.wait(timeout: .seconds(30), clock: clock)
            woken.mark()
        }
        let waiting = await eventuallySleeping(on: clock)
        XCTAssertTrue(waiting)
        signal.signal()
        let wokenBySignal = await eventually { woken.isFinished }
        XCTAssertTrue(wokenBySignal, "woken by the signal, with the clock short of the timeout")
        await signalledWait.value
    }
}
