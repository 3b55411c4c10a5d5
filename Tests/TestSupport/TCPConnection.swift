#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking TCP client connection to 127.0.0.1 that stays open between calls: for tests that hold connections,
/// write requests a byte at a time, or wait for the server to hang up. Every read has a timeout.
public final class TCPConnection: @unchecked Sendable {
    private let descriptor: Int32
    private var isClosed = false

    /// Connects to `127.0.0.1:port`; reads and writes time out after `timeoutMilliseconds`.
    public init(port: Int, timeoutMilliseconds: Int = 5_000) throws {
        let descriptor = try tcpSocket()
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: Int((timeoutMilliseconds % 1000) * 1000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            _ = closeSocket(descriptor)
            throw TestFailure("cannot connect to 127.0.0.1:\(port): errno \(errno)")
        }
        self.descriptor = descriptor
    }

    deinit {
        if !self.isClosed { _ = closeSocket(self.descriptor) }
    }

    /// Sends all of `bytes`; false when the peer has closed or reset the connection.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { sendSocket(self.descriptor, $0.baseAddress, $0.count) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// Sends `text` as UTF-8.
    @discardableResult
    public func send(_ text: String) -> Bool {
        self.send(Array(text.utf8))
    }

    /// What one read returns: bytes, the peer's close (or reset), or nothing before the timeout.
    public enum Received: Equatable {
        case bytes([UInt8])
        case closed
        case timedOut
    }

    /// One read.
    public func receive() -> Received {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let received = chunk.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
        if received > 0 { return .bytes(Array(chunk[0..<received])) }
        if received == 0 { return .closed }
        return errno == EAGAIN || errno == EWOULDBLOCK ? .timedOut : .closed
    }

    /// Reads until `bytes` contain `marker`, the peer closes, or a read times out; returns what arrived.
    public func receive(until marker: String) -> (text: String, closed: Bool) {
        var bytes: [UInt8] = []
        while true {
            switch self.receive() {
            case .bytes(let chunk):
                bytes += chunk
                if String(decoding: bytes, as: UTF8.self).contains(marker) { return (String(decoding: bytes, as: UTF8.self), false) }
            case .closed: return (String(decoding: bytes, as: UTF8.self), true)
            case .timedOut: return (String(decoding: bytes, as: UTF8.self), false)
            }
        }
    }

    /// Reads and discards until the peer closes (true) or a read times out (false).
    public func waitForClose() -> Bool {
        while true {
            switch self.receive() {
            case .bytes: continue
            case .closed: return true
            case .timedOut: return false
            }
        }
    }

    /// Closes the connection.
    public func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        _ = closeSocket(self.descriptor)
    }
}

/// `close(2)` and `send(2)` without SIGPIPE, callable where methods named `close` and `send` hide them.
private func closeSocket(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}

private func sendSocket(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
}
