import Hardware
import Interfaces
import Testing
import Virtio
import VirtioNet

/// An Ethernet + IPv4 + UDP frame with `payload` bytes; the UDP checksum field is left zero.
func udpFrame(payload: Int, seed: UInt64) -> [UInt8] {
    let udpLength = 8 + payload
    var f = ethernetFrame(14, seed: 0)
    f[12] = 0x08; f[13] = 0x00
    f += [0x45, 0, UInt8((20 + udpLength) >> 8), UInt8((20 + udpLength) & 0xFF), 0, 0, 0, 0, 64, 17, 0, 0,
          10, 0, 2, 15, 10, 0, 2, 2]
    f += [0x30, 0x39, 0x00, 0x35, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0]
    f += pattern(payload, seed: seed)
    return f
}

/// Ones'-complement sum of big-endian words, folded (not complemented).
func onesSum(_ bytes: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i < bytes.count {
        sum += UInt32(bytes[i]) << 8 | (i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0)
        i += 2
    }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return UInt16(sum)
}

/// The IPv4 pseudo-header of the UDP datagram in `frame`.
func pseudoHeader(_ frame: [UInt8]) -> [UInt8] {
    Array(frame[26..<34]) + [0, 17] + Array(frame[38..<40])
}

/// The correct UDP checksum of `frame` (computed from scratch, with the field taken as zero).
func referenceUDPChecksum(_ frame: [UInt8]) -> UInt16 {
    var udp = Array(frame[34...])
    udp[6] = 0; udp[7] = 0
    return ~onesSum(pseudoHeader(frame) + udp)
}

