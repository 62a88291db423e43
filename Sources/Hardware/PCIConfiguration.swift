/// The location of one PCI function: bus 0-255, device 0-31, function 0-7.
public struct PCIAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Bus number.
    public let bus: UInt8
    /// Device (slot) number, 0...31.
    public let device: UInt8
    /// Function number, 0...7.
    public let function: UInt8

    /// Names function `function` of device `device` on bus `bus`; `device` and `function` are masked to 5 and 3
    /// bits.
    public init(bus: UInt8, device: UInt8, function: UInt8) {
        self.bus = bus
        self.device = device & 0x1F
        self.function = function & 0x07
    }

    /// `bus << 8 | device << 3 | function`: the routing ID the PCI specification uses.
    public var routingID: UInt16 { UInt16(bus) << 8 | UInt16(device) << 3 | UInt16(function) }

    /// Orders addresses by routing ID (bus, then device, then function).
    public static func < (a: PCIAddress, b: PCIAddress) -> Bool { a.routingID < b.routingID }

    /// `bb:dd.f` in hexadecimal, as `lspci` prints it.
    public var description: String {
        var text = ""
        PCIAddress.appendHex(UInt32(bus), digits: 2, to: &text)
        text += ":"
        PCIAddress.appendHex(UInt32(device), digits: 2, to: &text)
        text += "."
        PCIAddress.appendHex(UInt32(function), digits: 1, to: &text)
        return text
    }

    static func appendHex(_ value: UInt32, digits: Int, to text: inout String) {
        var shift = (digits - 1) * 4
        while shift >= 0 {
            let nibble = UInt8((value >> UInt32(shift)) & 0xF)
            text.unicodeScalars.append(Unicode.Scalar(nibble < 10 ? 0x30 + nibble : 0x57 + nibble))
            shift -= 4
        }
    }
}

/// Access to PCI configuration space (PCI Local Bus Specification 3.0 §6.1).
///
/// The guest uses `PortIOPCIConfiguration` (configuration mechanism #1, ports 0xCF8/0xCFC) or
/// `ECAMPCIConfiguration` (PCI Express enhanced configuration access); host tests implement it over a simulated
/// configuration space. Offsets are byte offsets into the function's 256-byte (or 4 KiB for ECAM) space; values
/// are little-endian. A function that does not exist reads as all ones.
///
/// Only `read32` and `write32` are required. The default narrower accessors read the containing dword; the
/// default narrower *writes* read-modify-write the containing dword, which also writes back the neighbouring
/// bytes (harmful for write-one-to-clear registers such as the status register), so implementations that can do
/// narrow writes should provide them.
public protocol PCIConfigurationAccess {
    /// Reads the dword at `offset & ~3`.
    func read32(_ address: PCIAddress, offset: UInt16) -> UInt32
    /// Writes the dword at `offset & ~3`.
    func write32(_ address: PCIAddress, offset: UInt16, _ value: UInt32)
    /// Reads the word at `offset` (which must be 2-byte aligned).
    func read16(_ address: PCIAddress, offset: UInt16) -> UInt16
    /// Reads the byte at `offset`.
    func read8(_ address: PCIAddress, offset: UInt16) -> UInt8
    /// Writes the word at `offset` (which must be 2-byte aligned).
    func write16(_ address: PCIAddress, offset: UInt16, _ value: UInt16)
    /// Writes the byte at `offset`.
    func write8(_ address: PCIAddress, offset: UInt16, _ value: UInt8)
}

extension PCIConfigurationAccess {
    /// See `PCIConfigurationAccess`.
    public func read16(_ address: PCIAddress, offset: UInt16) -> UInt16 {
        UInt16(truncatingIfNeeded: read32(address, offset: offset & ~3) >> (UInt32(offset & 2) * 8))
    }

    /// See `PCIConfigurationAccess`.
    public func read8(_ address: PCIAddress, offset: UInt16) -> UInt8 {
        UInt8(truncatingIfNeeded: read32(address, offset: offset & ~3) >> (UInt32(offset & 3) * 8))
    }

