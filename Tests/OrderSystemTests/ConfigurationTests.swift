import AnalyticsService
import ArgumentParser
import Logging
import NotificationWorker
import OrderService
import OrderSystemCLI
import ServiceCore
import ServiceRuntime
import XCTest

final class ConfigurationTests: XCTestCase {
    private func all(_ arguments: [String] = [], environment: [String: String] = [:]) throws -> SystemConfiguration {
        try AllCommand.parse(arguments).resolve(environment: environment)
    }

    func testAllDefaultsToEmbeddedBackendsOnTheOriginalPorts() throws {
        let configuration = try self.all()
        XCTAssertEqual(configuration.order.port, 8080)
        XCTAssertEqual(configuration.analytics.port, 8081)
        XCTAssertEqual(configuration.notification.port, 8082)
        XCTAssertEqual(configuration.backends.store, .sqlite)
        XCTAssertEqual(configuration.backends.cache, .memory)
        XCTAssertEqual(configuration.backends.broker, .embedded)
        XCTAssertEqual(configuration.backends.dataDirectory, "./data")
        XCTAssertEqual(configuration.logLevel, .info)
        XCTAssertEqual(configuration.backends.rabbitmqURL, "amqp://guest:guest@localhost:5672/")
        XCTAssertEqual(configuration.backends.redisHost, "localhost")
        XCTAssertEqual(configuration.backends.redisPort, 6379)
        XCTAssertEqual(configuration.order.retryDelays, [.seconds(1), .seconds(10), .seconds(60)])
        XCTAssertEqual(configuration.orderDatabase, DatabaseSettings(host: "localhost", port: 3306, user: "orderuser", password: "orderpass", name: "order_db"))
        XCTAssertEqual(configuration.analyticsDatabase.user, "analyticsuser")
        XCTAssertEqual(configuration.analyticsDatabase.name, "analytics_db")
    }

    func testFlagBeatsEnvironmentBeatsDefault() throws {
        let environment = ["ORDER_SERVICE_PORT": "9000", "ANALYTICS_SERVICE_PORT": "9001", "LOG_LEVEL": "debug", "DATA_DIR": "/tmp/x"]
        let fromEnvironment = try self.all(environment: environment)
        XCTAssertEqual(fromEnvironment.order.port, 9000)
        XCTAssertEqual(fromEnvironment.analytics.port, 9001)
        XCTAssertEqual(fromEnvironment.logLevel, .debug)
        XCTAssertEqual(fromEnvironment.backends.dataDirectory, "/tmp/x")
        let fromFlags = try self.all(["--order-port", "9100", "--log-level", "error", "--data-dir", "/tmp/y"], environment: environment)
        XCTAssertEqual(fromFlags.order.port, 9100)
        XCTAssertEqual(fromFlags.analytics.port, 9001)
        XCTAssertEqual(fromFlags.logLevel, .error)
        XCTAssertEqual(fromFlags.backends.dataDirectory, "/tmp/y")
    }

    func testAllReadsPrefixedDatabaseVariablesThenSharedHostThenDefaults() throws {
        let configuration = try self.all(environment: [
            "DB_HOST": "shared-host", "DB_PORT": "3307", "DB_USER": "ignored-by-all",
            "ANALYTICS_DB_HOST": "analytics-host", "ORDER_DB_USER": "orders", "ORDER_DB_PASSWORD": "secret",
            "ANALYTICS_DB_NAME": "stats",
        ])
        XCTAssertEqual(configuration.orderDatabase, DatabaseSettings(host: "shared-host", port: 3307, user: "orders", password: "secret", name: "order_db"))
        XCTAssertEqual(configuration.analyticsDatabase, DatabaseSettings(host: "analytics-host", port: 3307, user: "analyticsuser", password: "analyticspass", name: "stats"))
        XCTAssertFalse("\(configuration.orderDatabase)".contains("secret"), "a password never shows in a description")
    }

