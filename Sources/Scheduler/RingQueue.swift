/// A FIFO queue in a growable ring buffer: O(1) push and pop at both ends, no per-element allocation after
/// growth. The run queue and every wait queue use it, so it sits on every context switch.
///
/// Invariant: the storage size is a power of two (`mask` = size - 1), so wrapping an index is a mask, not a
/// division (a division is a helper call per instruction under QEMU's TCG, and tens of cycles on hardware).
public struct RingQueue<Element> {
    private var storage: [Element?]
    private var mask: Int
    private var head = 0
    /// Number of elements.
    public private(set) var count = 0

    /// An empty queue with room for at least `capacity` elements before it grows.
    public init(capacity: Int = 8) {
        var size = 1
        while size < capacity { size <<= 1 }
        storage = [Element?](repeating: nil, count: size)
        mask = size - 1
    }

    /// Whether the queue is empty.
    public var isEmpty: Bool { count == 0 }

    /// The element that `popFirst` would return.
    public var first: Element? { count == 0 ? nil : storage[head] }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: storage.count * 2)
        for i in 0..<count { bigger[i] = storage[(head &+ i) & mask] }
        storage = bigger
        mask = bigger.count - 1
        head = 0
    }

    /// Appends `element` at the back.
    public mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head &+ count) & mask] = element
        count += 1
    }

    /// Inserts `element` at the front.
    public mutating func prepend(_ element: Element) {
        if count == storage.count { grow() }
        head = (head &- 1) & mask
        storage[head] = element
        count += 1
    }

    /// Removes and returns the front element.
    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head &+ 1) & mask
        count -= 1
        return element
    }

    /// Removes the first element for which `matches` is true; returns whether one was removed. O(n).
    @discardableResult
    public mutating func removeFirst(where matches: (Element) -> Bool) -> Bool {
        for i in 0..<count {
            let index = (head &+ i) & mask
            guard let element = storage[index], matches(element) else { continue }
            // Shift the later elements one place forward to keep FIFO order.
            for j in i..<(count - 1) {
                storage[(head &+ j) & mask] = storage[(head &+ j &+ 1) & mask]
            }
            storage[(head &+ count &- 1) & mask] = nil
            count -= 1
            return true
        }
        return false
    }

    /// Calls `body` with each element from front to back.
    public func forEach(_ body: (Element) -> Void) {
        for i in 0..<count { if let e = storage[(head &+ i) & mask] { body(e) } }
    }
}
