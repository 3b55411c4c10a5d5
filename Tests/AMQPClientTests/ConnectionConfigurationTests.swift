import AMQPClient
import NIOCore
import XCTest

final class ConnectionConfigurationTests: XCTestCase {
    func testBareTrailingSlashMeansVhostSlash() throws {
        let configuration = try AMQPConnectionConfiguration(url: "amqp://guest:guest@localhost:5672/")
        XCTAssertEqual(configuration.virtualHost, "/")
        XCTAssertEqual(configuration.host, "localhost")
        XCTAssertEqual(configuration.port, 5672)
        XCTAssertEqual(configuration.username, "guest")
        XCTAssertEqual(configuration.password, "guest")
    }

    func testNoPathMeansVhostSlash() throws {
        XCTAssertEqual(try AMQPConnectionConfiguration(url: "amqp://guest:guest@localhost:5672").virtualHost, "/")
        XCTAssertEqual(try AMQPConnectionConfiguration(url: "amqp://localhost").virtualHost, "/")
    }

    func testPercentEncodedSlashIsVhostSlash() throws {
        XCTAssertEqual(try AMQPConnectionConfiguration(url: "amqp://guest:guest@localhost:5672/%2F").virtualHost, "/")
        XCTAssertEqual(try AMQPConnectionConfiguration(url: "amqp://h/%2f").virtualHost, "/")
    }

    func testNamedVhostAndPercentEncodedParts() throws {
        let configuration = try AMQPConnectionConfiguration(url: "amqp://us%40er:p%3Ass%2Fw@broker.local:5673/my%2Fvhost")
        XCTAssertEqual(configuration.username, "us@er")
        XCTAssertEqual(configuration.password, "p:ss/w")
        XCTAssertEqual(configuration.host, "broker.local")
        XCTAssertEqual(configuration.port, 5673)
        XCTAssertEqual(configuration.virtualHost, "my/vhost")
        XCTAssertEqual(try AMQPConnectionConfiguration(url: "amqp://h/orders").virtualHost, "orders")
    }

    func testDefaultsAndIPv6AndQueryParameters() throws {
        let defaults = try AMQPConnectionConfiguration(url: "amqp://")
        XCTAssertEqual(defaults.host, "127.0.0.1")
        XCTAssertEqual(defaults.port, 5672)
        XCTAssertEqual(defaults.username, "guest")
        let ipv6 = try AMQPConnectionConfiguration(url: "amqp://u:p@[::1]:5674/v?heartbeat=5&frame_max=8192&channel_max=10&connection_timeout=1500")
        XCTAssertEqual(ipv6.host, "::1")
        XCTAssertEqual(ipv6.port, 5674)
        XCTAssertEqual(ipv6.virtualHost, "v")
        XCTAssertEqual(ipv6.heartbeat, 5)
        XCTAssertEqual(ipv6.frameMax, 8192)
        XCTAssertEqual(ipv6.channelMax, 10)
        XCTAssertEqual(ipv6.connectTimeout, .milliseconds(1500))
    }

    func testPercentEncodedUserPasswordAndVhostAreDecodedPerRFC3986() throws {
        let configuration = try AMQPConnectionConfiguration(
            url: "amqp://ordersystem:p%2Fa%40s%23s%3Aw0rd@127.0.0.1:5672/")
        XCTAssertEqual(configuration.username, "ordersystem")
        XCTAssertEqual(configuration.password, "p/a@s#s:w0rd")
        XCTAssertEqual(configuration.host, "127.0.0.1")
        XCTAssertEqual(configuration.port, 5672)
        XCTAssertEqual(configuration.virtualHost, "/")
        XCTAssertNil(configuration.tls)

        let encoded = try AMQPConnectionConfiguration(url: "amqp://us%C3%A9r%20x:a%25b%3F@h/orders%2Fv%3Fx?heartbeat=5")
        XCTAssertEqual(encoded.username, "usér x")
        XCTAssertEqual(encoded.password, "a%b?")
        XCTAssertEqual(encoded.virtualHost, "orders/v?x")
        XCTAssertEqual(encoded.heartbeat, 5)
        // A raw ':' after the first one belongs to the password, and sub-delimiters may stay raw.
        let raw = try AMQPConnectionConfiguration(url: "amqp://u:a:b!$&'()*+,;=c@h")
        XCTAssertEqual(raw.password, "a:b!$&'()*+,;=c")
    }