    /// See `PCIConfigurationAccess`.
    public func write16(_ address: PCIAddress, offset: UInt16, _ value: UInt16) {
        let shift = UInt32(offset & 2) * 8
        let old = read32(address, offset: offset & ~3)
        write32(address, offset: offset & ~3, (old & ~(0xFFFF << shift)) | UInt32(value) << shift)
    }

    /// See `PCIConfigurationAccess`.
    public func write8(_ address: PCIAddress, offset: UInt16, _ value: UInt8) {
        let shift = UInt32(offset & 3) * 8
        let old = read32(address, offset: offset & ~3)
        write32(address, offset: offset & ~3, (old & ~(0xFF << shift)) | UInt32(value) << shift)
    }
}

/// PCI configuration mechanism #1: an address dword written to port 0xCF8, data at ports 0xCFC-0xCFF (PCI Local
/// Bus Specification 3.0 §3.2.2.3.2). Covers the first 256 bytes of each function. Guest only.
///
/// The address/data pair is not atomic: callers serialize accesses (device discovery runs once, at boot, before
/// other threads exist). Offsets at or above 256 read as all ones and writes to them are dropped.
public struct PortIOPCIConfiguration: PCIConfigurationAccess, Sendable {
    private static let addressPort = IOPort(0xCF8)
    private static let dataPort = IOPort(0xCFC)

    /// The mechanism; it has no state.
    public init() {}

    @inline(__always) private func select(_ address: PCIAddress, _ offset: UInt16) {
        Self.addressPort.write32(0x8000_0000 | UInt32(address.routingID) << 8 | UInt32(offset & 0xFC))
    }

    /// See `PCIConfigurationAccess`.
    public func read32(_ address: PCIAddress, offset: UInt16) -> UInt32 {
        guard offset < 256 else { return 0xFFFF_FFFF }
        select(address, offset)
        return Self.dataPort.read32()
    }

    /// See `PCIConfigurationAccess`.
    public func write32(_ address: PCIAddress, offset: UInt16, _ value: UInt32) {
        guard offset < 256 else { return }
        select(address, offset)
        Self.dataPort.write32(value)
    }

    /// See `PCIConfigurationAccess`.
    public func read16(_ address: PCIAddress, offset: UInt16) -> UInt16 {
        guard offset < 256 else { return 0xFFFF }
        select(address, offset)
        return Self.dataPort.advanced(by: offset & 2).read16()
    }

    /// See `PCIConfigurationAccess`.
    public func read8(_ address: PCIAddress, offset: UInt16) -> UInt8 {
        guard offset < 256 else { return 0xFF }
        select(address, offset)
        return Self.dataPort.advanced(by: offset & 3).read8()
    }

    /// See `PCIConfigurationAccess`.
    public func write16(_ address: PCIAddress, offset: UInt16, _ value: UInt16) {
        guard offset < 256 else { return }
        select(address, offset)
        Self.dataPort.advanced(by: offset & 2).write16(value)
    }

    /// See `PCIConfigurationAccess`.
    public func write8(_ address: PCIAddress, offset: UInt16, _ value: UInt8) {
        guard offset < 256 else { return }
        select(address, offset)
        Self.dataPort.advanced(by: offset & 3).write8(value)
    }
}

/// PCI Express enhanced configuration access (ECAM): each function's 4 KiB configuration space is memory-mapped
/// at `base + (bus << 20 | device << 15 | function << 12)` (PCI Express Base Specification §7.2.2). The base and
/// bus range come from the ACPI MCFG table; the window must be mapped.
public struct ECAMPCIConfiguration: PCIConfigurationAccess, Sendable {
    /// The mapped ECAM window; it starts at bus `startBus`.
    public let region: MMIORegion
    /// The first bus the window decodes.
    public let startBus: UInt8

    /// Uses `region` (which covers buses `startBus...`) for configuration accesses.
    public init(region: MMIORegion, startBus: UInt8 = 0) {
        self.region = region
        self.startBus = startBus
    }

    @inline(__always) private func offset(_ address: PCIAddress, _ offset: UInt16, _ width: UInt64) -> UInt64? {
        guard address.bus >= startBus, offset < 4096 else { return nil }
        let o = UInt64(address.bus - startBus) << 20 | UInt64(address.device) << 15 | UInt64(address.function) << 12
            | UInt64(offset)
        return o <= region.size && width <= region.size - o ? o : nil
    }

