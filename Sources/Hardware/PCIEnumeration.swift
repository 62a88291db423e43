import Interfaces

/// What enumeration learned about one PCI function from its configuration header.
public struct PCIFunction: Hashable, Sendable, CustomStringConvertible {
    /// Where the function lives.
    public var address: PCIAddress
    /// Vendor ID (0x1AF4 for virtio).
    public var vendorID: UInt16
    /// Device ID.
    public var deviceID: UInt16
    /// Base class code (e.g. 0x02 network, 0x01 storage, 0x06 bridge).
    public var classCode: UInt8
    /// Subclass code.
    public var subclass: UInt8
    /// Programming interface.
    public var progIF: UInt8
    /// Revision ID.
    public var revision: UInt8
    /// Header type without the multi-function bit: 0 device, 1 PCI-to-PCI bridge, 2 CardBus bridge.
    public var headerType: UInt8
    /// Whether function 0 of this device announced more functions (header type bit 7).
    public var isMultiFunction: Bool
    /// Subsystem vendor ID (type 0 headers; 0 otherwise).
    public var subsystemVendorID: UInt16
    /// Subsystem ID (type 0 headers; 0 otherwise). Legacy virtio-pci devices put their device type here.
    public var subsystemID: UInt16
    /// Interrupt line: the legacy (8259/IO-APIC) input firmware routed INTx to; 0xFF means unknown.
    public var interruptLine: UInt8
    /// Interrupt pin: 0 none, 1 INTA# ... 4 INTD#.
    public var interruptPin: UInt8
    /// For PCI-to-PCI bridges, the secondary bus number; nil otherwise.
    public var secondaryBus: UInt8?

    /// Reads the header of the function at `address`, or nil if no function answers there (vendor 0xFFFF).
    public init?<Config: PCIConfigurationAccess>(config: Config, address: PCIAddress) {
        let ids = config.read32(address, offset: PCIConfigRegister.vendorID)
        let vendor = UInt16(truncatingIfNeeded: ids)
        guard vendor != 0xFFFF, vendor != 0 else { return nil }
        self.address = address
        vendorID = vendor
        deviceID = UInt16(truncatingIfNeeded: ids >> 16)
        let classWord = config.read32(address, offset: PCIConfigRegister.revision)
        revision = UInt8(truncatingIfNeeded: classWord)
        progIF = UInt8(truncatingIfNeeded: classWord >> 8)
        subclass = UInt8(truncatingIfNeeded: classWord >> 16)
        classCode = UInt8(truncatingIfNeeded: classWord >> 24)
        let header = config.read8(address, offset: PCIConfigRegister.headerType)
        headerType = header & 0x7F
        isMultiFunction = header & 0x80 != 0
        if headerType == 0 {
            let subsystem = config.read32(address, offset: PCIConfigRegister.subsystemVendorID)
            subsystemVendorID = UInt16(truncatingIfNeeded: subsystem)
            subsystemID = UInt16(truncatingIfNeeded: subsystem >> 16)
        } else {
            subsystemVendorID = 0
            subsystemID = 0
        }
        let interrupt = config.read32(address, offset: PCIConfigRegister.interruptLine)
        interruptLine = UInt8(truncatingIfNeeded: interrupt)
        interruptPin = UInt8(truncatingIfNeeded: interrupt >> 8)
        secondaryBus = headerType == 1 ? config.read8(address, offset: PCIConfigRegister.secondaryBus) : nil
    }

    /// Whether this is a PCI-to-PCI bridge (class 0x06, subclass 0x04, header type 1).
    public var isPCIBridge: Bool { headerType == 1 && classCode == 0x06 && (subclass == 0x04 || subclass == 0x09) }

    /// Number of BARs the header type has: 6 for devices, 2 for PCI-to-PCI bridges, 0 otherwise.
    public var barCount: Int { headerType == 0 ? 6 : (headerType == 1 ? 2 : 0) }

    /// `bb:dd.f vvvv:dddd class cc.ss`.
    public var description: String {
        var text = address.description + " "
        PCIAddress.appendHex(UInt32(vendorID), digits: 4, to: &text)
        text += ":"
        PCIAddress.appendHex(UInt32(deviceID), digits: 4, to: &text)
        text += " class "
        PCIAddress.appendHex(UInt32(classCode), digits: 2, to: &text)
        text += "."
        PCIAddress.appendHex(UInt32(subclass), digits: 2, to: &text)
        return text
    }
}

/// Finding the functions on the PCI buses.
public enum PCIEnumerator {
    /// How to find buses.
    public enum Strategy: Sendable {
        /// Probe every device on every bus 0-255 (8,192 probes; finds functions behind any bridge).
        case bruteForce
        /// Probe bus 0 (and buses 1-7 when the host bridge at 00:00.0 is multi-function: one host controller per
        /// function), then the secondary bus of each PCI-to-PCI bridge found, each bus at most once.
        case followBridges
    }

    /// All functions, sorted by address. Function 0 of each device is probed first; functions 1-7 only when it
    /// is multi-function. With `.followBridges` a bridge whose secondary bus was already scanned (a loop, or a
    /// misprogrammed bus number) is not followed again, so enumeration always terminates.
    public static func enumerate<Config: PCIConfigurationAccess>(
        _ config: Config, strategy: Strategy = .followBridges
    ) -> [PCIFunction] {
        var found: [PCIFunction] = []
        switch strategy {
        case .bruteForce:
            var ignored: [UInt8] = []
            for bus in 0...255 { scan(bus: UInt8(bus), config, into: &found, bridges: &ignored) }
        case .followBridges:
            var scanned = [Bool](repeating: false, count: 256)
            var pending: [UInt8] = [0]
            if let host = PCIFunction(config: config, address: PCIAddress(bus: 0, device: 0, function: 0)),
               host.isMultiFunction {
                for f in 1...7 where PCIFunction(config: config, address: PCIAddress(bus: 0, device: 0, function: UInt8(f))) != nil {
                    pending.append(UInt8(f))
                }
            }
            while let bus = pending.popLast() {
                if scanned[Int(bus)] { continue }
                scanned[Int(bus)] = true
                var bridges: [UInt8] = []
                scan(bus: bus, config, into: &found, bridges: &bridges)
                for b in bridges where !scanned[Int(b)] { pending.append(b) }
            }
        }
        found.insertionSort { $0.address < $1.address }  // a few dozen functions at most
        return found
    }

    /// Probes the 32 devices of `bus`, appending functions to `found` and bridges' secondary buses to `bridges`.
    private static func scan<Config: PCIConfigurationAccess>(
        bus: UInt8, _ config: Config, into found: inout [PCIFunction], bridges: inout [UInt8]
    ) {
        for device in 0..<32 {
            guard let f0 = PCIFunction(config: config, address: PCIAddress(bus: bus, device: UInt8(device), function: 0))
            else { continue }
            record(f0, &found, &bridges)
            guard f0.isMultiFunction else { continue }
            for function in 1..<8 {
                if let f = PCIFunction(config: config,
                                       address: PCIAddress(bus: bus, device: UInt8(device), function: UInt8(function))) {
                    record(f, &found, &bridges)
                }
            }
        }
    }

    private static func record(_ f: PCIFunction, _ found: inout [PCIFunction], _ bridges: inout [UInt8]) {
        found.append(f)
        if f.isPCIBridge, let secondary = f.secondaryBus, secondary != 0 { bridges.append(secondary) }
    }
}
