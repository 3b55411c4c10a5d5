import ServiceCore

/// `GET /analytics/summary`'s body, computed from the running totals in O(1).
///
/// `average_order_value` is `total_revenue / total_orders` rounded to whole cents, half away from zero, in exact
/// integer arithmetic; `average_order_size` (the name the original's code used) carries the same value.
public struct AnalyticsSummary: Sendable, Equatable {
    /// The totals it is computed from.
    public var totals: AnalyticsTotals

    /// Creates the summary of `totals`.
    public init(totals: AnalyticsTotals) {
        self.totals = totals
    }

    /// Revenue per order, rounded half away from zero to cents; 0 when there are no orders.
    public var averageOrderValue: Money {
        Money.average(of: self.totals.totalRevenue, count: self.totals.totalOrders)
    }

    /// The JSON body.
    public var jsonBytes: [UInt8] {
        var writer = JSONWriter(capacity: 192)
        writer.beginObject()
        writer.key("total_orders")
        writer.int(Int(self.totals.totalOrders))
        writer.key("total_revenue")
        writer.rawNumber(self.totals.totalRevenue.description)
        let average = self.averageOrderValue.description
        writer.key("average_order_value")
        writer.rawNumber(average)
        writer.key("average_order_size")
        writer.rawNumber(average)
        writer.key("last_updated")
        if let lastUpdated = self.totals.lastUpdated {
            writer.string(lastUpdated.rfc3339)
        } else {
            writer.null()
        }
        writer.endObject()
        return writer.bytes
    }
}
