import Interfaces

/// Why ACPI tables could not be used.
public enum ACPIError: Error, Equatable, CustomStringConvertible {
    /// No RSDP at the given address or in the BIOS area.
    case noRSDP
    /// A table's checksum does not add up to zero.
    case badChecksum(signature: UInt32, address: UInt64)
    /// A table lies outside readable memory or is shorter than its own header says.
    case unreadable(address: UInt64)
    /// The table with this signature is absent.
    case missing(signature: UInt32)

    public var description: String {
        switch self {
        case .noRSDP: return "no ACPI RSDP found"
        case .badChecksum(let s, let a): return "ACPI table \(ACPI.signatureText(s)) at \(hex(a)) has a bad checksum"
        case .unreadable(let a): return "ACPI table at \(hex(a)) is unreadable"
        case .missing(let s): return "ACPI table \(ACPI.signatureText(s)) is missing"
        }
    }
}

/// What the MADT (Multiple APIC Description Table, ACPI 6.5 §5.2.12) says about interrupt routing.
public struct InterruptTopology: Equatable, Sendable {
    /// An I/O APIC: its MMIO base and the first global system interrupt it serves.
    public struct IOAPICEntry: Equatable, Sendable {
        public var id: UInt8
        public var address: UInt64
        public var gsiBase: UInt32
    }

    /// An ISA IRQ routed to a different GSI or with non-ISA polarity/trigger (§5.2.12.5).
    public struct Override: Equatable, Sendable {
        public var isaIRQ: UInt8
        public var gsi: UInt32
        /// Nil when the bus default applies (ISA: active high, edge).
        public var activeLow: Bool?
        public var levelTriggered: Bool?
    }

    /// The local APIC's physical address (0xFEE00000 on PCs).
    public var localAPICAddress: UInt64
    /// Whether dual 8259 PICs are present (MADT flag PCAT_COMPAT); they must then be masked.
    public var hasLegacyPICs: Bool
    /// Local APIC IDs of the enabled processors.
    public var processorAPICIDs: [UInt32]
    public var ioAPICs: [IOAPICEntry]
    public var overrides: [Override]

    /// The GSI and line properties for ISA IRQ `irq`, applying any override (ISA default: active high, edge).
    public func isaRoute(_ irq: UInt8) -> (gsi: UInt32, activeLow: Bool, levelTriggered: Bool) {
        if let o = overrides.first(where: { $0.isaIRQ == irq }) {
            return (o.gsi, o.activeLow ?? false, o.levelTriggered ?? false)
        }
        return (UInt32(irq), false, false)
    }
}

/// An MMIO device described in the DSDT by a fixed memory range and an interrupt (how QEMU `microvm` describes its
/// virtio-mmio slots: `Memory32Fixed` plus an extended `Interrupt` descriptor in `_CRS`).
public struct ACPIMMIODevice: Equatable, Sendable {
    public var base: UInt64
    public var length: UInt64
    public var gsi: UInt32
    public var activeLow: Bool
    public var levelTriggered: Bool
}

/// Reads the ACPI tables the kernel needs (ACPI 6.5 §5.2): the RSDP, the RSDT/XSDT, the MADT, and the device
/// resources in the DSDT. Every table is bounds-checked against the memory window and checksummed.
public struct ACPI {
    /// Physical addresses of the tables listed in the RSDT/XSDT, by signature.
    public private(set) var tables: [(signature: UInt32, address: UInt64)] = []
    let memory: PhysicalMemoryWindow

    /// A signature as a little-endian integer (`"APIC"` = 0x43495041).
    public static func signature(_ text: StaticString) -> UInt32 {
        text.withUTF8Buffer { b in UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24 }
    }

    /// The four characters of a signature.
    public static func signatureText(_ s: UInt32) -> String {
        var text = ""
        for shift in stride(from: 0, to: 32, by: 8) {
            let c = UInt8((s >> UInt32(shift)) & 0xff)
            text.unicodeScalars.append(Unicode.Scalar(c >= 0x20 && c < 0x7f ? c : 0x3f))
        }
        return text
    }

