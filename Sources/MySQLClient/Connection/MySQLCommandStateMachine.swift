import NIOCore

/// Reads the server's answer to one command, packet by packet. Pure: no I/O.
///
/// A server `ERR` ends the command with a ``MySQLError/Code/server`` error and leaves the connection usable; a
/// malformed packet throws a ``MySQLError/Code/protocolError`` error, after which the connection must be closed.
struct MySQLCommandStateMachine {
    enum Outcome: Equatable {
        /// The command needs more packets.
        case needMore
        /// The command completed.
        case succeeded(MySQLCommandResult)
        /// The server refused the command; the connection is still usable.
        case failed(MySQLError)
    }

    private enum Phase {
        case firstPacket
        case columns(remaining: Int)
        case columnsEOF
        case rows
        case prepareParameters(remaining: Int)
        case prepareParametersEOF
        case prepareColumns(remaining: Int)
        case prepareColumnsEOF
        case ok
    }

    private let binary: Bool
    private let isPrepare: Bool
    private let deprecateEOF: Bool
    private var phase: Phase = .firstPacket
    private var columns: [MySQLColumn] = []
    private var columnIndex = MySQLColumnIndex([])
    private var rows: [MySQLRow] = []
    private var statement = MySQLPreparedStatement(id: 0, parameterCount: 0, columns: [])
    private var firstResult: MySQLQueryResult?
    /// The result columns of the statement's previous execution, if any: reused when the server sends the same
    /// column definitions again (it does on every `COM_STMT_EXECUTE`), so they are compared, not parsed.
    private let knownColumns: MySQLResultColumns?
    /// How many of this result's column definitions matched ``knownColumns`` byte for byte, in order.
    private var matchedColumns = 0
    /// The column definition packets of this result, kept until the columns are complete when they did not match.
    private var columnPackets: [ByteBuffer] = []
    /// The result columns this execution saw when they differ from ``knownColumns``, for the caller to keep.
    private(set) var learnedColumns: MySQLResultColumns?

    init(command: MySQLCommand, capabilities: MySQLCapabilities, knownColumns: MySQLResultColumns? = nil) {
        self.knownColumns = knownColumns
        self.deprecateEOF = capabilities.contains(.deprecateEOF)
        switch command {
        case .query:
            self.binary = false
            self.isPrepare = false
        case .execute:
            self.binary = true
            self.isPrepare = false
        case .prepare:
            self.binary = false
            self.isPrepare = true
        case .ping, .closeStatement, .quit:
            self.binary = false
            self.isPrepare = false
            self.phase = .ok
        }
    }

    private static func malformed(_ what: String) -> MySQLError {
        MySQLError(code: .protocolError, message: "malformed \(what)")
    }

