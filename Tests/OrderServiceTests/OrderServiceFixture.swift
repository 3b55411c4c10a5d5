import Caching
import Hummingbird
import Messaging
import OrderService
import OrderStorage
import SQLiteStorage
import ServiceRuntime
import TestSupport

/// A SQLite order store and an embedded broker in a temporary folder: what the order service's router-level and
/// relay tests run on.
final class OrderServiceFixture: @unchecked Sendable {
    let directory: TemporaryDirectory
    var store: SQLiteOrderStore
    let broker: TestBroker

    private init(directory: TemporaryDirectory, store: SQLiteOrderStore, broker: TestBroker) {
        self.directory = directory
        self.store = store
        self.broker = broker
    }

    static func make() async throws -> OrderServiceFixture {
        let directory = try TemporaryDirectory()
        let store = try await SQLiteOrderStore.open(
            path: directory.file("orders.sqlite"), durability: .normal, logger: testLogger("store")
        )
        let broker = try await TestBroker.open(path: directory.file("broker.sqlite"))
        return OrderServiceFixture(directory: directory, store: store, broker: broker)
    }

    func close() async {
        await self.store.close()
        await self.broker.close()
        self.directory.remove()
    }

    /// The order service on an ephemeral port over this store and broker, with an in-process cache; `configure`
    /// adjusts the configuration. The relay's shutdown flush is kept short for tests that break the store.
    func makeApp(
        broker: (any MessageBroker)? = nil,
        metrics: ServiceMetrics = ServiceMetrics(),
        _ configure: (inout OrderServiceConfiguration) -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        var configuration = OrderServiceConfiguration()
        configuration.port = 0
        configuration.relay.flushTimeout = .milliseconds(200)
        configure(&configuration)
        return try await buildOrderService(
            configuration: configuration,
            backends: OrderServiceBackends(store: self.store, cache: MemoryCache(), broker: broker ?? self.broker.broker),
            metrics: metrics,
            logger: testLogger("order-service")
        )
    }
}
