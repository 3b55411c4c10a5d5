import AnalyticsService
import AnalyticsStorage
import ArgumentParser
import Foundation
import Logging
import MySQLClient
import MySQLStorage
import OrderService
import OrderStorage
import OrderSystemCLI
import SQLiteStorage
import ServiceCore
import TestSupport
import XCTest

final class MigrateCommandTests: XCTestCase {
    func testMigrateCreatesEachStoreAndIsIdempotent() async throws {
        let directory = try TemporaryDirectory(prefix: "ordersystem-migrate")
        defer { directory.remove() }
        var configuration = try XCTUnwrap(
            try OrderSystemCommand.parseAsRoot(["migrate", "order", "--data-dir", directory.path]) as? MigrateCommand
        ).resolve(environment: [:])
        configuration.logLevel = .critical
        try await MigrateCommand.migrate(.order, configuration: configuration)
        XCTAssertTrue(FileManagerCheck.exists(directory.file("orders.sqlite")))
        XCTAssertFalse(FileManagerCheck.exists(directory.file("analytics.sqlite")), "only what was asked")

        try await MigrateCommand.migrate(.all, configuration: configuration)
        try await MigrateCommand.migrate(.all, configuration: configuration)  // twice: nothing to do, no error
        XCTAssertTrue(FileManagerCheck.exists(directory.file("analytics.sqlite")))

        // The migrated schemas are the ones the services use.
        let orders = try await SQLiteOrderStore.open(path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("o"))
        let backlog = try await orders.outboxBacklog()
        XCTAssertEqual(backlog.pending, 0)
        await orders.close()
        let analytics = try await SQLiteAnalyticsStore.open(path: directory.file("analytics.sqlite"), durability: .normal, logger: testLogger("a"))
        let totals = try await analytics.totals()
        XCTAssertEqual(totals, .empty)
        await analytics.close()
    }

    /// `ordersystem unpark-outbox` makes the parked events of the order store due again, and only those.
    func testUnparkOutboxMakesParkedEventsDueAgain() async throws {
        let directory = try TemporaryDirectory(prefix: "ordersystem-unpark")
        defer { directory.remove() }
        var configuration = try XCTUnwrap(
            try OrderSystemCommand.parseAsRoot(["unpark-outbox", "--store", "sqlite", "--data-dir", directory.path])
                as? UnparkOutboxCommand
        ).resolve(environment: [:])
        configuration.logLevel = .critical
        let store = try await SQLiteOrderStore.open(path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("o"))
        let now = Timestamp.now().adding(seconds: -60)
        try await store.create(batch: (0..<3).map { index in
            let order = Order(
                id: Identifier.random(), customerID: "c\(index)", productID: "p", quantity: 1, totalAmount: Money(cents: 100),
                status: Order.initialStatus, createdAt: now, updatedAt: now)
            return NewOrder(order: order, event: OutboxEvent(
                eventID: Identifier.random(), aggregateID: order.id, eventType: "OrderCreated", routingKey: "order.created",
                payload: Array("{}".utf8), createdAt: now))
        })
        let events = try await store.claimDueEvents(limit: 10, createdBefore: .now(), now: .now(), leaseUntil: .now())
        XCTAssertEqual(events.count, 3)
        try await store.setAside(
            events.prefix(2).map { OutboxFailure(eventID: $0.eventID, attempts: 10, retryAt: nil, reason: "nack (test)") },
            at: .now()
        )
        let parked = try await store.outboxBacklog().parked
        XCTAssertEqual(parked, 2)
        await store.close()

        let unparked = try await UnparkOutboxCommand.unpark(configuration: configuration)
        XCTAssertEqual(unparked, 2)
        let reopened = try await SQLiteOrderStore.open(path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("o"))
        let backlog = try await reopened.outboxBacklog()
        XCTAssertEqual(backlog.parked, 0)
        XCTAssertEqual(backlog.pending, 3)
        await reopened.close()
        let again = try await UnparkOutboxCommand.unpark(configuration: configuration)
        XCTAssertEqual(again, 0)
    }

    /// `ordersystem migrate all --store mysql` creates both services' schemas on the stack's MariaDB, each with its
    /// own user and database, and a second run finds nothing to do.
    func testMigrateAllWorksAgainstMySQL() async throws {
        try await MySQLTestDatabase.order.withClient { _ in }
        try await MySQLTestDatabase.analytics.withClient { _ in }
        var configuration = try XCTUnwrap(
            try OrderSystemCommand.parseAsRoot(["migrate", "all"] + MySQLTestDatabase.systemArguments()) as? MigrateCommand
        ).resolve(environment: [:])
        configuration.logLevel = .critical
        try await MigrateCommand.migrate(.all, configuration: configuration)
        try await MigrateCommand.migrate(.all, configuration: configuration)
        let expected: [(MySQLTestDatabase, [Int])] = [
            (.order, MySQLOrderStore.migrations.map(\.version)),
            (.analytics, MySQLAnalyticsStore.migrations.map(\.version)),
        ]
        for (database, versions) in expected {
            try await database.withClient(empty: false) { client in
                let applied = try await client.query("SELECT version FROM schema_migrations ORDER BY version").rows
                    .map { Int(try $0.decode(Int64.self, column: "version")) }
                XCTAssertEqual(applied, versions, "\(database)")
            }
        }
    }

    func testMigrateDefaultsToAllAndToSQLite() throws {
        let command = try XCTUnwrap(try OrderSystemCommand.parseAsRoot(["migrate"]) as? MigrateCommand)
        XCTAssertEqual(command.target, .all)
        XCTAssertEqual(try command.resolve(environment: [:]).backends.store, .sqlite)
        XCTAssertThrowsError(try OrderSystemCommand.parseAsRoot(["migrate", "billing"]))
    }
}

enum FileManagerCheck {
    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }
}
