/// Memory a device may read and write directly (virtqueues, packet and request buffers).
///
/// Drivers allocate everything they share with a device once, when they start, and keep it for the device's
/// lifetime; nothing is allocated per packet or per request. The guest's implementation hands out physically
/// contiguous, identity-mapped frames; host tests use aligned host allocations, which a simulated device reads
/// through the same addresses.
public protocol DMAMemory: AnyObject {
    /// Returns `byteCount` zero-filled, physically contiguous bytes aligned to `alignment` (a power of two), or
    /// nil when memory is exhausted.
    func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer?
    /// Returns memory obtained from `allocate`. Only call it once the device can no longer access the memory
    /// (after a device reset).
    func deallocate(_ pointer: UnsafeMutableRawPointer)
    /// The address the device uses for `pointer`. The default is the pointer's integer value, which is the
    /// physical address in the identity-mapped guest (and the host address a simulated device dereferences).
    func deviceAddress(of pointer: UnsafeRawPointer) -> UInt64
}

extension DMAMemory {
    /// See `DMAMemory`.
    public func deviceAddress(of pointer: UnsafeRawPointer) -> UInt64 { UInt64(UInt(bitPattern: pointer)) }
}

/// DMA memory from the Swift heap. Correct wherever heap memory is identity-mapped physical memory, which is
/// true of this library OS's guest heap and of a host test's simulated device; a guest that wants DMA buffers
/// outside the heap (or below 4 GiB for legacy transports' 32-bit page numbers) supplies its own `DMAMemory`.
public final class HeapDMAMemory: DMAMemory {
    /// Bytes currently allocated through this object.
    public private(set) var bytesInUse = 0
    /// Live allocations and their sizes. A list, not a dictionary: drivers allocate a few hundred buffers once
    /// and free them only when a device stops, and a dictionary would add its specialization (about 2 KB of code)
    /// to every image.
    private var allocations: [(address: UInt, size: Int)] = []

    /// Creates an allocator.
    public init() {}

    /// See `DMAMemory`.
    public func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        guard byteCount > 0, alignment > 0, alignment & (alignment - 1) == 0 else { return nil }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: alignment)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        allocations.append((UInt(bitPattern: pointer), byteCount))
        bytesInUse += byteCount
        return pointer
    }

    /// See `DMAMemory`.
    public func deallocate(_ pointer: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: pointer)
        // Newest first: a driver that fails while starting frees what it just allocated.
        var index = allocations.count - 1
        while index >= 0 && allocations[index].address != address { index -= 1 }
        if index >= 0 {
            bytesInUse -= allocations[index].size
            allocations.remove(at: index)
        }
        pointer.deallocate()
    }
}
