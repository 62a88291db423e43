import Hardware
import Interfaces
import Testing
import Virtio

@Suite("PCI")
struct PCITests {
    /// A bus like QEMU q35 with a bridge: host bridge 00:00.0, a multi-function device at 00:01 (functions 0, 1,
    /// 3), a single-function device at 00:02 whose functions 1-7 also answer (a device that decodes the function
    /// bits badly: they must be ignored), a PCI-to-PCI bridge 00:1e.0 to bus 1 holding 01:05.0, and a bridge on
    /// bus 1 that points back at bus 0 (a loop).
    func makeBus() -> SimPCIBus {
        let bus = SimPCIBus()
        bus.add(PCIAddress(bus: 0, device: 0, function: 0), vendor: 0x8086, device: 0x29C0, classCode: 0x06, subclass: 0x00)
        bus.add(PCIAddress(bus: 0, device: 1, function: 0), vendor: 0x8086, device: 0x1111, classCode: 0x03, subclass: 0,
                multifunction: true)
        bus.add(PCIAddress(bus: 0, device: 1, function: 1), vendor: 0x8086, device: 0x1112, classCode: 0x04, subclass: 0)
        bus.add(PCIAddress(bus: 0, device: 1, function: 3), vendor: 0x8086, device: 0x1113, classCode: 0x0C, subclass: 0)
        for f in 0..<8 {
            bus.add(PCIAddress(bus: 0, device: 2, function: UInt8(f)), vendor: 0x1AF4, device: 0x1041, classCode: 0x02,
                    subclass: 0)
        }
        let bridge = bus.add(PCIAddress(bus: 0, device: 0x1E, function: 0), vendor: 0x8086, device: 0x244E,
                             classCode: 0x06, subclass: 0x04, headerType: 1)
        bridge.set8(0x19, 1)
        bus.add(PCIAddress(bus: 1, device: 5, function: 0), vendor: 0x1AF4, device: 0x1042, classCode: 0x01, subclass: 0)
        let loop = bus.add(PCIAddress(bus: 1, device: 7, function: 0), vendor: 0x8086, device: 0x244E,
                           classCode: 0x06, subclass: 0x04, headerType: 1)
        loop.set8(0x19, 0)  // secondary bus 0: ignored
        let loop2 = bus.add(PCIAddress(bus: 1, device: 8, function: 0), vendor: 0x8086, device: 0x244E,
                            classCode: 0x06, subclass: 0x04, headerType: 1)
        loop2.set8(0x19, 1)  // points at its own bus: already scanned
        return bus
    }

    @Test("enumeration follows bridges, honours the multi-function bit, and terminates on bridge loops")
    func enumerationFollowsBridges() {
        let bus = makeBus()
        let found = PCIEnumerator.enumerate(bus, strategy: .followBridges).map(\.address.description)
        #expect(found == ["00:00.0", "00:01.0", "00:01.1", "00:01.3", "00:02.0", "00:1e.0", "01:05.0", "01:07.0", "01:08.0"])
    }

    @Test("brute-force enumeration finds the same functions")
    func bruteForceMatches() {
        let bus = makeBus()
        let brute = PCIEnumerator.enumerate(bus, strategy: .bruteForce).map(\.address)
        let bridged = PCIEnumerator.enumerate(bus, strategy: .followBridges).map(\.address)
        #expect(brute == bridged)
    }

    @Test("function header fields, virtio device types and INTx routing")
    func headerFields() throws {
        let bus = makeBus()
        let f = try #require(PCIFunction(config: bus, address: PCIAddress(bus: 1, device: 5, function: 0)))
        #expect(f.vendorID == 0x1AF4 && f.deviceID == 0x1042 && f.classCode == 0x01)
        #expect(VirtioPCI.deviceType(of: f) == .block)
        let (device, _) = makeNetDevice(.pciLegacy)
        let rig = try makeRig(.pciLegacy, device: device)
        let legacy = try #require(PCIFunction(config: rig.bus!, address: PCIAddress(bus: 0, device: 3, function: 0)))
        #expect(legacy.deviceID == 0x1000 && VirtioPCI.deviceType(of: legacy) == .network)
        #expect(legacy.interruptLine == 11 && legacy.interruptPin == 1)
        #expect(PCIFunction(config: bus, address: PCIAddress(bus: 9, device: 0, function: 0)) == nil)
    }