    private static func checksumIsZero(_ memory: PhysicalMemoryWindow, _ address: UInt64, _ length: UInt64) -> Bool {
        var sum: UInt8 = 0
        for i in 0..<length { sum &+= memory.load(UInt8.self, at: address + i) ?? 0 }
        return sum == 0
    }

    /// Finds the RSDP: at `hint` (from the PVH start info) if given, otherwise by scanning the BIOS read-only area
    /// 0xE0000-0xFFFFF on 16-byte boundaries (ACPI 6.5 §5.2.5.1).
    public static func findRSDP(hint: UInt64?, in memory: PhysicalMemoryWindow) -> UInt64? {
        func valid(_ a: UInt64) -> Bool {
            guard let sig = memory.load(UInt64.self, at: a), sig == 0x2052_5450_2044_5352 else { return false }  // "RSD PTR "
            return checksumIsZero(memory, a, 20)
        }
        if let hint, valid(hint) { return hint }
        var a: UInt64 = 0xE0000
        while a < 0x100000 {
            if valid(a) { return a }
            a += 16
        }
        return nil
    }

    /// Reads the table list from the RSDP at `rsdp`, preferring the XSDT (revision >= 2).
    public init(rsdp: UInt64, memory: PhysicalMemoryWindow) throws(ACPIError) {
        self.memory = memory
        guard memory.contains(rsdp, count: 20) else { throw .noRSDP }
        let revision = memory.load(UInt8.self, at: rsdp + 15)!
        var root = UInt64(memory.load(UInt32.self, at: rsdp + 16)!)
        var entrySize: UInt64 = 4
        if revision >= 2, let xsdt = memory.load(UInt64.self, at: rsdp + 24), xsdt != 0 {
            root = xsdt
            entrySize = 8
        }
        let length = try Self.validatedLength(memory, root)
        var offset: UInt64 = 36
        while offset + entrySize <= length {
            let address = entrySize == 8 ? memory.load(UInt64.self, at: root + offset)!
                : UInt64(memory.load(UInt32.self, at: root + offset)!)
            if let signature = memory.load(UInt32.self, at: address) { tables.append((signature, address)) }
            offset += entrySize
            if tables.count > 64 { break }
        }
    }

    /// The length of the table at `address` after checking that it is readable and checksums to zero.
    static func validatedLength(_ memory: PhysicalMemoryWindow, _ address: UInt64) throws(ACPIError) -> UInt64 {
        guard let length32 = memory.load(UInt32.self, at: address + 4), length32 >= 36, length32 <= 1 << 24,
              memory.contains(address, count: UInt64(length32)) else { throw .unreadable(address: address) }
        let length = UInt64(length32)
        guard checksumIsZero(memory, address, length) else {
            throw .badChecksum(signature: memory.load(UInt32.self, at: address) ?? 0, address: address)
        }
        return length
    }

    /// The address and validated length of the table with `signature`.
    public func table(_ signature: UInt32) throws(ACPIError) -> (address: UInt64, length: UInt64) {
        guard let entry = tables.first(where: { $0.signature == signature }) else { throw .missing(signature: signature) }
        return (entry.address, try Self.validatedLength(memory, entry.address))
    }

