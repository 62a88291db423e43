import Interfaces

/// A fixed-capacity ring of bytes: the storage behind a connection's send and receive buffers.
///
/// The readable region is `count` bytes starting at the logical head. Bytes beyond `count` (up to `capacity`)
/// may be written out of order with `write(at:)` and become readable with `commit`: that is how out-of-order
/// TCP data is placed directly where it belongs. Storage is allocated once, at creation; no operation allocates.
///
/// Invariant: `0 <= head < capacity` (or 0 when capacity is 0), `0 <= count <= capacity`.
final class TCPByteRing {
    /// Total bytes the ring can hold.
    let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private var head = 0
    /// Readable bytes.
    private(set) var count = 0

    /// Allocates a ring of `capacity` bytes (at least 1).
    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Bytes that can still be appended.
    var free: Int { capacity - count }

    /// Copies `bytes` into ring positions starting `offset` bytes after the head, wrapping as needed. Writes at
    /// most `capacity - offset` bytes; returns how many were written. Does not change `count`.
    @discardableResult
    func write(at offset: Int, _ bytes: UnsafeRawBufferPointer) -> Int {
        guard offset >= 0, offset < capacity, let base = bytes.baseAddress else { return 0 }
        let n = min(bytes.count, capacity - offset)
        var position = (head + offset) % capacity
        var done = 0
        while done < n {
            let chunk = min(n - done, capacity - position)
            (storage + position).copyMemory(from: base + done, byteCount: chunk)
            done += chunk
            position = 0
        }
        return n
    }

    /// Makes `n` more bytes (already written past the readable region) readable.
    func commit(_ n: Int) {
        count = min(capacity, count + max(n, 0))
    }

    /// Appends as many bytes as fit; returns how many.
    @discardableResult
    func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = min(bytes.count, free)
        guard n > 0 else { return 0 }
        write(at: count, UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
        count += n
        return n
    }

    /// Copies readable bytes starting `offset` bytes after the head into `buffer` without consuming them.
    /// Copies `min(buffer.count, count - offset)` bytes and returns that number.
    @discardableResult
    func peek(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard offset >= 0, offset < count, let base = buffer.baseAddress else { return 0 }
        let n = min(buffer.count, count - offset)
        var position = (head + offset) % capacity
        var done = 0
        while done < n {
            let chunk = min(n - done, capacity - position)
            (base + done).copyMemory(from: storage + position, byteCount: chunk)
            done += chunk
            position = 0
        }
        return n
    }

    /// Drops up to `n` readable bytes from the head; returns how many were dropped.
    @discardableResult
    func discard(_ n: Int) -> Int {
        let k = min(max(n, 0), count)
        head = (head + k) % capacity
        count -= k
        return k
    }

    /// Copies and consumes readable bytes into `buffer`; returns how many.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = peek(at: 0, into: buffer)
        discard(n)
        return n
    }
}
