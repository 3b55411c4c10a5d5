// swift-tools-version:6.1
// The order system: three services (orders, analytics, notifications) that talk through events.
// Each dependency is justified in docs/ARCHITECTURE.md ("Dependencies").
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// A service's memory is mostly the code pages it touches, so the binary is linked to touch few (docs/BENCHMARKS.md,
// "Memory"). With lld: the functions the services run (linker/hot-symbols.txt, written by scripts/hot-symbols) are
// placed together, and so are the private functions no symbol names (linker/unnamed-functions.ld); relative
// relocations are packed (DT_RELR: kilobytes instead of 1.7 MB read at every start); the symbol table is not
// exported (about 26,000 dynamic symbols nothing looks up). scripts/build-release adds the compiler side (a static
// Swift runtime, a section per function), without which the ordering has little to order.
// ELF only, so on Linux only: the package still resolves and builds on macOS, unlinked this way.
let compactExecutable: [LinkerSetting] = [
    .unsafeFlags(
        [
            "-use-ld=lld",
            "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/linker/hot-symbols.txt",
            "-Xlinker", "--no-warn-symbol-ordering",
            "-Xlinker", "-T", "-Xlinker", "\(Context.packageDirectory)/linker/unnamed-functions.ld",
            "-Xlinker", "--no-export-dynamic",
            "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
        ],
        .when(platforms: [.linux])
    ),
]