    /// Consumes the next packet of the answer.
    mutating func packetReceived(_ payload: ByteBuffer) throws -> Outcome {
        guard let header = payload.getInteger(at: payload.readerIndex, as: UInt8.self) else {
            throw Self.malformed("empty packet")
        }
        switch self.phase {
        case .ok:
            if header == 0xFF { return .failed(try parseErrorPacket(payload)) }
            guard header == 0x00 else { throw Self.malformed("reply, expected OK") }
            _ = try MySQLOKPacket(payload: payload)
            return .succeeded(.done)

        case .firstPacket:
            if header == 0xFF { return .failed(try parseErrorPacket(payload)) }
            if self.isPrepare { return try self.prepareOK(payload) }
            if header == 0x00 {
                let ok = try MySQLOKPacket(payload: payload)
                return self.finish(
                    MySQLQueryResult(affectedRows: ok.affectedRows, lastInsertID: ok.lastInsertID, warnings: ok.warnings),
                    status: ok.status)
            }
            if header == 0xFB {
                throw MySQLError(code: .unsupported, message: "LOAD DATA LOCAL INFILE is not supported")
            }
            var buffer = payload
            guard let count = buffer.readLengthEncodedInteger(), count > 0, count <= 4096, buffer.readableBytes == 0
            else { throw Self.malformed("column count") }
            self.columns = []
            self.rows = []
            self.matchedColumns = 0
            self.columnPackets = []
            self.phase = .columns(remaining: Int(count))
            return .needMore

        case .columns(let remaining):
            try self.columnReceived(payload, last: remaining == 1)
            if remaining > 1 {
                self.phase = .columns(remaining: remaining - 1)
            } else {
                self.phase = self.deprecateEOF ? .rows : .columnsEOF
            }
            return .needMore

        case .columnsEOF:
            guard header == 0xFE else { throw Self.malformed("EOF after columns") }
            self.phase = .rows
            return .needMore

        case .rows:
            if header == 0xFF { return .failed(try parseErrorPacket(payload)) }
            if MySQLOKPacket.isEOFOrOK(payload) {
                var result = MySQLQueryResult(columns: self.columns, rows: self.rows)
                let status: MySQLServerStatus
                if self.deprecateEOF {
                    let ok = try MySQLOKPacket(payload: payload)
                    result.warnings = ok.warnings
                    status = ok.status
                } else {
                    let eof = try MySQLEOFPacket(payload: payload)
                    result.warnings = eof.warnings
                    status = eof.status
                }
                return self.finish(result, status: status)
            }
            self.rows.append(try self.decodeRow(payload))
            return .needMore

        case .prepareParameters(let remaining):
            _ = try MySQLColumn(payload: payload)
            if remaining > 1 {
                self.phase = .prepareParameters(remaining: remaining - 1)
            } else if !self.deprecateEOF {
                self.phase = .prepareParametersEOF
            } else {
                return self.afterPrepareParameters()
            }
            return .needMore

        case .prepareParametersEOF:
            guard header == 0xFE else { throw Self.malformed("EOF after parameters") }
            return self.afterPrepareParameters()

        case .prepareColumns(let remaining):
            self.statement.columns.append(try MySQLColumn(payload: payload))
            if remaining > 1 {
                self.phase = .prepareColumns(remaining: remaining - 1)
                return .needMore
            }
            if self.deprecateEOF { return .succeeded(.prepared(self.statement)) }
            self.phase = .prepareColumnsEOF
            return .needMore

        case .prepareColumnsEOF:
            guard header == 0xFE else { throw Self.malformed("EOF after prepared columns") }
            return .succeeded(.prepared(self.statement))
        }
    }

    /// Takes one column definition: while they match the known ones byte for byte nothing is parsed; at the first
    /// difference the ones before are taken from the known columns and the rest parsed.
    private mutating func columnReceived(_ payload: ByteBuffer, last: Bool) throws {
        if self.columns.isEmpty, let known = self.knownColumns, self.matchedColumns < known.packets.count,
            known.packets[self.matchedColumns] == payload
        {
            self.matchedColumns += 1
        } else {
            self.takeMatchedColumns()
            self.columns.append(try MySQLColumn(payload: payload))
            if self.binary { self.columnPackets.append(payload) }
        }
        guard last else { return }
        if self.columns.isEmpty, let known = self.knownColumns, self.matchedColumns == known.packets.count {
            self.columns = known.index.columns
            self.columnIndex = known.index
            return
        }
        self.takeMatchedColumns()  // fewer columns than last time, all matching
        self.columnIndex = MySQLColumnIndex(self.columns)
        if self.binary, self.firstResult == nil {
            // Copied: the packets are slices of the receive buffer, which must not be kept alive.
            let packets = self.columnPackets.map { ByteBuffer(bytes: $0.readableBytesView) }
            self.learnedColumns = MySQLResultColumns(packets: packets, index: self.columnIndex)
        }
        self.columnPackets = []
    }

