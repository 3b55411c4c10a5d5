import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `SHUTDOWN_TIMEOUT`: once a process is told to stop (SIGTERM, SIGINT, or a service failing), it exits within
/// this, whatever it is waiting for (docs/OPERATIONS.md, "Stopping").
///
/// The group's graceful shutdown gets the budget minus a margin, then escalates to cancellation; this service is
/// the last resort behind both. It is the last service of its group, so it hears the shutdown first, and its timer
/// runs on an event loop thread, so a stuck task cannot hold it up: at the deadline it logs one line and exits
/// with status 1.
struct ShutdownDeadline: Service {
    let timeout: Duration
    let logger: Logger

    func run() async {
        // Returns at graceful shutdown, throws at cancellation: the process is stopping either way.
        try? await gracefulShutdown()
        let logger = self.logger
        let timeout = self.timeout
        MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) {
            logger.critical(
                "shutdown took longer than SHUTDOWN_TIMEOUT; exiting now",
                metadata: ["shutdown_timeout": "\(timeout)"]
            )
            exit(1)
        }
    }

    /// The configuration of a process's service group: graceful shutdown on SIGTERM and SIGINT, escalated to
    /// cancellation a little before `timeout`, with this deadline as the last of `services`.
    static func groupConfiguration(
        services: [any Service], timeout: Duration, logger: Logger
    ) -> ServiceGroupConfiguration {
        var configuration = ServiceGroupConfiguration(
            services: services + [ShutdownDeadline(timeout: timeout, logger: logger)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = timeout - Self.cancellationMargin(timeout)
        return configuration
    }

    /// What is left for cancellation to unwind: a fifth of the budget, at most two seconds.
    static func cancellationMargin(_ timeout: Duration) -> Duration {
        min(timeout / 5, .seconds(2))
    }
}
