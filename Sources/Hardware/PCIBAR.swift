import Interfaces

/// A decoded PCI base address register (PCI Local Bus Specification 3.0 §6.2.5.1).
public enum PCIBAR: Hashable, Sendable, CustomStringConvertible {
    /// An I/O-space BAR: `size` ports at `base`.
    case io(base: UInt16, size: UInt32)
    /// A memory-space BAR: `size` bytes at physical address `base`. `is64Bit` BARs occupy two BAR slots.
    case memory(base: UInt64, size: UInt64, is64Bit: Bool, prefetchable: Bool)

    /// The base address (a port number for I/O BARs).
    public var base: UInt64 {
        switch self {
        case .io(let base, _): return UInt64(base)
        case .memory(let base, _, _, _): return base
        }
    }

    /// The size in bytes (ports for I/O BARs); always a power of two.
    public var size: UInt64 {
        switch self {
        case .io(_, let size): return UInt64(size)
        case .memory(_, let size, _, _): return size
        }
    }

    /// Whether this is a memory BAR.
    public var isMemory: Bool {
        if case .memory = self { return true }
        return false
    }

    /// The guest's register window for the BAR. A memory BAR must be mapped before it is accessed.
    public var window: PCIBARWindow {
        switch self {
        case .io(let base, let size): return .io(IOPortWindow(base: base, size: UInt64(size)))
        case .memory(let base, let size, _, _): return .memory(MMIORegion(unsafeBase: base, size: size))
        }
    }

    /// Decodes one BAR from its original value and the value read back after writing all ones (the size probe).
    /// For a 64-bit memory BAR pass the upper dword's original and probe values too; without them a 64-bit BAR
    /// is not decoded. Returns nil for an unimplemented BAR (probe reads back zero), a BAR whose size mask is not
    /// a contiguous run of ones (not a valid BAR), or the reserved memory type 3.
    public static func decode(original: UInt32, probe: UInt32, upperOriginal: UInt32? = nil,
                              upperProbe: UInt32? = nil) -> PCIBAR? {
        if original & 1 != 0 {
            // I/O: bits 31..2 are the address; devices may hardwire the upper 16 bits to zero.
            var mask = probe & ~0x3
            guard mask != 0 else { return nil }
            if mask & 0xFFFF_0000 == 0 { mask |= 0xFFFF_0000 }
            let size = ~mask &+ 1
            guard size != 0, size & (size - 1) == 0, size <= 0x1_0000 else { return nil }
            return .io(base: UInt16(truncatingIfNeeded: original & ~0x3), size: size)
        }
        let type = (original >> 1) & 0x3
        let prefetchable = original & 0x8 != 0
        switch type {
        case 0, 1:  // 32-bit (type 1: below 1 MiB, a PCI 2.x relic)
            let mask = probe & ~0xF
            guard mask != 0 else { return nil }
            let size = ~mask &+ 1
            guard size & (size &- 1) == 0 else { return nil }
            return .memory(base: UInt64(original & ~0xF), size: UInt64(size), is64Bit: false,
                           prefetchable: prefetchable)
        case 2:
            guard let upperOriginal, let upperProbe else { return nil }
            let mask = UInt64(upperProbe) << 32 | UInt64(probe & ~0xF)
            guard mask != 0 else { return nil }
            let size = ~mask &+ 1
            guard size != 0, size & (size &- 1) == 0 else { return nil }
            return .memory(base: UInt64(upperOriginal) << 32 | UInt64(original & ~0xF), size: size, is64Bit: true,
                           prefetchable: prefetchable)
        default:
            return nil
        }
    }

    /// Reads and sizes every BAR of `function` with the write-ones probe. Element `i` is BAR `i`, nil when it is
    /// unimplemented or is the upper half of the 64-bit BAR before it. Memory and I/O decoding are turned off in
    /// the command register while the BARs hold the probe pattern and restored afterwards, so the device never
    /// answers at a bogus address.
    public static func probeAll<Config: PCIConfigurationAccess>(_ config: Config, function: PCIFunction) -> [PCIBAR?] {
        let count = function.barCount
        var result = [PCIBAR?](repeating: nil, count: count)
        guard count > 0 else { return result }
        let address = function.address
        let command = config.read16(address, offset: PCIConfigRegister.command)
        config.write16(address, offset: PCIConfigRegister.command,
                       command & ~(PCIConfigRegister.commandIOSpace | PCIConfigRegister.commandMemorySpace))
        var index = 0
        while index < count {
            let offset = PCIConfigRegister.bar0 + UInt16(index) * 4
            let original = config.read32(address, offset: offset)
            config.write32(address, offset: offset, 0xFFFF_FFFF)
            let probe = config.read32(address, offset: offset)
            config.write32(address, offset: offset, original)
            if original & 1 == 0 && (original >> 1) & 0x3 == 2 {
                guard index + 1 < count else { break }  // a 64-bit BAR in the last slot is malformed
                let upperOffset = offset + 4
                let upperOriginal = config.read32(address, offset: upperOffset)
                config.write32(address, offset: upperOffset, 0xFFFF_FFFF)
                let upperProbe = config.read32(address, offset: upperOffset)
                config.write32(address, offset: upperOffset, upperOriginal)
                result[index] = decode(original: original, probe: probe, upperOriginal: upperOriginal,
                                       upperProbe: upperProbe)
                index += 2
            } else {
                result[index] = decode(original: original, probe: probe)
                index += 1
            }
        }
        config.write16(address, offset: PCIConfigRegister.command, command)
        return result
    }

    /// Turns on memory and I/O decoding and bus mastering (needed before a device may DMA into guest memory).
    public static func enableDecodingAndBusMaster<Config: PCIConfigurationAccess>(_ config: Config, function: PCIFunction) {
        let command = config.read16(function.address, offset: PCIConfigRegister.command)
        config.write16(function.address, offset: PCIConfigRegister.command,
                       command | PCIConfigRegister.commandIOSpace | PCIConfigRegister.commandMemorySpace
                           | PCIConfigRegister.commandBusMaster)
    }

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .io(let base, let size):
            return "io " + hex(UInt64(base)) + " size " + hex(UInt64(size))
        case .memory(let base, let size, let is64Bit, let prefetchable):
            return (is64Bit ? "mem64 " : "mem32 ") + hex(base) + " size " + hex(size) + (prefetchable ? " pref" : "")
        }
    }
}
