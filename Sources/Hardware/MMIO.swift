import BootShim

/// A window of memory-mapped device registers: `size` bytes at physical address `base`.
///
/// Every access is volatile (never merged, elided or reordered by the compiler) and bounds-checked against the
/// window: an offset past the end traps instead of touching a neighbouring device. The window must be mapped
/// (the Memory module maps the 3-4 GiB device hole; 64-bit BARs are mapped on demand).
public struct MMIORegion: Hashable, Sendable {
    /// Physical (= virtual) address of the first register.
    public let base: UInt64
    /// Size of the window in bytes.
    public let size: UInt64

    /// Describes the register window `[base, base + size)`. Creating it does not touch the device.
    public init(unsafeBase base: UInt64, size: UInt64) {
        self.base = base
        self.size = size
    }

    @inline(__always) private func address(_ offset: UInt64, _ width: UInt64) -> UInt64 {
        precondition(offset <= size && width <= size - offset, "MMIO access outside the register window")
        return base + offset
    }

    /// Reads the 8-bit register at `offset`.
    @inline(__always) public func read8(at offset: UInt64) -> UInt8 { shim_mmio_read8(address(offset, 1)) }
    /// Reads the 16-bit register at `offset`.
    @inline(__always) public func read16(at offset: UInt64) -> UInt16 { shim_mmio_read16(address(offset, 2)) }
    /// Reads the 32-bit register at `offset`.
    @inline(__always) public func read32(at offset: UInt64) -> UInt32 { shim_mmio_read32(address(offset, 4)) }
    /// Reads the 64-bit register at `offset`.
    @inline(__always) public func read64(at offset: UInt64) -> UInt64 { shim_mmio_read64(address(offset, 8)) }
    /// Writes the 8-bit register at `offset`.
    @inline(__always) public func write8(_ value: UInt8, at offset: UInt64) { shim_mmio_write8(address(offset, 1), value) }
    /// Writes the 16-bit register at `offset`.
    @inline(__always) public func write16(_ value: UInt16, at offset: UInt64) { shim_mmio_write16(address(offset, 2), value) }
    /// Writes the 32-bit register at `offset`.
    @inline(__always) public func write32(_ value: UInt32, at offset: UInt64) { shim_mmio_write32(address(offset, 4), value) }
    /// Writes the 64-bit register at `offset`.
    @inline(__always) public func write64(_ value: UInt64, at offset: UInt64) { shim_mmio_write64(address(offset, 8), value) }
}

/// Memory ordering between the CPU and devices that read shared memory (virtqueues).
public enum MemoryBarrier {
    /// A full fence (`mfence`): earlier loads and stores complete before later ones.
    @inline(__always) public static func full() { shim_memory_fence() }
    /// Stops the compiler from moving memory accesses across this point (x86 keeps store order itself).
    @inline(__always) public static func compiler() { shim_compiler_fence() }
}