let package = Package(
    name: "ordersystem",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ordersystem", targets: ["ordersystem"]),
        // The protocol clients are reusable on their own.
        .library(name: "MySQLClient", targets: ["MySQLClient"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "AMQPClient", targets: ["AMQPClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        // HTTP field and status types; Hummingbird's own, imported directly where headers are read or written.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        // HTTP/1 parts as swift-http-types, the shape Hummingbird's channel pipeline carries.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // `Deque` for the embedded broker's ready lists (a ring buffer SwiftNIO already links).
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        // The generic connection pool only (`_ConnectionPoolModule`); exact, since its API is underscored.
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
        // Tests only: `TestClock`, which tests advance instead of sleeping. Never linked into the services: its module
        // imports all of Foundation (docs/ARCHITECTURE.md, "Time").
        .package(url: "https://github.com/pointfreeco/swift-clocks.git", from: "1.1.1"),
    ],
    targets: [
        // MARK: Base: time and retry helpers everything may use; no dependency.
        // The one backoff and the one set of Duration conversions, for the clients and the services alike.
        .target(
            name: "Timing",
            swiftSettings: swiftSettings
        ),

        // MARK: Protocol clients: know their wire protocol and nothing of orders.
        // TLS for the three clients: the context from CA, certificate and key files, the name checks, the
        // handshake handler and the explanations of failures, in each client's words.
        .target(
            name: "ClientTLS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MySQLClient",
            dependencies: [
                "ClientTLS",
                "Timing",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RedisClient",
            dependencies: [
                "ClientTLS",
                "Timing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AMQPClient",
            dependencies: [
                "ClientTLS",
                "Timing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Core: identifiers, time, money, JSON, backoff, health and concurrency helpers; no I/O, no dependency.
        .target(
            name: "ServiceCore",
            dependencies: [
                "Timing",
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Contracts: the event, and the protocols the services program against.
        // The event between the services, on the core alone.
        .target(
            name: "OrderEvents",
            dependencies: [
                "ServiceCore",
            ],
            swiftSettings: swiftSettings
        ),
        // The broker protocol, topology, and the consumer service every consumer runs.
        .target(
            name: "Messaging",
            dependencies: [
                "ServiceCore",
                "Timing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The key-value cache protocol, the in-process cache and the circuit breaker for a remote one.
        .target(
            name: "Caching",
            dependencies: [
                "ServiceCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // What every store shares: refused data versus an outage, undecodable rows.
        .target(
            name: "Storage",
            swiftSettings: swiftSettings
        ),
        // How the order event travels on a broker: exchange, queues, routing key, message properties.
        .target(
            name: "OrderMessaging",
            dependencies: [
                "Messaging",
                "OrderEvents",
                "ServiceCore",
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP side of a service: the application, error shape, metrics, logs, health routes, lifecycle glue.
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "ServiceCore",
                "Timing",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Adapters: one per backend, each implementing a protocol above on a client or a library.
        // The embedded broker (the default of `ordersystem all`), persisted in SQLite.
        .target(
            name: "EmbeddedMessaging",
            dependencies: [
                "Messaging",
                "SQLiteStorage",
                "ServiceCore",
                "Storage",
                "Timing",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The broker protocol on RabbitMQ through AMQPClient; queue migration; dead-letter replay.
        .target(
            name: "RabbitMQMessaging",
            dependencies: [
                "AMQPClient",
                "Messaging",
                "Timing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The cache protocol on Redis through RedisClient.
        .target(
            name: "RedisCaching",
            dependencies: [
                "Caching",
                "RedisClient",
                "ServiceCore",
                "Timing",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A SQLite file with one writer, migrations, and SQLite's data errors.
        .target(
            name: "SQLiteStorage",
            dependencies: [
                "ServiceCore",
                "Storage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // MySQL session set-up, migrations, and MySQL's data errors.
        .target(
            name: "MySQLStorage",
            dependencies: [
                "MySQLClient",
                "ServiceCore",
                "Storage",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Services: routes and domain logic on the contracts; never a client or an adapter.
        .target(
            name: "OrderService",
            dependencies: [
                "Caching",
                "Messaging",
                "OrderEvents",
                "OrderMessaging",
                "ServiceCore",
                "ServiceRuntime",
                "Timing",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AnalyticsService",
            dependencies: [
                "Caching",
                "Messaging",
                "OrderEvents",
                "OrderMessaging",
                "ServiceCore",
                "ServiceRuntime",
                "Storage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotificationWorker",
            dependencies: [
                "Messaging",
                "OrderEvents",
                "OrderMessaging",
                "ServiceCore",
                "ServiceRuntime",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Each service's stores, one per backend, on the adapters above.
        .target(
            name: "OrderStorage",
            dependencies: [
                "MySQLClient",
                "MySQLStorage",
                "OrderService",
                "SQLiteStorage",
                "ServiceCore",
                "Storage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AnalyticsStorage",
            dependencies: [
                "AnalyticsService",
                "MySQLClient",
                "MySQLStorage",
                "OrderEvents",
                "SQLiteStorage",
                "ServiceCore",
                "Storage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotificationStorage",
            dependencies: [
                "NotificationWorker",
                "RedisClient",
                "SQLiteStorage",
                "ServiceCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: The composition root: the command line, which reads settings and wires adapters into services.
        .target(
            name: "OrderSystemCLI",
            dependencies: [
                "AMQPClient",
                "AnalyticsService",
                "AnalyticsStorage",
                "Caching",
                "EmbeddedMessaging",
                "Messaging",
                "MySQLClient",
                "MySQLStorage",
                "NotificationStorage",
                "NotificationWorker",
                "OrderMessaging",
                "OrderService",
                "OrderStorage",
                "RabbitMQMessaging",
                "RedisCaching",
                "RedisClient",
                "SQLiteStorage",
                "ServiceCore",
                "ServiceRuntime",
                "Timing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ordersystem",
            dependencies: [
                "OrderSystemCLI",
            ],
            swiftSettings: swiftSettings,
            linkerSettings: compactExecutable
        ),
        // Benchmarks only (benchmarks/redis, benchmarks/mysql, benchmarks/run): our clients' rates against the real
        // servers, the backlog publisher and the Hummingbird "hello" anchor.
        .executableTarget(
            name: "ordersystem-bench",
            dependencies: [
                "AMQPClient",
                "MySQLClient",
                "OrderEvents",
                "OrderMessaging",
                "RedisClient",
                "ServiceCore",
                "ServiceRuntime",
                "Timing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/ordersystem-bench",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        // What the protocol clients' tests share (servers that answer the wrong protocol or stall, a log recorder, waits
        // on a condition or a test clock): NIO, logging and swift-clocks only, so those test targets stay as light as the
        // clients.
        .target(
            name: "ClientTestSupport",
            dependencies: [
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/ClientTestSupport",
            swiftSettings: swiftSettings
        ),
        // Real-server addresses, test backends and fixtures for the tests above the clients.
        .target(
            name: "TestSupport",
            dependencies: [
                "AMQPClient",
                "Caching",
                "ClientTestSupport",
                "EmbeddedMessaging",
                "Messaging",
                "MySQLClient",
                "MySQLStorage",
                "RedisClient",
                "SQLiteStorage",
                "ServiceCore",
                "ServiceRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TimingTests",
            dependencies: [
                "ClientTestSupport",
                "Timing",
                .product(name: "Clocks", package: "swift-clocks"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MySQLClientTests",
            dependencies: [
                "ClientTestSupport",
                "MySQLClient",
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "ClientTestSupport",
                "RedisClient",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AMQPClientTests",
            dependencies: [
                "AMQPClient",
                "ClientTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["pika_peer.py"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceCoreTests",
            dependencies: [
                "ServiceCore",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MessagingTests",
            dependencies: [
                "AMQPClient",
                "ClientTestSupport",
                "EmbeddedMessaging",
                "Messaging",
                "RabbitMQMessaging",
                "SQLiteStorage",
                "ServiceCore",
                "ServiceRuntime",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CachingTests",
            dependencies: [
                "Caching",
                "ClientTestSupport",
                "RedisCaching",
                "RedisClient",
                "ServiceCore",
                "TestSupport",
                .product(name: "Clocks", package: "swift-clocks"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceRuntimeTests",
            dependencies: [
                "Caching",
                "ClientTestSupport",
                "Messaging",
                "ServiceCore",
                "ServiceRuntime",
                "TestSupport",
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrderEventsTests",
            dependencies: [
                "OrderEvents",
                "ServiceCore",
                "TestSupport",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrderServiceTests",
            dependencies: [
                "Caching",
                "ClientTestSupport",
                "EmbeddedMessaging",
                "Messaging",
                "MySQLClient",
                "OrderEvents",
                "OrderMessaging",
                "OrderService",
                "OrderStorage",
                "SQLiteStorage",
                "ServiceCore",
                "ServiceRuntime",
                "TestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AnalyticsServiceTests",
            dependencies: [
                "AnalyticsService",
                "AnalyticsStorage",
                "Caching",
                "ClientTestSupport",
                "EmbeddedMessaging",
                "Messaging",
                "MySQLClient",
                "MySQLStorage",
                "OrderEvents",
                "OrderMessaging",
                "SQLiteStorage",
                "ServiceCore",
                "Storage",
                "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotificationWorkerTests",
            dependencies: [
                "ClientTestSupport",
                "EmbeddedMessaging",
                "Messaging",
                "NotificationStorage",
                "NotificationWorker",
                "OrderEvents",
                "OrderMessaging",
                "RedisClient",
                "SQLiteStorage",
                "ServiceCore",
                "ServiceRuntime",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrderSystemTests",
            dependencies: [
                "AMQPClient",
                "AnalyticsService",
                "AnalyticsStorage",
                "ClientTestSupport",
                "EmbeddedMessaging",
                "Messaging",
                "MySQLClient",
                "MySQLStorage",
                "NotificationWorker",
                "OrderEvents",
                "OrderMessaging",
                "OrderService",
                "OrderStorage",
                "OrderSystemCLI",
                "RabbitMQMessaging",
                "SQLiteStorage",
                "ServiceCore",
                "ServiceRuntime",
                "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
