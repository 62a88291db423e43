/// A FIFO of up to `capacity` packets of up to `slotSize` bytes each, in one buffer allocated on first use:
/// the stack's loopback queue (packets to its own address or 127.0.0.0/8, handled at the next poll).
struct PacketRing {
    let slotSize: Int
    let capacity: Int
    private var storage: [UInt8] = []
    private var lengths: [Int] = []
    private var head = 0
    private(set) var count = 0

    init(slotSize: Int, capacity: Int) {
        self.slotSize = max(slotSize, 0)
        self.capacity = max(capacity, 0)
    }

    /// Appends a packet of `length` bytes written by `fill`; false (without calling `fill`) when full or too long.
    mutating func push(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard count < capacity, length >= 0, length <= slotSize else { return false }
        if storage.isEmpty {
            storage = [UInt8](repeating: 0, count: capacity * slotSize)
            lengths = [Int](repeating: 0, count: capacity)
        }
        let slot = (head + count) % capacity
        lengths[slot] = length
        let start = slot * slotSize
        storage.withUnsafeMutableBytes { fill(NetBytes.slice($0, start, start + length)) }
        count += 1
        return true
    }

    /// Removes the oldest packet, copying it into `buffer` (which must hold `slotSize` bytes); returns its length.
    mutating func pop(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard count > 0 else { return nil }
        let length = min(lengths[head], buffer.count)
        let start = head * slotSize
        storage.withUnsafeBytes { NetBytes.slice(buffer, 0, length).copyMemory(from: NetBytes.slice($0, start, start + length)) }
        head = (head + 1) % capacity
        count -= 1
        return length
    }
}
