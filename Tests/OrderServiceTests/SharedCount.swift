import Synchronization

/// A count that concurrent tasks share (an `Atomic` itself cannot be captured by them).
final class SharedCount: Sendable {
    private let count = Atomic<Int>(0)

    func increment() { self.count.add(1, ordering: .relaxed) }
    var value: Int { self.count.load(ordering: .relaxed) }
}