    func testSingleServiceCommandsReadThePlainOriginalVariables() throws {
        let environment = ["SERVICE_PORT": "7000", "HEALTH_PORT": "7002", "DB_USER": "u", "DB_NAME": "n", "DB_HOST": "h"]
        let order = try XCTUnwrap(try OrderSystemCommand.parseAsRoot(["order-service"]) as? OrderServiceCommand)
            .resolve(environment: environment)
        XCTAssertEqual(order.order.port, 7000)
        XCTAssertEqual(order.orderDatabase, DatabaseSettings(host: "h", port: 3306, user: "u", password: "orderpass", name: "n"))
        XCTAssertEqual(order.backends.store, .mysql)
        XCTAssertEqual(order.backends.cache, .redis)
        XCTAssertEqual(order.backends.broker, .rabbitmq)

        let analytics = try XCTUnwrap(try OrderSystemCommand.parseAsRoot(["analytics-service", "--port", "7100"]) as? AnalyticsServiceCommand)
            .resolve(environment: environment)
        XCTAssertEqual(analytics.analytics.port, 7100)
        XCTAssertEqual(analytics.analyticsDatabase.password, "analyticspass")

        let worker = try XCTUnwrap(try OrderSystemCommand.parseAsRoot(["notification-worker"]) as? NotificationWorkerCommand)
            .resolve(environment: environment)
        XCTAssertEqual(worker.notification.port, 7002)
    }

    func testTunablesHaveFlagsAndEnvironmentVariables() throws {
        let configuration = try self.all(
            ["--analytics-prefetch", "500", "--outbox-batch-size", "64", "--notification-max-attempts", "7"],
            environment: [
                "RETRY_DELAYS": "100ms,2s,1m", "OUTBOX_POLL_INTERVAL": "250ms", "OUTBOX_RETENTION": "2h",
                "NOTIFICATION_PREFETCH": "8", "NOTIFICATION_LATENCY": "5ms", "NOTIFICATION_FAILURE_RATE": "0.25",
                "MAX_BODY_SIZE": "4096", "CACHE_CAPACITY": "99", "ORDER_QUEUE_LIMIT": "64",
            ]
        )
        XCTAssertEqual(configuration.analytics.prefetch, 500)
        XCTAssertEqual(configuration.order.relay.batchSize, 64)
        XCTAssertEqual(configuration.notification.maxAttempts, 7)
        XCTAssertEqual(configuration.notification.retryDelays, [.milliseconds(100), .seconds(2), .seconds(60)])
        XCTAssertEqual(configuration.order.relay.pollInterval, .milliseconds(250))
        XCTAssertEqual(configuration.order.relay.retention, .seconds(7200))
        XCTAssertEqual(configuration.notification.prefetch, 8)
        XCTAssertEqual(configuration.notificationLatency, .milliseconds(5))
        XCTAssertEqual(configuration.notificationFailureRate, 0.25)
        XCTAssertEqual(configuration.order.maxBodySize, 4096)
        XCTAssertEqual(configuration.backends.cacheCapacity, 99)
        XCTAssertEqual(configuration.order.orderQueueLimit, 64)
        XCTAssertEqual(try self.all(["--order-queue-limit", "5"]).order.orderQueueLimit, 5)
        XCTAssertEqual(try self.all().order.orderQueueLimit, 1024)
        XCTAssertThrowsError(try self.all(environment: ["ORDER_QUEUE_LIMIT": "0"])) { error in
            XCTAssertTrue("\(error)".contains("ORDER_QUEUE_LIMIT"), "\(error)")
        }
    }

