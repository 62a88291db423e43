import Hardware
import Interfaces
import Testing
import Virtio
import VirtioBlk
import VirtioNet

@Suite("Transports")
struct TransportTests {
    @Test("initialization handshake and queue setup on every transport", arguments: TransportKind.allCases)
    func handshake(kind: TransportKind) throws {
        let (device, _) = makeNetDevice(kind, features: NetBits.mac | NetBits.status | eventIndexBit | (1 << 22))
        let rig = try makeRig(kind, device: device)
        #expect(rig.transport.deviceType == .network)
        #expect(rig.transport.isLegacy == kind.isLegacy)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        // ACKNOWLEDGE | DRIVER | DRIVER_OK, plus FEATURES_OK on modern transports.
        #expect(device.status == (kind.isLegacy ? 0x07 : 0x0F))
        var expected = NetBits.mac | NetBits.status | eventIndexBit  // bit 22 is not supported by the driver
        if kind.isLegacy { expected |= anyLayoutBit } else { expected |= version1 }
        #expect(device.driverFeatures == expected)
        #expect(net.features.rawValue == expected)
        for (i, queue) in [net.receiveQueue, net.transmitQueue].enumerated() {
            let q = device.queues[i]
            #expect(q.ready)
            #expect(q.size == queue.size)
            #expect(q.descriptorTable == queue.addresses.descriptorTable)
            #expect(q.driverArea == queue.addresses.driverArea)
            #expect(q.deviceArea == queue.addresses.deviceArea)
        }
        #expect(rig.transport.kind.description == kind.description)
        #expect(rig.outOfRangeAccesses() == 0)
        withExtendedLifetime(net) {}
    }

    @Test("a device that clears FEATURES_OK is marked FAILED", arguments: [TransportKind.mmio2, .pciModern])
    func featuresRejected(kind: TransportKind) throws {
        let (device, _) = makeBlkDevice(kind)
        device.rejectFeatures = true
        let rig = try makeRig(kind, device: device)
        #expect(throws: VirtioError.self) { try VirtioBlk(transport: rig.transport, memory: rig.memory) }
        #expect(device.status & 0x80 != 0)
        #expect(device.status & 0x08 == 0)
    }

