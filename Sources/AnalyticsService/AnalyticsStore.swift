import OrderEvents
import ServiceCore
import Storage

/// Where analytics keeps applied events and running totals. SQLite now, MySQL next.
///
/// Thread-safety: implementations are `Sendable` and safe to call from many tasks.
public protocol AnalyticsStore: Sendable {
    /// Applies `events` in one transaction: each order is recorded once (unique `order_id`) and only the new ones
    /// are added to the running totals, so a duplicate or a redelivery changes nothing.
    ///
    /// Throws ``StoreDataError`` (or a driver error that ``StoreDataError/classify(_:)`` recognises) when the data
    /// itself is refused, e.g. a total would overflow: the caller isolates the offending event. Any other error is an
    /// outage, and nothing of the batch was written.
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

    /// What a batch adds to the totals, summed with checked arithmetic.
    public struct Increment: Sendable, Equatable {
        /// Orders added.
        public var orders: Int64 = 0
        /// Units added.
        public var quantity: Int64 = 0
        /// Revenue added.
        public var revenue: Money = .zero

        /// Nothing yet.
        public init() {}

        /// Adds one order; throws ``StoreDataError`` instead of overflowing.
        public mutating func add(quantity: Int64, revenue: Money) throws(StoreDataError) {
            guard let orders = Self.sum(self.orders, 1), let units = Self.sum(self.quantity, quantity),
                let money = self.revenue.adding(revenue)
            else { throw StoreDataError(reason: "the batch's sums would overflow") }
            (self.orders, self.quantity, self.revenue) = (orders, units, money)
        }

        static func sum(_ lhs: Int64, _ rhs: Int64) -> Int64? {
            let (sum, overflow) = lhs.addingReportingOverflow(rhs)
            return overflow ? nil : sum
        }
    }

    /// These totals grown by `increment` (``lastUpdated`` becomes `lastUpdated` when it adds any order); throws
    /// ``StoreDataError`` instead of overflowing, so the orders that would push a total past its limit are set aside.
    public func adding(_ increment: Increment, lastUpdated: Timestamp) throws(StoreDataError) -> AnalyticsTotals {
        guard increment.orders > 0 else { return self }
        guard let orders = Increment.sum(self.totalOrders, increment.orders),
            let quantity = Increment.sum(self.totalQuantity, increment.quantity),
            let revenue = self.totalRevenue.adding(increment.revenue)
        else { throw StoreDataError(reason: "the running totals would overflow") }
        return AnalyticsTotals(totalOrders: orders, totalRevenue: revenue, totalQuantity: quantity, lastUpdated: lastUpdated)
    }
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
