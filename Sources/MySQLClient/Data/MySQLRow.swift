import NIOCore

/// One row of a result set: values by column position or name.
///
/// ```swift
/// let id = try row.decode(String.self, column: "id")
/// let amount = try row.decode(String?.self, column: "total_amount")   // DECIMAL as exact text, or nil for NULL
/// let order = try row.decode(OrderRow.self)                          // Decodable, keyed by column name
/// ```
/// Thread-safety: an immutable value; `Sendable`.
public struct MySQLRow: Sendable, Equatable {
    /// The result set's columns, in order.
    public var columns: [MySQLColumn] { self.columnIndex.columns }
    /// The values, in column order.
    public let values: [MySQLData]
    let columnIndex: MySQLColumnIndex

    init(values: [MySQLData], columnIndex: MySQLColumnIndex) {
        self.values = values
        self.columnIndex = columnIndex
    }

    /// Creates a row (mostly for tests).
    public init(columns: [MySQLColumn], values: [MySQLData]) {
        self.init(values: values, columnIndex: MySQLColumnIndex(columns))
    }

    /// The value of the column named `name` (the first one if several share it), or `nil` when there is none.
    public subscript(column name: String) -> MySQLData? {
        self.columnIndex.positions[name].map { self.values[$0] }
    }

    /// Decodes the column named `column` into `type`; throws a ``MySQLError/Code/decoding`` error when the column is
    /// missing or its value does not fit.
    public func decode<T: MySQLDataConvertible>(_ type: T.Type, column: String) throws -> T {
        guard let value = self[column: column] else {
            throw MySQLError(code: .decoding, message: "no column named \(column)")
        }
        guard let decoded = T(mySQLData: value) else {
            throw MySQLError(code: .decoding, message: "column \(column) (\(value.kindName)) is not a \(T.self)")
        }
        return decoded
    }

    /// Decodes the value at `index` into `type`.
    public func decode<T: MySQLDataConvertible>(_ type: T.Type, at index: Int) throws -> T {
        guard self.values.indices.contains(index) else {
            throw MySQLError(code: .decoding, message: "no column at index \(index)")
        }
        guard let decoded = T(mySQLData: self.values[index]) else {
            throw MySQLError(
                code: .decoding, message: "column \(index) (\(self.values[index].kindName)) is not a \(T.self)")
        }
        return decoded
    }

    /// Decodes the whole row into a `Decodable` type whose keys are column names.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: MySQLRowDecoder(row: self))
    }
}

/// Columns and their positions by name, shared by every row of a result set.
final class MySQLColumnIndex: Sendable, Equatable {
    let columns: [MySQLColumn]
    let positions: [String: Int]

    init(_ columns: [MySQLColumn]) {
        self.columns = columns
        var positions: [String: Int] = [:]
        for (index, column) in columns.enumerated() where positions[column.name] == nil {
            positions[column.name] = index
        }
        self.positions = positions
    }

    static func == (lhs: MySQLColumnIndex, rhs: MySQLColumnIndex) -> Bool { lhs.columns == rhs.columns }
}

extension MySQLData {
    var kindName: String {
        switch self {
        case .null: "NULL"
        case .int: "int"
        case .uint: "uint"
        case .double: "double"
        case .string: "string"
        case .bytes: "bytes"
        case .decimal: "decimal"
        case .dateTime: "dateTime"
        }
    }
}

/// The result of a statement: rows for a query, counts for a change.
///
/// Thread-safety: an immutable value; `Sendable`.
public struct MySQLQueryResult: Sendable, Equatable {
    /// The columns of the result set (empty for statements without one).
    public var columns: [MySQLColumn]
    /// The rows, in the order the server sent them.
    public var rows: [MySQLRow]
    /// Rows changed by an `INSERT`, `UPDATE` or `DELETE` (rows *found* for updates: `CLIENT_FOUND_ROWS`).
    public var affectedRows: UInt64
    /// The `AUTO_INCREMENT` value of the last inserted row, or 0.
    public var lastInsertID: UInt64
    /// The number of warnings the statement raised.
    public var warnings: UInt16
    /// Whether a transaction was open after the statement (`SERVER_STATUS_IN_TRANS`).
    public var inTransaction: Bool = false

    /// Creates a result (mostly for tests).
    public init(
        columns: [MySQLColumn] = [], rows: [MySQLRow] = [], affectedRows: UInt64 = 0, lastInsertID: UInt64 = 0,
        warnings: UInt16 = 0
    ) {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.lastInsertID = lastInsertID
        self.warnings = warnings
    }
}
