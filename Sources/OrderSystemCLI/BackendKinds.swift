/// Where a service stores its data (`--store`, `STORE`).
public enum StoreKind: String, CaseIterable, Sendable {
    case sqlite, mysql
}

/// Which cache a service uses (`--cache`, `CACHE`).
public enum CacheKind: String, CaseIterable, Sendable {
    case memory, redis
}

/// Which broker connects the services (`--broker`, `BROKER`).
public enum BrokerKind: String, CaseIterable, Sendable {
    case embedded, rabbitmq
}
