#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// A service's port could not be opened: said with the port and the setting that chose it, instead of NIO's
/// `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`.
struct ListenFailure: Error, CustomStringConvertible {
    let description: String

    /// Nil for an I/O error that is not about opening a listening socket.
    init?(_ error: IOError, ports: [(port: Int, setting: String)]) {
        let reason: String
        switch error.errnoCode {
        case EADDRINUSE: reason = "the address is already in use (another process listens there)"
        case EACCES: reason = "permission denied (ports below 1024 need privileges)"
        case EADDRNOTAVAIL: reason = "the address is not one of this machine's"
        default: return nil
        }
        let named = ports.map { "\($0.port) (\($0.setting))" }
        let which = named.count == 1 ? "port \(named[0])" : "one of ports \(named.joined(separator: ", "))"
        self.description = "cannot listen on \(which): \(reason)"
    }
}
