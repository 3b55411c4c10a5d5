#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking TCP exchange with a timeout, for probing servers in tests: connect, optionally send bytes, read until
/// at least `minimumReply` bytes (or the peer closes), close. Runs off the cooperative pool.
public enum SocketProbe {
    /// Sends `request` (if any) to `host:port` and returns what the server answered.
    public static func exchange(
        host: String,
        port: Int,
        request: [UInt8]? = nil,
        minimumReply: Int,
        timeoutSeconds: Int = 10
    ) async throws -> [UInt8] {
        try await Task.detached {
            try Self.blockingExchange(host: host, port: port, request: request, minimumReply: minimumReply, timeoutSeconds: timeoutSeconds)
        }.value
    }

    private static func blockingExchange(
        host: String,
        port: Int,
        request: [UInt8]?,
        minimumReply: Int,
        timeoutSeconds: Int
    ) throws -> [UInt8] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let address = result else {
            throw TestFailure("cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        let descriptor = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard descriptor >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            throw TestFailure("cannot connect to \(host):\(port): errno \(errno)")
        }
        if let request {
            let sent = request.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard sent == request.count else { throw TestFailure("send to \(host):\(port) failed") }
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while reply.count < minimumReply {
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if received <= 0 { break }
            reply += chunk[0..<received]
        }
        return reply
    }
}
