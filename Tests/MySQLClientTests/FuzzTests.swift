import NIOCore
import XCTest

@testable import MySQLClient

/// Malformed input must give an error, never a crash: a seeded, bounded fuzz loop over every parser.
final class FuzzTests: XCTestCase {
    private func mutate(_ bytes: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        switch rng.next() % 4 {
        case 0 where !bytes.isEmpty:
            bytes.removeLast(Int(rng.next() % UInt64(bytes.count)) + 1)  // truncate
        case 1 where !bytes.isEmpty:
            for _ in 0..<(1 + rng.next() % 4) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
        case 2:
            bytes += (0..<(rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        default:
            bytes = (0..<(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        return bytes
    }

    func testMalformedHandshakesAndAuthPacketsNeverCrash() {
        var rng = SeededGenerator(seed: 0x5EED)
        let seeds = [Fixture.bytes(Fixture.mariaDBHandshake), Fixture.bytes(Fixture.mySQL8Handshake)]
        for iteration in 0..<3000 {
            let bytes = self.mutate(seeds[iteration % 2], using: &rng)
            _ = try? MySQLHandshakeV10(payload: ByteBuffer(bytes: bytes))
            // Every third connection negotiates TLS; all may fetch the server's RSA key, so mutated keys are parsed.
            var machine = MySQLConnectionStateMachine(
                authentication: MySQLAuthenticationStateMachine(
                    username: "u", password: "p", database: "d", tlsPolicy: iteration % 3 == 0 ? .preferred : .disabled,
                    allowPublicKeyRetrieval: true))
            _ = machine.packetReceived(Fixture.packet(bytes, sequenceID: 0))
            if machine.isNegotiatingTLS { _ = machine.tlsEstablished() }
            for _ in 0..<3 {
                let reply = self.mutate([0x01, 0x04, 0xFE, 0x00], using: &rng)
                _ = machine.packetReceived(Fixture.packet(reply, sequenceID: 2))
            }
        }
    }

    func testMalformedResultSetPacketsNeverCrash() {
        var rng = SeededGenerator(seed: 42)
        let commands: [MySQLCommand] = [
            .query("q"), .prepare("p"), .execute(.init(id: 1, parameterCount: 0, columns: []), []), .ping,
        ]
        let packets: [[UInt8]] = [
            [2], Fixture.column("a", type: .longlong), Fixture.column("b", type: .datetime, characterSet: 63),
            Fixture.bytes("00 00 0100000000000000 0b ea07 0b 19 0d 2f 27 40e20100"), Fixture.bytes("02 3432 fb"),
            Fixture.bytes("fe 00 00 0200 0000"), Fixture.bytes("00 05000000 0100 0200 00 0000"),
            Fixture.bytes("ff 2804 23 3432303030 41"),
        ]
        for iteration in 0..<3000 {
            var machine = MySQLConnectionStateMachine(
                authentication: MySQLAuthenticationStateMachine(
                    username: "u", password: "p", database: nil))
            _ = machine.packetReceived(Fixture.packet(Fixture.mariaDBHandshake, sequenceID: 0))
            _ = machine.packetReceived(Fixture.packet(Fixture.ok, sequenceID: 2))
            _ = machine.startCommand(commands[iteration % commands.count])
            for step in 0..<8 {
                let base = packets[Int(rng.next() % UInt64(packets.count))]
                let bytes = rng.next() % 3 == 0 ? base : self.mutate(base, using: &rng)
                _ = machine.packetReceived(Fixture.packet(bytes, sequenceID: UInt8(step + 1)))
            }
        }
    }

    func testMalformedFramesNeverCrashTheDecoder() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            var decoder = MySQLPacketDecoder(maximumPayloadLength: 1 << 20)
            var buffer = ByteBuffer(bytes: (0..<(rng.next() % 80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            while (try? decoder.next(from: &buffer)) ?? nil != nil {}
        }
    }

    func testMalformedColumnDefinitionsThrow() {
        var rng = SeededGenerator(seed: 99)
        var thrown = 0
        for _ in 0..<2000 {
            let bytes = self.mutate(Fixture.column("name", type: .varString), using: &rng)
            do { _ = try MySQLColumn(payload: ByteBuffer(bytes: bytes)) } catch { thrown += 1 }
        }
        XCTAssertGreaterThan(thrown, 0)
    }
}
