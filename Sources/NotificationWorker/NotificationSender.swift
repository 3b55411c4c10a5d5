import Logging

/// A channel a customer is notified on.
public enum NotificationChannel: String, Sendable, CaseIterable {
    case email
    case sms
}

/// One notification to send.
public struct NotificationMessage: Sendable, Equatable {
    /// The channel.
    public var channel: NotificationChannel
    /// The order it is about.
    public var orderID: String
    /// The customer to notify.
    public var customerID: String
    /// The text.
    public var message: String

    /// Creates a notification.
    public init(channel: NotificationChannel, orderID: String, customerID: String, message: String) {
        self.channel = channel
        self.orderID = orderID
        self.customerID = customerID
        self.message = message
    }
}

/// A provider refused a notification.
public struct NotificationSendError: Error, Sendable, CustomStringConvertible {
    /// True when no retry can succeed (e.g. an invalid address): dead-letter at once.
    public var isPermanent: Bool
    /// The provider's reason.
    public var reason: String

    /// Creates the error.
    public init(reason: String, isPermanent: Bool = false) {
        self.reason = reason
        self.isPermanent = isPermanent
    }

    public var description: String { self.reason }
}

/// Sends notifications: an email or SMS provider in a real deployment.
///
/// Thread-safety: implementations are `Sendable` and called concurrently.
public protocol NotificationSender: Sendable {
    /// Sends `notification`; throws ``NotificationSendError`` (or any error, taken as transient) on failure.
    func send(_ notification: NotificationMessage) async throws
}

/// The default sender: "sends" by writing a structured log line, after a configurable simulated latency, and
/// fails a configurable fraction of sends (transiently) to exercise retries.
public struct SimulatedNotificationSender: NotificationSender {
    /// Delay of each send.
    public var latency: Duration
    /// Fraction of sends that fail, 0...1.
    public var failureRate: Double
    private let logger: Logger

    /// Creates the sender.
    public init(latency: Duration = .zero, failureRate: Double = 0, logger: Logger) {
        self.latency = latency
        self.failureRate = failureRate
        self.logger = logger
    }

    public func send(_ notification: NotificationMessage) async throws {
        if self.latency > .zero {
            try await Task.sleep(for: self.latency)
        }
        if self.failureRate > 0, Double.random(in: 0..<1) < self.failureRate {
            throw NotificationSendError(reason: "simulated provider failure")
        }
        self.logger.info(
            "notification sent",
            metadata: [
                "channel": "\(notification.channel.rawValue)", "order_id": "\(notification.orderID)",
                "customer_id": "\(notification.customerID)", "text": "\(notification.message)",
            ]
        )
    }
}
