extension Array {
    /// The array in consecutive slices of at most `size` elements (for multi-row statements).
    public func chunked(into size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
    }
}
