/// One entry of a function's capability list (PCI Local Bus Specification 3.0 §6.7).
public struct PCICapability: Hashable, Sendable {
    /// Capability ID (0x05 MSI, 0x09 vendor-specific, 0x10 PCI Express, 0x11 MSI-X).
    public var id: UInt8
    /// Offset of the capability in configuration space; always 0x40...0xFC and dword-aligned.
    public var offset: UInt16

    /// Creates an entry.
    public init(id: UInt8, offset: UInt16) {
        self.id = id
        self.offset = offset
    }

    /// Capability ID of MSI.
    public static let msiID: UInt8 = 0x05
    /// Capability ID of vendor-specific capabilities (virtio-pci uses these).
    public static let vendorSpecificID: UInt8 = 0x09
    /// Capability ID of MSI-X.
    public static let msixID: UInt8 = 0x11
}

/// Why a PCI structure could not be used.
public enum PCIError: Error, Equatable, CustomStringConvertible {
    /// The function has no capability of the requested kind.
    case capabilityMissing(id: UInt8)
    /// A capability names a BAR that does not exist or is not a memory BAR.
    case badBAR(index: UInt8)
    /// A structure reaches past the end of its BAR.
    case outsideBAR(offset: UInt64, length: UInt64, barSize: UInt64)
    /// An MSI-X table entry index at or past the table size.
    case vectorOutOfRange(index: Int, tableSize: Int)

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .capabilityMissing(let id): return "capability \(id) missing"
        case .badBAR(let index): return "capability refers to unusable BAR \(index)"
        case .outsideBAR(let offset, let length, let size):
            return "structure at \(offset) (+\(length)) lies outside its BAR of \(size) bytes"
        case .vectorOutOfRange(let index, let size): return "MSI-X entry \(index) is outside the table of \(size)"
        }
    }
}

/// Walking a function's capability list.
public enum PCICapabilities {
    /// At most this many capabilities fit in the 192 bytes after the standard header (4 bytes each).
    public static let maximumCount = 48

    /// The function's capabilities in list order. The walk is protected against malformed lists: it stops at a
    /// pointer below 0x40 (inside the standard header), at a pointer it has already visited (a loop), and after
    /// `maximumCount` entries; pointers are masked to dword alignment as the specification requires. Returns an
    /// empty list when the status register does not announce a capability list.
    public static func list<Config: PCIConfigurationAccess>(_ config: Config, address: PCIAddress) -> [PCICapability] {
        var result: [PCICapability] = []
        let status = config.read16(address, offset: PCIConfigRegister.status)
        guard status != 0xFFFF, status & PCIConfigRegister.statusCapabilitiesList != 0 else { return result }
        var visited: (UInt64, UInt64) = (0, 0)  // one bit per dword 0x40...0xFC (48 dwords)
        var pointer = UInt16(config.read8(address, offset: PCIConfigRegister.capabilitiesPointer) & 0xFC)
        while pointer >= 0x40 && result.count < maximumCount {
            let slot = Int(pointer - 0x40) / 4
            if slot < 64 {
                if visited.0 & (1 << UInt64(slot)) != 0 { break }
                visited.0 |= 1 << UInt64(slot)
            } else {
                if visited.1 & (1 << UInt64(slot - 64)) != 0 { break }
                visited.1 |= 1 << UInt64(slot - 64)
            }
            let header = config.read16(address, offset: pointer)
            result.append(PCICapability(id: UInt8(truncatingIfNeeded: header), offset: pointer))
            pointer = UInt16(UInt8(truncatingIfNeeded: header >> 8) & 0xFC)
        }
        return result
    }

    /// The first capability with `id`, or nil.
    public static func find<Config: PCIConfigurationAccess>(_ config: Config, address: PCIAddress, id: UInt8) -> PCICapability? {
        list(config, address: address).first { $0.id == id }
    }
}

/// The MSI-X capability of a function and its vector table (PCI Local Bus Specification 3.0 §6.8.2).
///
/// Wiring a device to a local-APIC vector: `parse` the capability, map the table's BAR, `program` an entry with
/// `messageAddress(apicID:)` and `messageData(vector:)`, then `enable`. Entries start masked after reset;
/// `program` unmasks the entry it writes.
public struct PCIMSIX: Hashable, Sendable {
    /// The function.
    public var address: PCIAddress
    /// Offset of the capability in configuration space.
    public var capabilityOffset: UInt16
    /// Number of table entries (1...2048).
    public var tableSize: Int
    /// BAR index (0-5) holding the vector table.
    public var tableBAR: UInt8
    /// Offset of the table inside that BAR (8-byte aligned).
    public var tableOffset: UInt64
    /// BAR index holding the pending-bit array.
    public var pendingBitArrayBAR: UInt8
    /// Offset of the pending-bit array inside its BAR.
    public var pendingBitArrayOffset: UInt64

