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