    /// See `PCIConfigurationAccess`.
    public func read32(_ address: PCIAddress, offset o: UInt16) -> UInt32 {
        guard let at = offset(address, o & ~3, 4) else { return 0xFFFF_FFFF }
        return region.read32(at: at)
    }

    /// See `PCIConfigurationAccess`.
    public func write32(_ address: PCIAddress, offset o: UInt16, _ value: UInt32) {
        if let at = offset(address, o & ~3, 4) { region.write32(value, at: at) }
    }

    /// See `PCIConfigurationAccess`.
    public func read16(_ address: PCIAddress, offset o: UInt16) -> UInt16 {
        guard let at = offset(address, o & ~1, 2) else { return 0xFFFF }
        return region.read16(at: at)
    }

    /// See `PCIConfigurationAccess`.
    public func read8(_ address: PCIAddress, offset o: UInt16) -> UInt8 {
        guard let at = offset(address, o, 1) else { return 0xFF }
        return region.read8(at: at)
    }

    /// See `PCIConfigurationAccess`.
    public func write16(_ address: PCIAddress, offset o: UInt16, _ value: UInt16) {
        if let at = offset(address, o & ~1, 2) { region.write16(value, at: at) }
    }

    /// See `PCIConfigurationAccess`.
    public func write8(_ address: PCIAddress, offset o: UInt16, _ value: UInt8) {
        if let at = offset(address, o, 1) { region.write8(value, at: at) }
    }
}

/// Offsets and bits of the PCI configuration header (PCI Local Bus Specification 3.0 §6.2).
public enum PCIConfigRegister {
    /// Vendor ID (16 bits); 0xFFFF means no function.
    public static let vendorID: UInt16 = 0x00
    /// Device ID (16 bits).
    public static let deviceID: UInt16 = 0x02
    /// Command register (16 bits).
    public static let command: UInt16 = 0x04
    /// Status register (16 bits).
    public static let status: UInt16 = 0x06
    /// Revision ID (8 bits).
    public static let revision: UInt16 = 0x08
    /// Programming interface (8 bits).
    public static let progIF: UInt16 = 0x09
    /// Subclass code (8 bits).
    public static let subclass: UInt16 = 0x0A
    /// Base class code (8 bits).
    public static let classCode: UInt16 = 0x0B
    /// Header type (8 bits); bit 7 marks a multi-function device.
    public static let headerType: UInt16 = 0x0E
    /// BAR 0 (type 0 headers have six BARs at 0x10-0x24; type 1 headers two).
    public static let bar0: UInt16 = 0x10
    /// Type 1 header: secondary bus number (8 bits).
    public static let secondaryBus: UInt16 = 0x19
    /// Type 1 header: subordinate bus number (8 bits).
    public static let subordinateBus: UInt16 = 0x1A
    /// Type 0 header: subsystem vendor ID (16 bits).
    public static let subsystemVendorID: UInt16 = 0x2C
    /// Type 0 header: subsystem ID (16 bits).
    public static let subsystemID: UInt16 = 0x2E
    /// Capabilities pointer (8 bits, low two bits reserved).
    public static let capabilitiesPointer: UInt16 = 0x34
    /// Interrupt line (8 bits): the legacy IRQ firmware routed INTx to.
    public static let interruptLine: UInt16 = 0x3C
    /// Interrupt pin (8 bits): 0 none, 1-4 INTA#-INTD#.
    public static let interruptPin: UInt16 = 0x3D

    /// Command bit 0: respond to I/O space accesses.
    public static let commandIOSpace: UInt16 = 1 << 0
    /// Command bit 1: respond to memory space accesses.
    public static let commandMemorySpace: UInt16 = 1 << 1
    /// Command bit 2: bus master (the device may DMA).
    public static let commandBusMaster: UInt16 = 1 << 2
    /// Command bit 10: INTx emulation disabled.
    public static let commandInterruptDisable: UInt16 = 1 << 10
    /// Status bit 4: the capability list exists.
    public static let statusCapabilitiesList: UInt16 = 1 << 4
}
