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
let compactExecutable: [LinkerSetting] = [
    .unsafeFlags([
        "-use-ld=lld",
        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/linker/hot-symbols.txt",
        "-Xlinker", "--no-warn-symbol-ordering",
        "-Xlinker", "-T", "-Xlinker", "\(Context.packageDirectory)/linker/unnamed-functions.ld",
        "-Xlinker", "--no-export-dynamic",
        "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
    ]),
]

let package = Package(
    name: "ordersystem",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ordersystem", targets: ["ordersystem"]),
        .library(name: "OrderService", targets: ["OrderService"]),
        .library(name: "AnalyticsService", targets: ["AnalyticsService"]),
        .library(name: "NotificationWorker", targets: ["NotificationWorker"]),
        .library(name: "OrderEvents", targets: ["OrderEvents"]),
        .library(name: "ServiceRuntime", targets: ["ServiceRuntime"]),
        .library(name: "MySQLClient", targets: ["MySQLClient"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .library(name: "AMQPClient", targets: ["AMQPClient"]),
        .library(name: "ClientTLS", targets: ["ClientTLS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        // The generic connection pool only (`_ConnectionPoolModule`); exact, since its API is underscored.
        .package(url: "https://github.com/vapor/postgres-nio.git", exact: "1.33.2"),
    ],
    targets: [
        .executableTarget(
            name: "ordersystem",
            dependencies: ["OrderSystemCLI"],
            swiftSettings: swiftSettings,
            linkerSettings: compactExecutable
        ),
        // Benchmarks only (benchmarks/redis, benchmarks/mysql): our clients' rates against the real servers.
        .executableTarget(
            name: "ordersystem-bench",
            dependencies: [
                "MySQLClient", "RedisClient", "ServiceRuntime", "AMQPClient", "OrderEvents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/ordersystem-bench",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OrderSystemCLI",
            dependencies: [
                "OrderService", "AnalyticsService", "NotificationWorker", "ServiceRuntime", "OrderEvents", "MySQLClient",
                "RedisClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OrderService",
            dependencies: [
                "ServiceRuntime", "OrderEvents", "MySQLClient", "RedisClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AnalyticsService",
            dependencies: [
                "ServiceRuntime", "OrderEvents", "MySQLClient", "RedisClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotificationWorker",
            dependencies: [
                "ServiceRuntime", "OrderEvents", "MySQLClient", "RedisClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OrderEvents",
            dependencies: ["ServiceRuntime"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ServiceRuntime",
            dependencies: [
                "MySQLClient", "RedisClient", "AMQPClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "ServiceRuntime", "MySQLClient", "RedisClient", "AMQPClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        // TLS for the three protocol clients: the context from CA, certificate and key files, the name checks, the
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
        // What the protocol clients' tests share (a server that answers the wrong protocol, a log recorder): NIO and
        // logging only, so those test targets stay as light as the clients, without the application's runtime.
        .target(
            name: "ClientTestSupport",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/ClientTestSupport",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MySQLClient",
            dependencies: [
                "ClientTLS",
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
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RedisClient", "TestSupport", "ClientTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AMQPClient",
            dependencies: [
                "ClientTLS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AMQPClientTests",
            dependencies: [
                "AMQPClient", "ClientTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["pika_peer.py"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MySQLClientTests",
            dependencies: [
                "MySQLClient", "ClientTestSupport",
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServiceRuntimeTests",
            dependencies: [
                "ServiceRuntime", "TestSupport", "RedisClient", "AMQPClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrderEventsTests",
            dependencies: ["OrderEvents", "ServiceRuntime", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrderServiceTests",
            dependencies: [
                "OrderService", "ServiceRuntime", "OrderEvents", "TestSupport", "MySQLClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AnalyticsServiceTests",
            dependencies: [
                "AnalyticsService", "ServiceRuntime", "OrderEvents", "TestSupport", "MySQLClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotificationWorkerTests",
            dependencies: [
                "NotificationWorker", "ServiceRuntime", "OrderEvents", "TestSupport", "RedisClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrderSystemTests",
            dependencies: [
                "OrderSystemCLI", "OrderService", "AnalyticsService", "NotificationWorker", "ServiceRuntime",
                "OrderEvents", "TestSupport", "ClientTestSupport", "MySQLClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