@Suite("VirtioNet")
struct VirtioNetTests {
    @Test("frames echo through the device with buffer recycling and exact counters", arguments: TransportKind.allCases)
    func echo(kind: TransportKind) throws {
        let (device, model) = makeNetDevice(kind)
        let rig = try makeRig(kind, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        let nic: any NetworkDevice = net  // as the network stack sees it
        var sent: [[UInt8]] = []
        var received: [[UInt8]] = []
        var bytes: UInt64 = 0
        for i in 0..<600 {  // several times the pool and queue sizes
            let frame = ethernetFrame(60 + (i * 37) % 1455, seed: UInt64(i))
            #expect(nic.transmit(length: frame.count) { $0.copyBytes(from: frame) })
            sent.append(frame)
            bytes += UInt64(frame.count)
            if i % 3 == 2 { while nic.receive({ received.append(Array($0)) }) {} }
        }
        while nic.receive({ received.append(Array($0)) }) {}
        #expect(received == sent)
        #expect(nic.mtu == 1500 && nic.isLinkUp && nic.macAddress == MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56))
        let s = nic.statistics
        #expect(s.transmittedPackets == 600 && s.transmittedBytes == bytes)
        #expect(s.receivedPackets == 600 && s.receivedBytes == bytes)
        #expect(s.errors == 0 && s.receiveDrops == 0 && s.transmitDrops == 0)
        net.poll()
        #expect(net.freeTransmitBufferCount == net.transmitBufferTotal)
        #expect(net.postedReceiveBufferCount == net.receiveBufferTotal)
        #expect(model.transmittedHeaders.allSatisfy { $0.allSatisfy { $0 == 0 } })
        #expect(model.transmittedHeaders.first?.count == net.headerLength)
        #expect(model.transmittedSegmentCounts.allSatisfy { $0 == 1 })
        #expect(rig.memory.allCanariesIntact && rig.outOfRangeAccesses() == 0)
    }

    @Test("MAC, MTU and link status come from the configuration; a link change raises a configuration interrupt",
          arguments: [TransportKind.mmio2, .pciModern, .pciLegacy])
    func configuration(kind: TransportKind) throws {
        let (device, _) = makeNetDevice(kind, mtu: 4000)
        let rig = try makeRig(kind, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.maximumMTU = 3000
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        #expect(net.macAddress == MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56))
        #expect(net.mtu == 3000 && net.isLinkUp)
        #expect(net.transmit(length: 3014) { _ in })
        device.changeConfig { $0[6] = 0 }
        #expect(net.handleInterrupt().contains(.configuration))
        #expect(!net.isLinkUp)
        device.changeConfig { $0[6] = 1 }
        #expect(net.handleInterrupt() == [.configuration])
        #expect(net.isLinkUp)
    }

    @Test("out-of-range configuration values are replaced and counted")
    func badConfiguration() throws {
        let (device, _) = makeNetDevice(.pciModern, mtu: 10)
        device.config[0] = 0x01  // a multicast MAC
        let rig = try makeRig(.pciModern, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        #expect(net.mtu == 1500 && net.macAddress == VirtioNet.Configuration().fallbackMAC)
        #expect(net.configurationFaults == 2 && net.statistics.errors == 2)
        // Without VIRTIO_NET_F_MAC the fallback address is used; without F_STATUS the link is up.
        let (plain, _) = makeNetDevice(.mmio2, features: 0)
        let rig2 = try makeRig(.mmio2, device: plain)
        var configuration = VirtioNet.Configuration()
        configuration.fallbackMAC = MACAddress(0x02, 1, 2, 3, 4, 5)
        let net2 = try VirtioNet(transport: rig2.transport, memory: rig2.memory, configuration: configuration)
        #expect(net2.macAddress == MACAddress(0x02, 1, 2, 3, 4, 5) && net2.isLinkUp && net2.mtu == 1500)
        #expect(net2.configurationFaults == 0)
        // A configuration structure too short for the negotiated fields (MTU at offset 10) is refused.
        let short = SimVirtioDevice(type: 1, features: version1 | NetBits.mtu, config: [UInt8](repeating: 0, count: 8),
                                    queueSizes: [64, 64])
        short.attach(SimNetModel())
        let rig3 = try makeRig(.pciModern, device: short)
        #expect(throws: VirtioError.badConfiguration(offset: 8)) { try VirtioNet(transport: rig3.transport, memory: rig3.memory) }
        #expect(short.status & 0x80 != 0 || short.status == 0)
    }

    @Test("receive pool exhaustion holds frames at the device until buffers are re-posted", arguments: TransportKind.allCases)
    func receivePoolExhaustion(kind: TransportKind) throws {
        let (device, model) = makeNetDevice(kind)
        let rig = try makeRig(kind, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.receiveBuffers = 4
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        #expect(net.postedReceiveBufferCount == 4)
        let frames = (0..<10).map { ethernetFrame(100 + $0, seed: UInt64($0)) }
        for f in frames { model.inject(f, into: device) }
        #expect(model.delivered == 4 && model.backlog.count == 6)
        #expect(net.postedReceiveBufferCount == 4)  // all four filled, none re-posted yet
        var received: [[UInt8]] = []
        while net.receive({ received.append(Array($0)) }) {}
        #expect(received == frames)
        #expect(model.backlog.isEmpty && net.postedReceiveBufferCount == 4)
        #expect(net.statistics.receivedPackets == 10 && net.statistics.errors == 0)
    }

    @Test("a batch holds queue notifications back until its end, then notifies each queue at most once",
          arguments: [TransportKind.mmio2, .pciModern, .pciLegacy])
    func batchedNotifications(kind: TransportKind) throws {
        let (device, model) = makeNetDevice(kind)
        model.echo = false
        let rig = try makeRig(kind, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        let nic: any NetworkDevice = net  // as the network stack calls it
        let frames = (0..<6).map { ethernetFrame(80 + $0, seed: UInt64($0)) }

        // Unbatched, every transmission is announced (the model takes each chain when notified).
        var tx = device.queues[1].notifications
        for f in frames { #expect(nic.transmit(length: f.count) { $0.copyBytes(from: f) }) }
        #expect(device.queues[1].notifications == tx + frames.count)
        #expect(model.transmitted == frames)

        // Batched: nothing is announced until the outermost end; then one notification covers all six.
        tx = device.queues[1].notifications
        nic.beginBatch()
        nic.beginBatch()
        for f in frames { #expect(nic.transmit(length: f.count) { $0.copyBytes(from: f) }) }
        nic.endBatch()
        #expect(device.queues[1].notifications == tx && model.transmitted.count == frames.count)
        nic.endBatch()
        #expect(device.queues[1].notifications == tx + 1)
        #expect(model.transmitted == frames + frames)

        // Receive: a device that asks to hear of every re-posted buffer (QEMU moves avail_event to the driver's
        // index after each frame) gets a notification per frame unbatched, and one per batch batched.
        for f in frames { model.inject(f, into: device) }
        var rx = device.queues[0].notifications
        var received: [[UInt8]] = []
        for _ in 0..<3 {
            device.requestNotificationForNextChain(0)
            #expect(nic.receive { received.append(Array($0)) })
        }
        #expect(device.queues[0].notifications == rx + 3)
        rx = device.queues[0].notifications
        nic.beginBatch()
        for _ in 0..<3 {
            device.requestNotificationForNextChain(0)
            #expect(nic.receive { received.append(Array($0)) })
        }
        #expect(!nic.receive { _ in })
        #expect(device.queues[0].notifications == rx)
        nic.endBatch()
        #expect(device.queues[0].notifications == rx + 1)
        #expect(received == frames)
        #expect(net.postedReceiveBufferCount == net.receiveBufferTotal)
        #expect(net.statistics.errors == 0 && rig.outOfRangeAccesses() == 0)

        // An end without a begin is ignored; an empty batch notifies nothing.
        tx = device.queues[1].notifications
        nic.endBatch()
        nic.beginBatch()
        nic.endBatch()
        #expect(device.queues[1].notifications == tx && device.queues[0].notifications == rx + 1)
    }

    @Test("transmit buffers run out while the device holds them and come back when it returns them")
    func transmitExhaustion() throws {
        let (device, model) = makeNetDevice(.pciModern)
        model.echo = false
        model.holdTransmit = true
        let rig = try makeRig(.pciModern, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.transmitBuffers = 4
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        var filled = 0
        for _ in 0..<4 { #expect(net.transmit(length: 60) { _ in filled += 1 }) }
        #expect(!net.transmit(length: 60) { _ in filled += 1 })
        #expect(filled == 4 && net.statistics.transmitDrops == 1 && net.freeTransmitBufferCount == 0)
        model.releaseTransmit(device)
        #expect(model.transmitted.count == 4)
        #expect(net.transmit(length: 60) { _ in filled += 1 })  // reclaims the four returned buffers first
        #expect(net.freeTransmitBufferCount == 3)
        net.poll()  // the device completed the fifth frame at once
        #expect(net.freeTransmitBufferCount == 4 && model.transmitted.count == 5)
        #expect(device.interrupts == 0)  // transmit completions never interrupt
    }

    @Test("frames that exceed the length limits are refused without calling fill")
    func transmitLimits() throws {
        let (device, _) = makeNetDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        var calls = 0
        #expect(!net.transmit(length: 0) { _ in calls += 1 })
        #expect(!net.transmit(length: 1500 + 14 + 4 + 1) { _ in calls += 1 })
        #expect(!net.transmit(length: 100, checksumOffload: ChecksumOffload(start: 90, offset: 9)) { _ in calls += 1 })
        #expect(net.transmit(length: 1500 + 14) { calls += $0.count })
        #expect(calls == 1514 && net.statistics.transmitDrops == 3)
    }

    @Test("mergeable receive buffers: frames spanning several buffers arrive intact", arguments: TransportKind.allCases)
    func mergeable(kind: TransportKind) throws {
        let (device, model) = makeNetDevice(kind, features: NetBits.mac | NetBits.mrgRxbuf | eventIndexBit)
        let rig = try makeRig(kind, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.mergeableBufferSize = 256
        configuration.receiveBuffers = 32
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        #expect(net.mergeableBuffers && net.headerLength == 12)
        var sent: [[UInt8]] = []
        var received: [[UInt8]] = []
        for i in 0..<200 {
            let frame = ethernetFrame(60 + (i * 97) % 1455, seed: UInt64(1000 + i))
            #expect(net.transmit(length: frame.count) { $0.copyBytes(from: frame) })
            sent.append(frame)
            while net.receive({ received.append(Array($0)) }) {}
        }
        #expect(received == sent)
        #expect(model.buffersUsed > 2 * model.delivered)
        #expect(net.statistics.errors == 0 && net.postedReceiveBufferCount == 32)
        #expect(rig.memory.allCanariesIntact)
    }

    @Test("a corrupt num_buffers drops the frame and keeps the pool intact")
    func corruptNumBuffers() throws {
        let (device, model) = makeNetDevice(.pciModern, features: NetBits.mrgRxbuf)
        let rig = try makeRig(.pciModern, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        for bad: UInt16 in [0, 5000] {
            model.corruptNumBuffers = bad
            model.inject(ethernetFrame(100, seed: 1), into: device)
            var calls = 0
            #expect(!net.receive { _ in calls += 1 })
            #expect(calls == 0)
        }
        model.corruptNumBuffers = nil
        let frame = ethernetFrame(100, seed: 2)
        model.inject(frame, into: device)
        var got: [UInt8] = []
        #expect(net.receive { got = Array($0) })
        #expect(got == frame)
        #expect(net.malformedFrames == 2 && net.statistics.receiveDrops == 2)
        #expect(net.postedReceiveBufferCount == net.receiveBufferTotal)
    }

    @Test("partial checksums of received frames are completed (GUEST_CSUM)", arguments: [TransportKind.mmio1, .pciModern])
    func guestChecksum(kind: TransportKind) throws {
        let (device, model) = makeNetDevice(kind, features: NetBits.mac | NetBits.guestCsum)
        let rig = try makeRig(kind, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        #expect(net.features.contains(.netGuestChecksum))
        for (i, payload) in [0, 1, 7, 100, 1401].enumerated() {
            var frame = udpFrame(payload: payload, seed: UInt64(i))
            let partial = onesSum(pseudoHeader(frame))
            frame[40] = UInt8(partial >> 8); frame[41] = UInt8(partial & 0xFF)
            model.inject(frame, checksum: (start: 34, offset: 6), into: device)
            var got: [UInt8] = []
            #expect(net.receive { got = Array($0) })
            let expected = referenceUDPChecksum(frame)
            #expect(UInt16(got[40]) << 8 | UInt16(got[41]) == expected)
            #expect(Array(got[0..<40]) == Array(frame[0..<40]) && Array(got[42...]) == Array(frame[42...]))
        }
        // Instructions pointing outside the frame are refused.
        model.inject(udpFrame(payload: 10, seed: 9), checksum: (start: 50, offset: 6), into: device)
        #expect(!net.receive { _ in Issue.record("malformed frame delivered") })
        #expect(net.malformedFrames == 1)
    }

    @Test("NEEDS_CSUM without GUEST_CSUM negotiated is a device error")
    func unexpectedPartialChecksum() throws {
        let (device, model) = makeNetDevice(.pciModern, features: NetBits.guestCsum)
        let rig = try makeRig(.pciModern, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.useChecksumOffload = false
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        model.inject(udpFrame(payload: 10, seed: 1), checksum: (start: 34, offset: 6), into: device)
        #expect(!net.receive { _ in Issue.record("delivered") })
        #expect(net.malformedFrames == 1)
    }

    @Test("transmit checksum offload: the device is asked when it offers CSUM, else the driver computes it",
          arguments: [true, false])
    func transmitChecksum(deviceOffersCSUM: Bool) throws {
        let (device, model) = makeNetDevice(.pciModern, features: NetBits.mac | (deviceOffersCSUM ? NetBits.csum : 0))
        model.echo = false
        let rig = try makeRig(.pciModern, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        var frame = udpFrame(payload: 333, seed: 5)
        let partial = onesSum(pseudoHeader(frame))
        frame[40] = UInt8(partial >> 8); frame[41] = UInt8(partial & 0xFF)
        #expect(net.transmit(length: frame.count, checksumOffload: ChecksumOffload(start: 34, offset: 6)) {
            $0.copyBytes(from: frame)
        })
        let header = try #require(model.transmittedHeaders.last)
        let sent = try #require(model.transmitted.last)
        if deviceOffersCSUM {
            #expect(header[0] == 1 && header[6] == 34 && header[7] == 0 && header[8] == 6 && header[9] == 0)
            #expect(sent == frame)
        } else {
            #expect(header.allSatisfy { $0 == 0 })
            #expect(UInt16(sent[40]) << 8 | UInt16(sent[41]) == referenceUDPChecksum(frame))
        }
        #expect(VirtioNet.internetChecksum(UnsafeRawBufferPointer(start: nil, count: 0)) == 0xFFFF)
    }

    @Test("a legacy device without ANY_LAYOUT gets the header in its own descriptor", arguments: [TransportKind.mmio1, .pciLegacy])
    func legacySeparateHeader(kind: TransportKind) throws {
        let (device, model) = makeNetDevice(kind, anyLayout: false)
        let rig = try makeRig(kind, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        #expect(net.headerLength == 10)
        let frame = ethernetFrame(200, seed: 3)
        #expect(net.transmit(length: frame.count) { $0.copyBytes(from: frame) })
        var got: [UInt8] = []
        #expect(net.receive { got = Array($0) })
        #expect(got == frame && model.transmittedSegmentCounts == [2])
    }

    @Test("interrupt-driven mode asks for receive interrupts; polling mode does not")
    func interruptModes() throws {
        for interruptDriven in [true, false] {
            let (device, model) = makeNetDevice(.mmio2)
            let rig = try makeRig(.mmio2, device: device)
            var configuration = VirtioNet.Configuration()
            configuration.interruptDriven = interruptDriven
            let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
            for i in 0..<5 {
                model.inject(ethernetFrame(80, seed: UInt64(i)), into: device)
                if interruptDriven {
                    #expect(net.handleInterrupt() == [.queue])
                } else {
                    #expect(net.poll())
                }
                #expect(net.receive { _ in })
            }
            #expect(device.interrupts == (interruptDriven ? 5 : 0))
            // Switching modes at run time reports frames that arrived while interrupts were off.
            net.setReceiveInterrupts(false)
            model.inject(ethernetFrame(80, seed: 9), into: device)
            #expect(net.setReceiveInterrupts(true))
            #expect(net.receive { _ in })
        }
    }

    @Test("misbehaving transmit completions break the transmit queue without touching memory out of bounds",
          arguments: [Misbehavior.idOutOfRange, .idNotInFlight, .usedIndexJump, .duplicateCompletion])
    func misbehavingTransmit(misbehavior: Misbehavior) throws {
        let (device, model) = makeNetDevice(.pciModern)
        model.echo = false
        device.misbehavior = misbehavior
        device.misbehaveAfter = 3
        let rig = try makeRig(.pciModern, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        var accepted = 0
        for _ in 0..<10 where net.transmit(length: 64, { $0.initializeMemory(as: UInt8.self, repeating: 0xEE) }) {
            accepted += 1
        }
        #expect(net.isBroken && net.transmitQueue.isBroken && !net.receiveQueue.isBroken)
        #expect(accepted >= 4 && accepted < 10)
        #expect(net.statistics.errors >= 1)
        #expect(!net.transmit(length: 64) { _ in Issue.record("fill called on a broken queue") })
        #expect(rig.memory.allCanariesIntact && rig.outOfRangeAccesses() == 0)
    }

    @Test("a receive length past the buffer is dropped and counted; reception recovers")
    func receiveLengthPastBuffer() throws {
        let (device, model) = makeNetDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        device.misbehavior = .lengthPastBuffer
        model.inject(ethernetFrame(300, seed: 1), into: device)
        #expect(!net.receive { _ in Issue.record("frame with a bad length delivered") })
        #expect(net.receiveQueue.faults.lengthOverruns == 1 && net.statistics.errors == 2 && net.statistics.receiveDrops == 1)
        device.misbehavior = .none
        let frame = ethernetFrame(300, seed: 2)
        model.inject(frame, into: device)
        var got: [UInt8] = []
        #expect(net.receive { got = Array($0) })
        #expect(got == frame && !net.isBroken)
        #expect(rig.memory.allCanariesIntact)
    }

    @Test("a receive used index jump breaks the receive queue")
    func receiveIndexJump() throws {
        let (device, model) = makeNetDevice(.pciLegacy)
        let rig = try makeRig(.pciLegacy, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
        device.misbehavior = .usedIndexJump
        model.inject(ethernetFrame(300, seed: 1), into: device)
        #expect(!net.receive { _ in Issue.record("delivered") })
        #expect(net.receiveQueue.isBroken && net.statistics.errors == 1)
        #expect(!net.receive { _ in Issue.record("delivered") })
    }

    @Test("a device that never completes transmissions exhausts the pool; transmit then refuses cleanly")
    func neverCompletes() throws {
        let (device, model) = makeNetDevice(.mmio1)
        model.echo = false
        device.misbehavior = .neverComplete
        let rig = try makeRig(.mmio1, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.transmitBuffers = 8
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        var ok = 0
        for _ in 0..<20 where net.transmit(length: 60, { _ in }) { ok += 1 }
        #expect(ok == 8 && net.statistics.transmitDrops == 12 && !net.isBroken)
        #expect(model.transmitted.count == 8)
    }

    @Test("driver memory is returned when the driver goes away, after the device is reset")
    func teardown() throws {
        let (device, _) = makeNetDevice(.pciModern)
        let rig = try makeRig(.pciModern, device: device)
        do {
            let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
            #expect(net.transmit(length: 60) { _ in })
            #expect(rig.memory.liveAllocations == 4)
        }
        #expect(device.status == 0)
        #expect(rig.memory.liveAllocations == 0)
        // A device that never finishes its reset might still write: its memory is never handed back.
        do {
            let net = try VirtioNet(transport: rig.transport, memory: rig.memory)
            #expect(net.transmit(length: 60) { _ in })
            device.stuckStatus = true
        }
        #expect(rig.memory.liveAllocations == 4)
    }

    @Test("packed virtqueues: echo and mergeable buffers", arguments: [TransportKind.mmio2, .pciModern], [false, true])
    func packedRing(kind: TransportKind, eventIndex: Bool) throws {
        let (device, model) = makeNetDevice(kind, features: NetBits.mac | NetBits.mrgRxbuf | packedBit
                                                | (eventIndex ? eventIndexBit : 0))
        let rig = try makeRig(kind, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.queueFormat = .packedWhenOffered
        configuration.mergeableBufferSize = 512
        configuration.receiveBuffers = 64
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        #expect(net.features.contains(.ringPacked) && net.receiveQueue is PackedVirtqueue)
        var sent: [[UInt8]] = []
        var received: [[UInt8]] = []
        for i in 0..<700 {
            let frame = ethernetFrame(60 + (i * 53) % 1455, seed: UInt64(7000 + i))
            #expect(net.transmit(length: frame.count) { $0.copyBytes(from: frame) })
            sent.append(frame)
            if i % 5 == 4 { while net.receive({ received.append(Array($0)) }) {} }
        }
        while net.receive({ received.append(Array($0)) }) {}
        #expect(received == sent)
        #expect(model.buffersUsed > model.delivered)
        #expect(net.statistics.errors == 0 && !net.isBroken)
        #expect(device.interrupts > 0 && device.interrupts <= 700)
        #expect(rig.memory.allCanariesIntact && rig.outOfRangeAccesses() == 0)
    }

    @Test("the default queue format declines an offered packed ring and uses split rings")
    func splitByDefault() throws {
        let (device, _) = makeNetDevice(.pciModern, features: NetBits.mac | packedBit)
        let rig = try makeRig(.pciModern, device: device)
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: VirtioNet.Configuration())
        #expect(!net.features.contains(.ringPacked))
        #expect(net.receiveQueue is SplitVirtqueue && net.transmitQueue is SplitVirtqueue)
        #expect(net.transmit(length: 64) { _ in })
    }

    @Test("packed virtqueues: a bad buffer ID from the device breaks the queue")
    func packedMisbehaving() throws {
        let (device, model) = makeNetDevice(.pciModern, features: NetBits.mac | packedBit)
        model.echo = false
        device.misbehavior = .idOutOfRange
        device.misbehaveAfter = 2
        let rig = try makeRig(.pciModern, device: device)
        var configuration = VirtioNet.Configuration()
        configuration.queueFormat = .packedWhenOffered
        let net = try VirtioNet(transport: rig.transport, memory: rig.memory, configuration: configuration)
        var accepted = 0
        for _ in 0..<10 where net.transmit(length: 64, { _ in }) { accepted += 1 }
        #expect(accepted == 3 && net.transmitQueue.isBroken && net.statistics.errors == 1)
        #expect(rig.memory.allCanariesIntact)
    }
}