    @Test("BAR decoding: I/O, 32-bit, 64-bit prefetchable, unimplemented, malformed")
    func barDecoding() {
        #expect(PCIBAR.decode(original: 0xC041, probe: 0xFFFF_FFC1) == .io(base: 0xC040, size: 0x40))
        // I/O BAR with the upper 16 bits hardwired to zero
        #expect(PCIBAR.decode(original: 0xC001, probe: 0x0000_FFE1) == .io(base: 0xC000, size: 0x20))
        #expect(PCIBAR.decode(original: 0xFEBD_1000, probe: 0xFFFF_F000)
            == .memory(base: 0xFEBD_1000, size: 0x1000, is64Bit: false, prefetchable: false))
        #expect(PCIBAR.decode(original: 0x0000_000C, probe: 0xFFFF_C00C, upperOriginal: 0x8, upperProbe: 0xFFFF_FFFF)
            == .memory(base: 0x8_0000_0000, size: 0x4000, is64Bit: true, prefetchable: true))
        // A 64-bit BAR larger than 4 GiB
        #expect(PCIBAR.decode(original: 0x4, probe: 0x4, upperOriginal: 0x10, upperProbe: 0xFFFF_FFF0)
            == .memory(base: 0x10_0000_0000, size: 0x10_0000_0000, is64Bit: true, prefetchable: false))
        #expect(PCIBAR.decode(original: 0, probe: 0) == nil)
        #expect(PCIBAR.decode(original: 0x4, probe: 0xFFFF_F004) == nil)  // 64-bit without its upper half
        #expect(PCIBAR.decode(original: 0x0, probe: 0xFF0F_F000) == nil)  // mask with a hole
        #expect(PCIBAR.decode(original: 0x6, probe: 0xFFFF_F006) == nil)  // reserved type 3
    }

    @Test("BAR probing sizes every BAR, restores the original values and the command register")
    func barProbing() throws {
        let bus = SimPCIBus()
        let address = PCIAddress(bus: 0, device: 4, function: 0)
        let f = bus.add(address, vendor: 0x1234, device: 0x5678, classCode: 0x02, subclass: 0)
        bus.setBAR(f, 0, .init(kind: .io, size: 0x20), base: 0xC020)
        bus.setBAR(f, 1, .init(kind: .memory32, size: 0x1000), base: 0xFEB0_0000)
        bus.setBAR(f, 2, .init(kind: .memory64, size: 0x4000, prefetchable: true), base: 0x8_0000_4000)
        bus.setBAR(f, 5, .init(kind: .memory64, size: 0x1000), base: 0x1000)  // malformed: no room for the upper half
        f.set16(0x04, 0x0007)
        let before = f.bytes
        let bars = PCIBAR.probeAll(bus, function: try #require(PCIFunction(config: bus, address: address)))
        #expect(bars.count == 6)
        #expect(bars[0] == .io(base: 0xC020, size: 0x20))
        #expect(bars[1] == .memory(base: 0xFEB0_0000, size: 0x1000, is64Bit: false, prefetchable: false))
        #expect(bars[2] == .memory(base: 0x8_0000_4000, size: 0x4000, is64Bit: true, prefetchable: true))
        #expect(bars[3] == nil && bars[4] == nil && bars[5] == nil)
        #expect(f.bytes == before)
        #expect(bars[2]!.description == "mem64 0x800004000 size 0x4000 pref")
    }

    @Test("capability walk stops at loops, pointers into the header, and the entry limit")
    func capabilityWalk() {
        let bus = SimPCIBus()
        let address = PCIAddress(bus: 0, device: 5, function: 0)
        let f = bus.add(address, vendor: 0x1234, device: 1, classCode: 0, subclass: 0)
        bus.setCapabilities(f, [(0x40, 0x09, []), (0x50, 0x11, []), (0x60, 0x05, [])])
        #expect(PCICapabilities.list(bus, address: address).map(\.offset) == [0x40, 0x50, 0x60])
        #expect(PCICapabilities.find(bus, address: address, id: 0x11)?.offset == 0x50)
        // A loop: 0x60 points back at 0x40.
        f.set8(0x61, 0x40)
        #expect(PCICapabilities.list(bus, address: address).map(\.offset) == [0x40, 0x50, 0x60])
        // A self-loop with unaligned low bits (masked off).
        f.set8(0x41, 0x43)
        #expect(PCICapabilities.list(bus, address: address).map(\.offset) == [0x40])
        // A pointer into the standard header ends the walk.
        f.set8(0x41, 0x10)
        #expect(PCICapabilities.list(bus, address: address).map(\.offset) == [0x40])
        // A chain through every dword 0x40...0xFC is cut at 48 entries.
        for o in stride(from: 0x40, through: 0xFC, by: 4) {
            f.set8(o, 0x09)
            f.set8(o + 1, UInt8(o == 0xFC ? 0x40 : o + 4))
        }
        #expect(PCICapabilities.list(bus, address: address).count == PCICapabilities.maximumCount)
        // No capability list announced in the status register.
        f.set16(0x06, 0)
        #expect(PCICapabilities.list(bus, address: address).isEmpty)
        #expect(PCICapabilities.list(bus, address: PCIAddress(bus: 3, device: 0, function: 0)).isEmpty)
    }

    @Test("MSI-X: capability parsing, table programming for the local APIC, enable bit")
    func msix() throws {
        let (device, _) = makeNetDevice(.pciModern)
        let rig = try makeRig(.pciModern, device: device)
        let bus = try #require(rig.bus)
        let address = PCIAddress(bus: 0, device: 3, function: 0)
        let msix = try PCIMSIX.parse(bus, address: address)
        #expect(msix.tableSize == 4 && msix.tableBAR == 4 && msix.tableOffset == 0x8000)
        #expect(msix.pendingBitArrayBAR == 4 && msix.pendingBitArrayOffset == 0x9000)
        let window = try #require(rig.pciWindow)
        try msix.route(entry: 2, in: window, apicID: 3, vector: 0x41)
        let entry = Array(window.msixTable[32..<48])
        #expect(entry == le32(0xFEE0_3000) + le32(0) + le32(0x41) + le32(0))
        #expect(PCIMSIX.messageAddress(apicID: 0) == 0xFEE0_0000)
        #expect(throws: PCIError.vectorOutOfRange(index: 4, tableSize: 4)) {
            try msix.route(entry: 4, in: window, apicID: 0, vector: 0x40)
        }
        #expect(!msix.isEnabled(config: bus))
        msix.setEnabled(true, config: bus)
        #expect(msix.isEnabled(config: bus))
        #expect(bus.read16(address, offset: msix.capabilityOffset + 2) == 0x8003)
        // A table that does not fit its BAR is refused.
        let small = SimPCIWindow(device: device, layout: .legacy(msix: false))
        #expect(throws: PCIError.outsideBAR(offset: 0x8000, length: 64, barSize: 0x40)) {
            try msix.route(entry: 0, in: small, apicID: 0, vector: 0x40)
        }
        #expect(throws: PCIError.capabilityMissing(id: 0x11)) {
            try PCIMSIX.parse(bus, address: PCIAddress(bus: 0, device: 9, function: 0))
        }
    }

    @Test("narrow configuration writes through the default read-modify-write keep neighbouring bytes")
    func narrowWrites() {
        let bus = SimPCIBus()
        let address = PCIAddress(bus: 0, device: 6, function: 0)
        let f = bus.add(address, vendor: 0x1234, device: 1, classCode: 0, subclass: 0)
        f.setDword(0x40, 0x1122_3344)
        bus.write8(address, offset: 0x41, 0xAA)
        bus.write16(address, offset: 0x42, 0xBBCC)
        #expect(bus.read32(address, offset: 0x40) == 0xBBCC_AA44)
        #expect(bus.read8(address, offset: 0x43) == 0xBB && bus.read16(address, offset: 0x40) == 0xAA44)
    }

    @Test("register window slices never reach outside their range")
    func windowSlices() {
        let (device, _) = makeNetDevice(.mmio2)
        let window = SimMMIOWindow(device: device, version: 2)
        #expect(RegisterWindowSlice(window, offset: 0x1F0, size: 0x20) == nil)
        let slice = RegisterWindowSlice(window, offset: 0x100, size: 4)!
        #expect(slice.read32(at: 0) == 0x1200_5452)  // first MAC bytes, little-endian
        #expect(slice.read32(at: 2) == 0xFFFF_FFFF)
        #expect(slice.read8(at: UInt64.max) == 0xFF)
        slice.write32(0, at: 4)
        #expect(window.outOfRangeAccesses == 0)
        #expect(IOPortWindow(base: 0xFFF0, size: 0x100).size == 0x10)
    }
}