    func testHTTPBoundsAndOpsPortsHaveFlagsAndEnvironmentVariables() throws {
        let defaults = try self.all()
        XCTAssertEqual(defaults.order.http, HTTPServerSettings(idleTimeout: .seconds(60), headerTimeout: .seconds(10), maxConnections: 256))
        XCTAssertNil(defaults.analytics.http.opsPort, "no ops port unless one is set")

        let configured = try self.all(
            ["--http-max-connections", "100", "--analytics-ops-port", "9191"],
            environment: ["HTTP_IDLE_TIMEOUT": "5s", "HTTP_HEADER_TIMEOUT": "500ms", "ORDER_OPS_PORT": "9090", "HTTP_MAX_CONNECTIONS": "7"]
        )
        for http in [configured.order.http, configured.analytics.http, configured.notification.http] {
            XCTAssertEqual(http.idleTimeout, .seconds(5))
            XCTAssertEqual(http.headerTimeout, .milliseconds(500))
            XCTAssertEqual(http.maxConnections, 100, "the flag beats HTTP_MAX_CONNECTIONS")
        }
        XCTAssertEqual(configured.order.http.opsPort, 9090)
        XCTAssertEqual(configured.analytics.http.opsPort, 9191)
        XCTAssertNil(configured.notification.http.opsPort, "the worker's health port is its ops port")

        let single = try OrderServiceCommand.parse([]).resolve(environment: ["OPS_PORT": "9292", "HTTP_IDLE_TIMEOUT": "2m"])
        XCTAssertEqual(single.order.http.opsPort, 9292)
        XCTAssertEqual(single.order.http.idleTimeout, .seconds(120))
        XCTAssertEqual(try AnalyticsServiceCommand.parse(["--ops-port", "9393"]).resolve(environment: [:]).analytics.http.opsPort, 9393)

        XCTAssertEqual(defaults.shutdownTimeout, .seconds(25))
        XCTAssertEqual(defaults.order.relay.flushTimeout, .milliseconds(6250), "a quarter of the shutdown budget")
        let shortStop = try self.all(["--shutdown-timeout", "8s"], environment: ["SHUTDOWN_TIMEOUT": "1m", "OUTBOX_MAX_ATTEMPTS": "3"])
        XCTAssertEqual(shortStop.shutdownTimeout, .seconds(8))
        XCTAssertEqual(shortStop.order.relay.flushTimeout, .seconds(2))
        XCTAssertEqual(shortStop.order.relay.maxAttempts, 3)
        XCTAssertEqual(defaults.order.relay.maxAttempts, 10)

        for (name, value) in [("SHUTDOWN_TIMEOUT", "0s"), ("OUTBOX_MAX_ATTEMPTS", "0"), ("HTTP_IDLE_TIMEOUT", "0s"), ("HTTP_HEADER_TIMEOUT", "soon"), ("HTTP_MAX_CONNECTIONS", "0"), ("ORDER_OPS_PORT", "70000")] {
            XCTAssertThrowsError(try self.all(environment: [name: value])) { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
    }

    func testAMQPMaxBodyHasAFlagAnEnvironmentVariableADefaultAndARange() throws {
        XCTAssertEqual(try self.all().backends.amqpMaxBody, 1_048_576)
        XCTAssertEqual(try self.all(environment: ["AMQP_MAX_BODY": "65536"]).backends.amqpMaxBody, 65536)
        XCTAssertEqual(
            try self.all(["--amqp-max-body", "8192"], environment: ["AMQP_MAX_BODY": "65536"]).backends.amqpMaxBody, 8192)
        let worker = try XCTUnwrap(try OrderSystemCommand.parseAsRoot(["notification-worker"]) as? NotificationWorkerCommand)
            .resolve(environment: ["AMQP_MAX_BODY": "4096"])
        XCTAssertEqual(worker.backends.amqpMaxBody, 4096, "every command reads it")
        for value in ["4095", "134217729", "1MiB"] {
            XCTAssertThrowsError(try self.all(environment: ["AMQP_MAX_BODY": value])) { error in
                XCTAssertTrue("\(error)".contains("AMQP_MAX_BODY"), "\(error)")
            }
        }
    }

    func testBadValuesAreRejectedNamingTheirSource() throws {
        XCTAssertThrowsError(try self.all(environment: ["ORDER_SERVICE_PORT": "http"])) { error in
            XCTAssertTrue("\(error)".contains("ORDER_SERVICE_PORT"), "\(error)")
        }
        XCTAssertThrowsError(try self.all(["--order-port", "70000"])) { error in
            XCTAssertTrue("\(error)".contains("--order-port"), "\(error)")
        }
        XCTAssertThrowsError(try self.all(environment: ["STORE": "postgres"])) { error in
            XCTAssertTrue("\(error)".contains("sqlite, mysql"), "\(error)")
        }
        XCTAssertThrowsError(try self.all(environment: ["RETRY_DELAYS": "soon"])) { error in
            XCTAssertTrue("\(error)".contains("RETRY_DELAYS"), "\(error)")
        }
        XCTAssertThrowsError(try self.all(environment: ["NOTIFICATION_FAILURE_RATE": "2"]))
        XCTAssertThrowsError(try self.all(environment: ["LOG_LEVEL": "loud"]))
        XCTAssertEqual(try self.all(environment: ["LOG_LEVEL": "warn"]).logLevel, .warning)
    }

    func testSingleServiceRefusesTheEmbeddedBrokerWithAClearMessage() async throws {
        for command in ["order-service", "analytics-service", "notification-worker"] {
            var parsed = try XCTUnwrap(
                try OrderSystemCommand.parseAsRoot([command, "--broker", "embedded", "--store", "sqlite", "--cache", "memory"])
                    as? any AsyncParsableCommand
            )
            do {
                try await parsed.run()
                XCTFail("\(command) --broker embedded should be refused")
            } catch {
                XCTAssertTrue("\(error)".contains("ordersystem all"), "\(error)")
            }
        }
    }
}

enum FileManagerPath {
    static func temporary() -> String {
        "/tmp/ordersystem-config-\(Identifier.random().prefix(8))"
    }
}