    /// Bytes per table entry: message address (low, high), message data, vector control.
    public static let entrySize: UInt64 = 16

    /// Reads the MSI-X capability of the function at `address`; throws `capabilityMissing` if it has none.
    public static func parse<Config: PCIConfigurationAccess>(_ config: Config, address: PCIAddress) throws(PCIError) -> PCIMSIX {
        guard let cap = PCICapabilities.find(config, address: address, id: PCICapability.msixID) else {
            throw .capabilityMissing(id: PCICapability.msixID)
        }
        let control = config.read16(address, offset: cap.offset + 2)
        let table = config.read32(address, offset: cap.offset + 4)
        let pba = config.read32(address, offset: cap.offset + 8)
        guard table & 7 <= 5 else { throw .badBAR(index: UInt8(table & 7)) }
        return PCIMSIX(address: address, capabilityOffset: cap.offset, tableSize: Int(control & 0x7FF) + 1,
                       tableBAR: UInt8(table & 7), tableOffset: UInt64(table & ~7),
                       pendingBitArrayBAR: UInt8(pba & 7), pendingBitArrayOffset: UInt64(pba & ~7))
    }

    /// The message address that delivers to local APIC `apicID` in physical destination mode (Intel SDM Vol. 3A
    /// §11.11.1): `0xFEE00000 | apicID << 12`.
    public static func messageAddress(apicID: UInt8) -> UInt64 { 0xFEE0_0000 | UInt64(apicID) << 12 }

    /// The message data for fixed delivery, edge-triggered, of interrupt vector `vector` (SDM §11.11.2).
    public static func messageData(vector: UInt8) -> UInt32 { UInt32(vector) }

    /// The table inside the BAR window `bar` (the window of BAR `tableBAR`), checked to lie inside it.
    public func table<Window: RegisterWindow>(in bar: Window) throws(PCIError) -> RegisterWindowSlice<Window> {
        let length = UInt64(tableSize) * Self.entrySize
        guard let slice = RegisterWindowSlice(bar, offset: tableOffset, size: length) else {
            throw .outsideBAR(offset: tableOffset, length: length, barSize: bar.size)
        }
        return slice
    }

    /// Writes entry `index` of the table in `bar` (the window of BAR `tableBAR`): message address and data, and
    /// the vector-control mask bit (`masked: false` lets the entry fire).
    public func program<Window: RegisterWindow>(entry index: Int, in bar: Window, address: UInt64, data: UInt32,
                                                masked: Bool = false) throws(PCIError) {
        guard index >= 0, index < tableSize else { throw .vectorOutOfRange(index: index, tableSize: tableSize) }
        let t = try table(in: bar)
        let at = UInt64(index) * Self.entrySize
        t.write32(1, at: at + 12)  // mask while the entry is inconsistent
        t.write32(UInt32(truncatingIfNeeded: address), at: at)
        t.write32(UInt32(truncatingIfNeeded: address >> 32), at: at + 4)
        t.write32(data, at: at + 8)
        t.write32(masked ? 1 : 0, at: at + 12)
    }

    /// Programs entry `index` to raise `vector` on local APIC `apicID`, unmasked.
    public func route<Window: RegisterWindow>(entry index: Int, in bar: Window, apicID: UInt8,
                                              vector: UInt8) throws(PCIError) {
        try program(entry: index, in: bar, address: Self.messageAddress(apicID: apicID),
                    data: Self.messageData(vector: vector))
    }

    /// Sets or clears the MSI-X Enable bit (message control bit 15) and clears Function Mask (bit 14). With
    /// MSI-X enabled the function no longer signals INTx.
    public func setEnabled<Config: PCIConfigurationAccess>(_ enabled: Bool, config: Config) {
        let control = config.read16(address, offset: capabilityOffset + 2)
        let updated = enabled ? (control | 0x8000) & ~0x4000 : control & ~0x8000
        config.write16(address, offset: capabilityOffset + 2, updated)
    }

    /// Whether MSI-X is currently enabled for the function.
    public func isEnabled<Config: PCIConfigurationAccess>(config: Config) -> Bool {
        config.read16(address, offset: capabilityOffset + 2) & 0x8000 != 0
    }
}