    func testAmqpsMeansTLSOnPort5671WithTheURLsHostAsServerName() throws {
        let tls = try AMQPConnectionConfiguration(url: "amqps://u:p@broker.example/v")
        XCTAssertEqual(tls.port, 5671)
        XCTAssertEqual(tls.tls, AMQPConnectionConfiguration.TLS())
        XCTAssertNil(tls.tls?.serverName, "no server name: the host, broker.example, is verified")
        XCTAssertEqual(tls.host, "broker.example")
        XCTAssertEqual(try AMQPConnectionConfiguration(url: "AMQPS://h:5999").port, 5999)
        XCTAssertNotNil(try AMQPConnectionConfiguration(url: "AMQPS://h:5999").tls)

        let plain = try AMQPConnectionConfiguration(url: "amqp://u:p@broker.example/v")
        XCTAssertEqual(plain.port, 5672)
        XCTAssertNil(plain.tls)
        XCTAssertNil(AMQPConnectionConfiguration().tls, "plain text is the default")
        XCTAssertEqual(AMQPConnectionConfiguration().port, 5672)
        XCTAssertEqual(AMQPConnectionConfiguration(tls: .init(caFile: "ca.pem")).port, 5671)
        XCTAssertEqual(AMQPConnectionConfiguration(port: 6000, tls: .init()).port, 6000)
    }

    func testRawReservedCharactersInTheCredentialsAreRefusedSayingWhatToEncodeWithoutThePassword() {
        let password = "p/a@s#s:w0rd"
        let urls = [
            "amqp://ordersystem:\(password)@127.0.0.1:5672/",
            "amqps://ordersystem:\(password)@127.0.0.1/",
            "amqp://ordersystem:\(password)@127.0.0.1:5672/vhost?heartbeat=5",
        ]
        for url in urls {
            XCTAssertThrowsError(try AMQPConnectionConfiguration(url: url), url) { error in
                let text = "\(error)"
                XCTAssertEqual((error as? AMQPError)?.code, .invalidArgument, text)
                XCTAssertTrue(text.contains("percent-encoded"), text)
                XCTAssertTrue(text.contains("'/' (%2F)"), text)
                XCTAssertTrue(text.contains("'#' (%23)"), text)
                XCTAssertFalse(text.contains("ordersystem:"), text)
                for piece in TestEnvironment.pieces(of: password) {
                    XCTAssertFalse(text.contains(piece), "'\(piece)' of the password in: \(text)")
                }
            }
        }
        // Each of '/', '?', '#', '@' and a space alone.
        for raw in ["top/secret", "top?secret", "top#secret", "top@secret", "top secret"] {
            XCTAssertThrowsError(try AMQPConnectionConfiguration(url: "amqp://u:\(raw)@h/"), raw) { error in
                let text = "\(error)"
                XCTAssertEqual((error as? AMQPError)?.code, .invalidArgument, text)
                XCTAssertTrue(text.contains("percent-encode"), text)
                XCTAssertFalse(text.contains("top") || text.contains("secret"), text)
            }
        }
    }

    func testInvalidURLsAreRefusedWithoutShowingThePassword() {
        let urls = [
            "http://u:topsecret@h/", "amqp://u:topsecret@h:99999/", "amqp://u:topsecret@h:x/",
            "amqp://u:top%ZZsecret@h/", "no-scheme-topsecret", "amqp://u:topsecret/", "amqp://u:topsecret",
            "topsecret://h/", "amqp://h/v#topsecret",
        ]
        for url in urls {
            XCTAssertThrowsError(try AMQPConnectionConfiguration(url: url), url) { error in
                XCTAssertEqual((error as? AMQPError)?.code, .invalidArgument)
                XCTAssertFalse("\(error)".contains("topsecret"), "\(error)")
            }
        }
    }

    func testDescriptionNeverShowsThePassword() throws {
        let configuration = try AMQPConnectionConfiguration(url: "amqp://user:hunter2@h:1/v")
        XCTAssertFalse(configuration.description.contains("hunter2"))
        XCTAssertFalse("\(configuration)".contains("hunter2"))
        XCTAssertTrue(configuration.description.contains("user@h:1"))

        var tls = try AMQPConnectionConfiguration(url: "amqps://user:hunter2@h/v")
        tls.tls?.caFile = "/etc/ca.pem"
        tls.tls?.serverName = "broker.internal"
        XCTAssertFalse(tls.description.contains("hunter2"), tls.description)
        XCTAssertTrue(tls.description.hasPrefix("amqps://user@h:5671"), tls.description)
        XCTAssertTrue(tls.description.contains("CA file /etc/ca.pem"), tls.description)
        XCTAssertTrue(tls.description.contains("server name broker.internal"), tls.description)
    }
}
