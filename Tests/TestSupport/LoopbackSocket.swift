#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks, optionally listening (and never accepting): for a
/// free port to hand to a server, or a peer that lets clients connect through the backlog and then says nothing.
public struct LoopbackSocket: Sendable {
    /// The socket; close it with ``close()``.
    public let descriptor: Int32
    /// The port it is bound to.
    public let port: Int

    /// Binds (and with `listening`, listens with a backlog of 8).
    public init(listening: Bool = false) throws {
        let descriptor = try tcpSocket()
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, !listening || listen(descriptor, 8) == 0 else {
            closeDescriptor(descriptor)
            throw TestFailure("bind/listen failed: errno \(errno)")
        }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else {
            closeDescriptor(descriptor)
            throw TestFailure("getsockname failed: errno \(errno)")
        }
        self.descriptor = descriptor
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// Closes the socket.
    public func close() {
        closeDescriptor(self.descriptor)
    }
}

/// A new IPv4 TCP socket.
func tcpSocket() throws -> Int32 {
    #if canImport(Glibc)
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let descriptor = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard descriptor >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
    return descriptor
}

/// `close(2)`, callable where a method named `close` hides it.
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}
