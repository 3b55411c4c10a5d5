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

    func testInvalidURLsAreRefusedWithoutShowingThePassword() {
        let urls = [
            "amqps://u:topsecret@h/", "http://u:topsecret@h/", "amqp://u:topsecret@h:99999/", "amqp://u:topsecret@h:x/",
            "amqp://u:top%ZZsecret@h/", "no-scheme-topsecret",
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
    }
}
