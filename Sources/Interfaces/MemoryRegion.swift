/// A physical address. The guest identity-maps RAM, so it is also the virtual address of the same byte.
public struct PhysicalAddress: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// The address as an integer.
    public var value: UInt64

    /// Wraps `value`.
    public init(_ value: UInt64) { self.value = value }

    public static func < (a: PhysicalAddress, b: PhysicalAddress) -> Bool { a.value < b.value }

    /// This address rounded down to a multiple of `alignment` (a power of two).
    public func alignedDown(to alignment: UInt64) -> PhysicalAddress {
        PhysicalAddress(value & ~(alignment - 1))
    }

    /// This address rounded up to a multiple of `alignment` (a power of two), saturating at the top.
    public func alignedUp(to alignment: UInt64) -> PhysicalAddress {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return PhysicalAddress(overflow ? ~(alignment - 1) : sum & ~(alignment - 1))
    }

    /// `0x`-prefixed hexadecimal.
    public var description: String { hex(value) }
}

/// What a range of physical memory holds, per the boot memory map (E820 types, as PVH reports them).
public enum MemoryKind: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// RAM the kernel may use.
    case usable
    /// Reserved by firmware or the hypervisor (device memory holes, the BIOS area).
    case reserved
    /// ACPI tables; reclaimable once they have been read.
    case acpiReclaimable
    /// ACPI non-volatile storage.
    case acpiNVS
    /// Memory reported as faulty.
    case unusable
    /// A type this kernel does not know; treated as reserved.
    case other(UInt32)

    /// The E820 type number for this kind (1 usable, 2 reserved, 3 ACPI, 4 NVS, 5 unusable).
    public init(e820Type: UInt32) {
        switch e820Type {
        case 1: self = .usable
        case 2: self = .reserved
        case 3: self = .acpiReclaimable
        case 4: self = .acpiNVS
        case 5: self = .unusable
        default: self = .other(e820Type)
        }
    }

    /// A lowercase name, e.g. `"usable"`.
    public var description: String {
        switch self {
        case .usable: return "usable"
        case .reserved: return "reserved"
        case .acpiReclaimable: return "acpi"
        case .acpiNVS: return "acpi-nvs"
        case .unusable: return "unusable"
        case .other(let type): return "type \(type)"
        }
    }
}

/// A range of physical memory and what it holds. `length` is never zero in a normalized map.
public struct MemoryRegion: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// First byte.
    public var start: PhysicalAddress
    /// Size in bytes.
    public var length: UInt64
    /// What the range holds.
    public var kind: MemoryKind

    /// Creates a region of `length` bytes at `start`.
    public init(start: PhysicalAddress, length: UInt64, kind: MemoryKind) {
        self.start = start
        self.length = length
        self.kind = kind
    }

    /// One past the last byte (saturating at 2^64 - 1).
    public var end: PhysicalAddress {
        let (sum, overflow) = start.value.addingReportingOverflow(length)
        return PhysicalAddress(overflow ? .max : sum)
    }

    public var description: String { "[\(hex(start.value)), \(hex(end.value))) \(kind)" }
}

/// `0x`-prefixed lowercase hexadecimal of `value`, without leading zeros.
public func hex(_ value: UInt64) -> String {
    var digits: [UInt8] = []
    var v = value
    repeat {
        let nibble = UInt8(v & 0xf)
        digits.append(nibble < 10 ? 0x30 + nibble : 0x57 + nibble)
        v >>= 4
    } while v != 0
    var text = "0x"
    for d in digits.reversed() { text.unicodeScalars.append(Unicode.Scalar(d)) }
    return text
}
