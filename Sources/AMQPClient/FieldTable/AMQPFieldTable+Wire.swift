import NIOCore

/// The wire format of field tables and values (AMQP 0-9-1 with RabbitMQ's type tags).
extension ByteBuffer {
    /// Nesting deeper than this is refused, so a hostile frame cannot exhaust the stack.
    static let amqpMaxFieldNesting = 64

    mutating func readAMQPFieldTable(depth: Int = 0) throws -> AMQPFieldTable {
        guard depth < Self.amqpMaxFieldNesting else { throw AMQPError.protocolError("field table nested too deeply") }
        var bytes = try self.readAMQPLongBytes()
        var table = AMQPFieldTable()
        while bytes.readableBytes > 0 {
            let key = try bytes.readAMQPShortString()
            let value = try bytes.readAMQPFieldValue(depth: depth + 1)
            table.appendDecoded(key, value)
        }
        return table
    }

    mutating func readAMQPFieldValue(depth: Int) throws -> AMQPFieldValue {
        guard depth < Self.amqpMaxFieldNesting else { throw AMQPError.protocolError("field value nested too deeply") }
        let tag: UInt8 = try self.readAMQPInteger()
        switch tag {
        case UInt8(ascii: "t"): return .bool(try self.readAMQPInteger(as: UInt8.self) != 0)
        case UInt8(ascii: "b"): return .int8(try self.readAMQPInteger())
        case UInt8(ascii: "B"): return .uint8(try self.readAMQPInteger())
        case UInt8(ascii: "s"): return .int16(try self.readAMQPInteger())
        case UInt8(ascii: "u"): return .uint16(try self.readAMQPInteger())
        case UInt8(ascii: "I"): return .int32(try self.readAMQPInteger())
        case UInt8(ascii: "i"): return .uint32(try self.readAMQPInteger())
        case UInt8(ascii: "l"): return .int64(try self.readAMQPInteger())
        case UInt8(ascii: "f"): return .float(Float(bitPattern: try self.readAMQPInteger()))
        case UInt8(ascii: "d"): return .double(Double(bitPattern: try self.readAMQPInteger()))
        case UInt8(ascii: "D"):
            let scale: UInt8 = try self.readAMQPInteger()
            return .decimal(scale: scale, value: try self.readAMQPInteger())
        case UInt8(ascii: "S"): return .string(try self.readAMQPLongString())
        case UInt8(ascii: "A"):
            var bytes = try self.readAMQPLongBytes()
            var values: [AMQPFieldValue] = []
            while bytes.readableBytes > 0 { values.append(try bytes.readAMQPFieldValue(depth: depth + 1)) }
            return .array(values)
        case UInt8(ascii: "T"): return .timestamp(try self.readAMQPInteger())
        case UInt8(ascii: "F"): return .table(try self.readAMQPFieldTable(depth: depth + 1))
        case UInt8(ascii: "V"): return .void
        case UInt8(ascii: "x"):
            let bytes = try self.readAMQPLongBytes()
            return .bytes(Array(bytes.readableBytesView))
        default:
            throw AMQPError.protocolError("unknown field value type 0x\(String(tag, radix: 16))")
        }
    }

    mutating func writeAMQPFieldTable(_ table: AMQPFieldTable) throws {
        let sizeIndex = self.writerIndex
        self.writeInteger(UInt32(0))
        for entry in table.entries {
            try self.writeAMQPShortString(entry.key)
            try self.writeAMQPFieldValue(entry.value)
        }
        self.setInteger(UInt32(self.writerIndex - sizeIndex - 4), at: sizeIndex)
    }

    mutating func writeAMQPFieldValue(_ value: AMQPFieldValue) throws {
        func tag(_ character: Unicode.Scalar) { self.writeInteger(UInt8(ascii: character)) }
        switch value {
        case .bool(let v): tag("t"); self.writeInteger(UInt8(v ? 1 : 0))
        case .int8(let v): tag("b"); self.writeInteger(v)
        case .uint8(let v): tag("B"); self.writeInteger(v)
        case .int16(let v): tag("s"); self.writeInteger(v)
        case .uint16(let v): tag("u"); self.writeInteger(v)
        case .int32(let v): tag("I"); self.writeInteger(v)
        case .uint32(let v): tag("i"); self.writeInteger(v)
        case .int64(let v): tag("l"); self.writeInteger(v)
        case .float(let v): tag("f"); self.writeInteger(v.bitPattern)
        case .double(let v): tag("d"); self.writeInteger(v.bitPattern)
        case .decimal(let scale, let v): tag("D"); self.writeInteger(scale); self.writeInteger(v)
        case .string(let v): tag("S"); self.writeAMQPLongString(v)
        case .array(let values):
            tag("A")
            let sizeIndex = self.writerIndex
            self.writeInteger(UInt32(0))
            for value in values { try self.writeAMQPFieldValue(value) }
            self.setInteger(UInt32(self.writerIndex - sizeIndex - 4), at: sizeIndex)
        case .timestamp(let v): tag("T"); self.writeInteger(v)
        case .table(let table): tag("F"); try self.writeAMQPFieldTable(table)
        case .void: tag("V")
        case .bytes(let v): tag("x"); self.writeInteger(UInt32(v.count)); self.writeBytes(v)
        }
    }
}
