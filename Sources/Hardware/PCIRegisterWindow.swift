/// A window of device registers addressed by byte offset: the one seam through which device drivers (virtio
/// transports, MSI-X tables) touch hardware, so that the same driver code runs over memory-mapped registers and
/// I/O ports in the guest and over a simulated device in host tests.
///
/// Offsets are relative to the start of the window and are little-endian, as PCI and virtio define them.
/// Implementations may trap on an access outside `[0, size)` (`MMIORegion` does); code that computes offsets from
/// values a device supplied must check them first, or go through `RegisterWindowSlice`, which never traps.
public protocol RegisterWindow {
    /// Length of the window in bytes.
    var size: UInt64 { get }
    /// Reads the 8-bit register at `offset`.
    func read8(at offset: UInt64) -> UInt8
    /// Reads the 16-bit register at `offset`.
    func read16(at offset: UInt64) -> UInt16
    /// Reads the 32-bit register at `offset`.
    func read32(at offset: UInt64) -> UInt32
    /// Writes the 8-bit register at `offset`.
    func write8(_ value: UInt8, at offset: UInt64)
    /// Writes the 16-bit register at `offset`.
    func write16(_ value: UInt16, at offset: UInt64)
    /// Writes the 32-bit register at `offset`.
    func write32(_ value: UInt32, at offset: UInt64)
}

extension MMIORegion: RegisterWindow {}

/// A range of `size` consecutive I/O ports starting at `base`, seen as a register window (the I/O BAR of a
/// legacy virtio-pci device, for example). Accesses outside the range read as all ones and writes to them are
/// dropped, so a bad offset never reaches a neighbouring device.
public struct IOPortWindow: RegisterWindow, Hashable, Sendable {
    /// The first port.
    public let base: UInt16
    /// Number of ports in the window (at most `0x10000 - base`).
    public let size: UInt64

    /// Describes ports `[base, base + size)`; `size` is clamped so the window does not wrap past port 0xffff.
    public init(base: UInt16, size: UInt64) {
        self.base = base
        self.size = min(size, 0x1_0000 - UInt64(base))
    }

    @inline(__always) private func port(_ offset: UInt64, _ width: UInt64) -> IOPort? {
        guard offset <= size, width <= size - offset else { return nil }
        return IOPort(base &+ UInt16(truncatingIfNeeded: offset))
    }

    /// See `RegisterWindow`.
    public func read8(at offset: UInt64) -> UInt8 { port(offset, 1)?.read8() ?? 0xFF }
    /// See `RegisterWindow`.
    public func read16(at offset: UInt64) -> UInt16 { port(offset, 2)?.read16() ?? 0xFFFF }
    /// See `RegisterWindow`.
    public func read32(at offset: UInt64) -> UInt32 { port(offset, 4)?.read32() ?? 0xFFFF_FFFF }
    /// See `RegisterWindow`.
    public func write8(_ value: UInt8, at offset: UInt64) { port(offset, 1)?.write8(value) }
    /// See `RegisterWindow`.
    public func write16(_ value: UInt16, at offset: UInt64) { port(offset, 2)?.write16(value) }
    /// See `RegisterWindow`.
    public func write32(_ value: UInt32, at offset: UInt64) { port(offset, 4)?.write32(value) }
}

/// The register window behind a PCI base address register in the guest: memory-mapped or port I/O, whichever
/// the BAR decodes to (`PCIBAR.window`).
public enum PCIBARWindow: RegisterWindow, Hashable, Sendable {
    /// A memory BAR (the range must be mapped; the Memory module maps the 3-4 GiB hole).
    case memory(MMIORegion)
    /// An I/O BAR.
    case io(IOPortWindow)

    /// See `RegisterWindow`.
    public var size: UInt64 {
        switch self {
        case .memory(let r): return r.size
        case .io(let p): return p.size
        }
    }

    /// See `RegisterWindow`.
    public func read8(at offset: UInt64) -> UInt8 {
        switch self {
        case .memory(let r): return offset < r.size ? r.read8(at: offset) : 0xFF
        case .io(let p): return p.read8(at: offset)
        }
    }

    /// See `RegisterWindow`.
    public func read16(at offset: UInt64) -> UInt16 {
        switch self {
        case .memory(let r): return offset <= r.size && r.size - offset >= 2 ? r.read16(at: offset) : 0xFFFF
        case .io(let p): return p.read16(at: offset)
        }
    }

    /// See `RegisterWindow`.
    public func read32(at offset: UInt64) -> UInt32 {
        switch self {
        case .memory(let r): return offset <= r.size && r.size - offset >= 4 ? r.read32(at: offset) : 0xFFFF_FFFF
        case .io(let p): return p.read32(at: offset)
        }
    }

    /// See `RegisterWindow`.
    public func write8(_ value: UInt8, at offset: UInt64) {
        switch self {
        case .memory(let r): if offset < r.size { r.write8(value, at: offset) }
        case .io(let p): p.write8(value, at: offset)
        }
    }

    /// See `RegisterWindow`.
    public func write16(_ value: UInt16, at offset: UInt64) {
        switch self {
        case .memory(let r): if offset <= r.size && r.size - offset >= 2 { r.write16(value, at: offset) }
        case .io(let p): p.write16(value, at: offset)
        }
    }

    /// See `RegisterWindow`.
    public func write32(_ value: UInt32, at offset: UInt64) {
        switch self {
        case .memory(let r): if offset <= r.size && r.size - offset >= 4 { r.write32(value, at: offset) }
        case .io(let p): p.write32(value, at: offset)
        }
    }
}

/// A bounds-checked sub-range `[offset, offset + size)` of another register window.
///
/// Invariant: an access that does not fit entirely inside the slice (or inside the base window) never reaches
/// the base window; reads return all ones (what a bus returns for nothing there) and writes are dropped. This
/// makes a slice safe to index with offsets derived from untrusted device data.
public struct RegisterWindowSlice<Base: RegisterWindow>: RegisterWindow {
    /// The window the slice lies in.
    public let base: Base
    /// Where the slice starts inside `base`.
    public let offset: UInt64
    /// Length of the slice; `offset + size <= base.size` is checked at creation.
    public let size: UInt64

    /// The slice `[offset, offset + size)` of `base`, or nil if it does not lie inside `base`.
    public init?(_ base: Base, offset: UInt64, size: UInt64) {
        guard offset <= base.size, size <= base.size - offset else { return nil }
        self.base = base
        self.offset = offset
        self.size = size
    }

    @inline(__always) private func fits(_ at: UInt64, _ width: UInt64) -> Bool { at <= size && width <= size - at }

    public func read8(at o: UInt64) -> UInt8 { fits(o, 1) ? base.read8(at: offset + o) : 0xFF }
    /// See `RegisterWindow`.
    public func read16(at o: UInt64) -> UInt16 { fits(o, 2) ? base.read16(at: offset + o) : 0xFFFF }
    /// See `RegisterWindow`.
    public func read32(at o: UInt64) -> UInt32 { fits(o, 4) ? base.read32(at: offset + o) : 0xFFFF_FFFF }
    /// See `RegisterWindow`.
    public func write8(_ value: UInt8, at o: UInt64) { if fits(o, 1) { base.write8(value, at: offset + o) } }
    /// See `RegisterWindow`.
    public func write16(_ value: UInt16, at o: UInt64) { if fits(o, 2) { base.write16(value, at: offset + o) } }
    /// See `RegisterWindow`.
    public func write32(_ value: UInt32, at o: UInt64) { if fits(o, 4) { base.write32(value, at: offset + o) } }
}