    @Test("a modern device must offer VERSION_1", arguments: [TransportKind.mmio2, .pciModern])
    func version1Required(kind: TransportKind) throws {
        let (device, _) = makeBlkDevice(kind)
        device.offeredFeatures &= ~version1
        let rig = try makeRig(kind, device: device)
        #expect(throws: VirtioError.missingFeatures(.version1)) {
            try VirtioSetup.negotiate(rig.transport, expecting: .block, supported: [])
        }
        #expect(device.status & 0x80 != 0)
    }

    @Test("required features, the expected device type and absent queues are checked")
    func negotiationErrors() throws {
        let (device, _) = makeNetDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        #expect(throws: VirtioError.wrongDeviceType(expected: .block, found: .network)) {
            try VirtioBlk(transport: rig.transport, memory: rig.memory)
        }
        #expect(throws: VirtioError.missingFeatures(.bit(7))) {
            try VirtioSetup.negotiate(rig.transport, expecting: nil, supported: [.bit(7)], required: [.bit(7)])
        }
        let single = SimVirtioDevice(type: 1, features: version1 | NetBits.mac, config: [0x52, 0, 0, 0, 0, 1, 0, 0],
                                     queueSizes: [64])
        single.attach(SimNetModel())
        let rig2 = try makeRig(.pciModern, device: single)
        #expect(throws: VirtioError.queueUnavailable(1)) { try VirtioNet(transport: rig2.transport, memory: rig2.memory) }
        #expect(rig2.memory.liveAllocations == 0)
    }

    @Test("a notification offset outside the notify structure is refused")
    func badNotifyOffset() throws {
        let (device, _) = makeBlkDevice(.pciModern)
        device.notifyOffsetOverride = 0x7FFF
        let rig = try makeRig(.pciModern, device: device)
        #expect(throws: VirtioError.badQueueConfiguration(0)) { try VirtioBlk(transport: rig.transport, memory: rig.memory) }
        #expect(rig.outOfRangeAccesses() == 0)
    }

    @Test("a reset that never completes times out")
    func resetTimeout() throws {
        let (device, _) = makeBlkDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        device.writeStatus(1)
        device.stuckStatus = true
        #expect(throws: VirtioError.resetTimeout) { try VirtioSetup.reset(rig.transport) }
    }

    @Test("configuration reads retry until the generation is stable")
    func configGeneration() throws {
        let (device, _) = makeBlkDevice(.mmio2, sectors: 4096)
        let rig = try makeRig(.mmio2, device: device)
        device.generationBumps = 9  // the first reads see a changing generation
        let capacity = try VirtioSetup.readConsistently(rig.transport) { VirtioSetup.readConfig64(rig.transport, at: 0) }
        #expect(capacity == 4096)
        device.generationBumps = 1000
        #expect(throws: VirtioError.configurationUnstable) {
            try VirtioSetup.readConsistently(rig.transport) { rig.transport.readConfig32(at: 0) }
        }
    }

    @Test("MSI-X vectors are bound to the configuration and each queue (modern PCI)")
    func msixVectors() throws {
        let (device, _) = makeNetDevice(.pciModern)
        let rig = try makeRig(.pciModern, device: device)
        rig.transport.interruptVectors = VirtioInterruptVectors(configuration: 0, queues: [1, 2])
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        #expect(device.configVector == 0)
        #expect(device.queues[0].msixVector == 1 && device.queues[1].msixVector == 2)
        let modern = try #require(rig.transport as? VirtioPCIModernTransport<SimPCIWindow>)
        #expect(modern.queueInterruptVector(1) == 2)
        // The simulated device has four table entries: vector 9 is refused and reads back as NO_VECTOR.
        rig.transport.interruptVectors = VirtioInterruptVectors(configuration: 9, queues: [])
        #expect(!rig.transport.applyConfigurationInterruptVector())
        withExtendedLifetime(net) {}
    }

    @Test("legacy PCI with MSI-X enabled finds the device configuration at 0x18")
    func legacyMSIXConfigOffset() throws {
        let (device, _) = makeNetDevice(.pciLegacy)
        let window = SimPCIWindow(device: device, layout: .legacy(msix: true))
        let transport = try VirtioPCILegacyTransport(deviceType: .network, window: window, msixEnabled: true)
        transport.interruptVectors = VirtioInterruptVectors(configuration: 3, queues: [1])
        let memory = GuardedDMAMemory()
        let net = try VirtioNet(transport: transport, memory: memory)
        #expect(net.macAddress == MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56))
        #expect(device.configVector == 3 && device.queues[0].msixVector == 1 && device.queues[1].msixVector == 1)
        let plain = try VirtioPCILegacyTransport(deviceType: .network, window: window, msixEnabled: false)
        #expect(plain.readConfig8(at: 0) == 0x03)  // offset 0x14 is the MSI-X config vector register now
    }

    @Test("a transitional device is driven through its modern interface unless legacy is preferred")
    func transitional() throws {
        let (device, _) = makeBlkDevice(.pciModern)
        let bus = SimPCIBus()
        let address = PCIAddress(bus: 0, device: 4, function: 0)
        let f = bus.add(address, vendor: 0x1AF4, device: 0x1001, classCode: 0x01, subclass: 0, subsystemID: 2)
        bus.setBAR(f, 0, .init(kind: .io, size: 0x40), base: 0xC040)
        bus.setBAR(f, 4, .init(kind: .memory64, size: 0x10000), base: 0xFE00_0000)
        bus.setCapabilities(f, [
            (0x40, 0x09, SimPCIBus.virtioCap(type: 1, bar: 4, offset: 0x0, length: 0x38)),
            (0x50, 0x09, SimPCIBus.virtioCap(type: 3, bar: 4, offset: 0x1000, length: 0x4)),
            // a notify capability naming a BAR that does not exist comes first and must be skipped
            (0x60, 0x09, SimPCIBus.virtioCap(type: 2, bar: 3, offset: 0x3000, length: 0x1000, multiplier: 4)),
            (0x78, 0x09, SimPCIBus.virtioCap(type: 2, bar: 4, offset: 0x3000, length: 0x1000, multiplier: 4)),
            (0x90, 0x09, SimPCIBus.virtioCap(type: 4, bar: 4, offset: 0x2000, length: 0x40)),
            // a device capability that reaches past its BAR
            (0xA4, 0x09, SimPCIBus.virtioCap(type: 4, bar: 4, offset: 0xFFF0, length: 0x40)),
        ])
        let function = try #require(PCIFunction(config: bus, address: address))
        let bars = PCIBAR.probeAll(bus, function: function)
        let modernWindow = SimPCIWindow(device: device, layout: .modern)
        let legacyWindow = SimPCIWindow(device: device, layout: .legacy(msix: false))
        let window: (Int, PCIBAR) -> SimPCIWindow? = { index, _ in index == 4 ? modernWindow : (index == 0 ? legacyWindow : nil) }
        let modern = try VirtioPCI.makeTransport(config: bus, function: function, bars: bars, window: window)
        #expect(modern.kind == .pciModern && modern.deviceType == .block && modern.deviceConfigSize == 0x40)
        let legacy = try VirtioPCI.makeTransport(config: bus, function: function, bars: bars, preferLegacy: true,
                                                 window: window)
        #expect(legacy.kind == .pciLegacy && legacy.deviceType == .block)
        // Decoding and bus mastering were switched on.
        #expect(bus.read16(address, offset: 4) & 0x7 == 0x7)
        let caps = VirtioPCI.capabilities(bus, address: address)
        #expect(caps.map(\.type) == [1, 3, 2, 2, 4, 4] && caps[3].notifyOffsetMultiplier == 4)
        let blk = try VirtioBlk(transport: modern, memory: GuardedDMAMemory())
        #expect(blk.blockCount == 2048)
        #expect(modernWindow.outOfRangeAccesses == 0 && modernWindow.misdirectedNotifications == 0)
    }

    @Test("a function that is not virtio, or has neither interface, is refused")
    func notVirtioPCI() throws {
        let bus = SimPCIBus()
        let a = PCIAddress(bus: 0, device: 1, function: 0)
        bus.add(a, vendor: 0x8086, device: 0x100E, classCode: 0x02, subclass: 0)
        let f = try #require(PCIFunction(config: bus, address: a))
        let none: (Int, PCIBAR) -> SimPCIWindow? = { _, _ in nil }
        #expect(throws: VirtioError.notVirtio) { try VirtioPCI.makeTransport(config: bus, function: f, bars: [], window: none) }
        let b = PCIAddress(bus: 0, device: 2, function: 0)
        bus.add(b, vendor: 0x1AF4, device: 0x1041, classCode: 0x02, subclass: 0)
        let g = try #require(PCIFunction(config: bus, address: b))
        #expect(throws: VirtioError.badCapability(type: 1)) {
            try VirtioPCI.makeTransport(config: bus, function: g, bars: PCIBAR.probeAll(bus, function: g), window: none)
        }
    }

    @Test("interrupt status is acknowledged on every transport", arguments: TransportKind.allCases)
    func interruptAcknowledge(kind: TransportKind) throws {
        let (device, _) = makeNetDevice(kind)
        let rig = try makeRig(kind, device: device)
        device.isr = 3
        #expect(rig.transport.acknowledgeInterrupt() == [.queue, .configuration])
        #expect(device.isr == 0)
        #expect(rig.transport.acknowledgeInterrupt() == [])
    }
}
