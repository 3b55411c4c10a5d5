import OrderEvents
import ServiceRuntime

/// Where analytics keeps applied events and running totals. SQLite now, MySQL next.
///
/// Thread-safety: implementations are `Sendable` and safe to call from many tasks.
public protocol AnalyticsStore: Sendable {
    /// Applies `events` in one transaction: each order is recorded once (unique `order_id`) and only the new ones
    /// are added to the running totals, so a duplicate or a redelivery changes nothing.
    func apply(_ events: [OrderCreatedEvent], processedAt: Timestamp) async throws -> AnalyticsApplyResult

    /// The running totals: one row read, never a scan.
    func totals() async throws -> AnalyticsTotals

    /// Throws when the store cannot be reached.
    func checkHealth() async throws

    /// Releases connections; the store is unusable afterwards.
    func close() async
}

/// The running aggregates.
public struct AnalyticsTotals: Sendable, Equatable {
    /// Orders counted.
    public var totalOrders: Int64
    /// Their exact revenue.
    public var totalRevenue: Money
    /// Units across all orders.
    public var totalQuantity: Int64
    /// When an event last changed the totals; nil before the first.
    public var lastUpdated: Timestamp?

    /// Creates totals.
    public init(totalOrders: Int64, totalRevenue: Money, totalQuantity: Int64, lastUpdated: Timestamp?) {
        self.totalOrders = totalOrders
        self.totalRevenue = totalRevenue
        self.totalQuantity = totalQuantity
        self.lastUpdated = lastUpdated
    }

    /// Nothing applied yet.
    public static let empty = AnalyticsTotals(totalOrders: 0, totalRevenue: .zero, totalQuantity: 0, lastUpdated: nil)
}

/// What one ``AnalyticsStore/apply(_:processedAt:)`` did.
public struct AnalyticsApplyResult: Sendable, Equatable {
    /// Events that were new and are now counted.
    public var applied: Int
    /// Events whose order was already counted.
    public var duplicates: Int
    /// The totals after the transaction.
    public var totals: AnalyticsTotals

    /// Creates a result.
    public init(applied: Int, duplicates: Int, totals: AnalyticsTotals) {
        self.applied = applied
        self.duplicates = duplicates
        self.totals = totals
    }
}
