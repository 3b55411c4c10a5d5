/// A stored row did not have the shape the code expects: a bug or a foreign schema, never user input.
public struct StorageDecodingError: Error, CustomStringConvertible {
    /// The column that was missing or of the wrong type.
    public var column: String
    /// Creates the error for `column`.
    public init(column: String) { self.column = column }
    public var description: String { "stored row has no usable value in column '\(self.column)'" }
}