    /// Once the columns differ from the known ones: the matching ones so far, from the known columns.
    private mutating func takeMatchedColumns() {
        guard self.columns.isEmpty, let known = self.knownColumns, self.matchedColumns > 0 else { return }
        self.columns = Array(known.index.columns.prefix(self.matchedColumns))
        self.columnPackets = Array(known.packets.prefix(self.matchedColumns))
    }

    /// Ends one result; when the server announces more results (`SERVER_MORE_RESULTS_EXISTS`), keeps the first and
    /// reads on.
    private mutating func finish(_ result: MySQLQueryResult, status: MySQLServerStatus) -> Outcome {
        if self.firstResult == nil { self.firstResult = result }
        self.firstResult!.inTransaction = status.contains(.inTransaction)
        if status.contains(.moreResultsExist) {
            self.phase = .firstPacket
            return .needMore
        }
        return .succeeded(.result(self.firstResult!))
    }

    private mutating func prepareOK(_ payload: ByteBuffer) throws -> Outcome {
        var buffer = payload
        guard buffer.readInteger(as: UInt8.self) == 0x00,
            let id = buffer.readInteger(endianness: .little, as: UInt32.self),
            let columnCount = buffer.readInteger(endianness: .little, as: UInt16.self),
            let parameterCount = buffer.readInteger(endianness: .little, as: UInt16.self)
        else { throw Self.malformed("COM_STMT_PREPARE_OK") }
        self.statement = MySQLPreparedStatement(id: id, parameterCount: Int(parameterCount), columns: [])
        self.statement.columns.reserveCapacity(Int(columnCount))
        self.pendingColumnCount = Int(columnCount)
        if parameterCount > 0 {
            self.phase = .prepareParameters(remaining: Int(parameterCount))
            return .needMore
        }
        return self.afterPrepareParameters()
    }

    private var pendingColumnCount = 0

    private mutating func afterPrepareParameters() -> Outcome {
        if self.pendingColumnCount > 0 {
            self.phase = .prepareColumns(remaining: self.pendingColumnCount)
            return .needMore
        }
        return .succeeded(.prepared(self.statement))
    }

    private func decodeRow(_ payload: ByteBuffer) throws -> MySQLRow {
        var buffer = payload
        var values: [MySQLData] = []
        values.reserveCapacity(self.columns.count)
        if self.binary {
            // A slice, read in place: copying the NULL bitmap out would allocate per row.
            guard buffer.readInteger(as: UInt8.self) == 0x00,
                let bitmap = buffer.readSlice(length: (self.columns.count + 9) / 8)
            else { throw Self.malformed("binary row header") }
            for (index, column) in self.columns.enumerated() {
                let bit = index + 2
                let bitmapByte = bitmap.getInteger(at: bitmap.readerIndex + bit / 8, as: UInt8.self) ?? 0
                if bitmapByte & (1 << UInt8(bit % 8)) != 0 {
                    values.append(.null)
                } else {
                    values.append(try MySQLData(binaryFrom: &buffer, column: column))
                }
            }
        } else {
            for column in self.columns {
                if buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == 0xFB {
                    buffer.moveReaderIndex(forwardBy: 1)
                    values.append(.null)
                } else {
                    guard let slice = buffer.readLengthEncodedSlice() else { throw Self.malformed("text row") }
                    values.append(try MySQLData(textValue: slice, column: column))
                }
            }
        }
        guard buffer.readableBytes == 0 else { throw Self.malformed("row: \(buffer.readableBytes) trailing bytes") }
        return MySQLRow(values: values, columnIndex: self.columnIndex)
    }
}

/// The result columns of a prepared statement as the server last sent them: the raw definition packets (to compare
/// the next execution's against) and the parsed columns with their name index.
///
/// Thread-safety: immutable; `Sendable`.
final class MySQLResultColumns: Sendable {
    let packets: [ByteBuffer]
    let index: MySQLColumnIndex

    init(packets: [ByteBuffer], index: MySQLColumnIndex) {
        self.packets = packets
        self.index = index
    }
}