    /// Parses the MADT.
    public func interruptTopology() throws(ACPIError) -> InterruptTopology {
        let (madt, length) = try table(Self.signature("APIC"))
        var topology = InterruptTopology(
            localAPICAddress: UInt64(memory.load(UInt32.self, at: madt + 36)!),
            hasLegacyPICs: memory.load(UInt32.self, at: madt + 40)! & 1 != 0,
            processorAPICIDs: [], ioAPICs: [], overrides: [])
        var offset: UInt64 = 44
        while offset + 2 <= length {
            let type = memory.load(UInt8.self, at: madt + offset)!
            let entryLength = UInt64(memory.load(UInt8.self, at: madt + offset + 1)!)
            guard entryLength >= 2, offset + entryLength <= length else { break }
            let e = madt + offset
            switch type {
            case 0 where entryLength >= 8:  // processor local APIC
                if memory.load(UInt32.self, at: e + 4)! & 1 != 0 {
                    topology.processorAPICIDs.append(UInt32(memory.load(UInt8.self, at: e + 3)!))
                }
            case 1 where entryLength >= 12:  // I/O APIC
                topology.ioAPICs.append(.init(id: memory.load(UInt8.self, at: e + 2)!,
                                              address: UInt64(memory.load(UInt32.self, at: e + 4)!),
                                              gsiBase: memory.load(UInt32.self, at: e + 8)!))
            case 2 where entryLength >= 10:  // interrupt source override
                let flags = memory.load(UInt16.self, at: e + 8)!
                let polarity = flags & 3, trigger = (flags >> 2) & 3
                topology.overrides.append(.init(isaIRQ: memory.load(UInt8.self, at: e + 3)!,
                                                gsi: memory.load(UInt32.self, at: e + 4)!,
                                                activeLow: polarity == 3 ? true : polarity == 1 ? false : nil,
                                                levelTriggered: trigger == 3 ? true : trigger == 1 ? false : nil))
            case 5 where entryLength >= 12:  // local APIC address override
                topology.localAPICAddress = memory.load(UInt64.self, at: e + 4)!
            case 9 where entryLength >= 16:  // processor local x2APIC
                if memory.load(UInt32.self, at: e + 8)! & 1 != 0 {
                    topology.processorAPICIDs.append(memory.load(UInt32.self, at: e + 4)!)
                }
            default:
                break
            }
            offset += entryLength
        }
        return topology
    }

    /// The DSDT's address, from the FADT (X_DSDT when present, else DSDT).
    public func dsdtAddress() throws(ACPIError) -> UInt64 {
        let (fadt, length) = try table(Self.signature("FACP"))
        if length >= 148, let x = memory.load(UInt64.self, at: fadt + 140), x != 0 { return x }
        return UInt64(memory.load(UInt32.self, at: fadt + 40)!)
    }

    /// Devices described in the DSDT by a `Memory32Fixed` resource followed by an extended `Interrupt` resource
    /// (ACPI 6.5 §6.4.3.4 and §6.4.3.6). The AML is not interpreted: resource templates are located by their
    /// descriptor encodings, which is enough for the static `_CRS` buffers virtual machines emit.
    public func mmioDevices() throws(ACPIError) -> [ACPIMMIODevice] {
        let dsdt = try dsdtAddress()
        let length = try Self.validatedLength(memory, dsdt)
        var devices: [ACPIMMIODevice] = []
        var i: UInt64 = 36
        while i + 12 + 9 <= length {
            let a = dsdt + i
            // Memory32Fixed: 0x86, length 9 (u16), information, base u32, length u32.
            guard memory.load(UInt8.self, at: a) == 0x86, memory.load(UInt16.self, at: a + 1) == 9 else { i += 1; continue }
            let base = UInt64(memory.load(UInt32.self, at: a + 4)!)
            let size = UInt64(memory.load(UInt32.self, at: a + 8)!)
            let next = a + 12
            // Extended Interrupt: 0x89, length (u16) >= 6, flags, count, then `count` u32 interrupt numbers.
            if i + 12 + 9 <= length, memory.load(UInt8.self, at: next) == 0x89,
               let descriptorLength = memory.load(UInt16.self, at: next + 1), descriptorLength >= 6,
               let flags = memory.load(UInt8.self, at: next + 3), let count = memory.load(UInt8.self, at: next + 4),
               count >= 1, let gsi = memory.load(UInt32.self, at: next + 5) {
                devices.append(ACPIMMIODevice(base: base, length: size, gsi: gsi, activeLow: flags & 0x04 != 0,
                                              levelTriggered: flags & 0x02 == 0))
            }
            i += 12
        }
        return devices
    }
}
