import Interfaces

/// A poll-driven IPv4 network stack over one `NetworkDevice`: Ethernet, ARP, IPv4 (with fragment reassembly),
/// ICMP, UDP sockets, a DHCP client and a DNS client, and a seam (`IPv4TransportHandler`) where TCP plugs in.
///
/// Nothing happens behind your back: the stack does work only inside `poll(now:)` and the socket calls.
/// A scheduler loop looks like this:
///
/// ```swift
/// let stack = NetworkStack(device: nic, addressing: .dhcp, entropy: rng)
/// try stack.register(tcp)                      // an IPv4TransportHandler
/// while true {
///     stack.poll(now: clock.now)
///     sleep(until: stack.nextDeadline, orInterrupt: nic)
/// }
/// ```
///
/// `poll` drains received frames (copying each into the stack's own receive buffer, so handlers may transmit
/// while handling it), runs the ARP, reassembly, DHCP and DNS timers, then polls every transport handler.
/// Packets are built directly in the device's transmit buffers; only packets waiting for ARP resolution are
/// copied (into a fixed pool). Every dropped packet is counted in `counters`.
///
/// Time: the stack never reads a clock. Calls made between polls (`udpSend`, `sendEchoRequest`, `resolve`)
/// use the `now` of the latest poll.
///
/// Not thread-safe: one thread owns the stack (a socket layer for several threads wraps it in a `Lock`).
/// Packets to the interface's own address or to 127.0.0.0/8 loop back through a small queue and are handled at
/// the next poll. Output fragmentation and IPv4 options on output are not implemented; multicast reception is
/// not supported.
public final class NetworkStack<Device: NetworkDevice> {
    /// The device.
    public let device: Device
    /// Tunables.
    public let configuration: NetworkStackConfiguration
    /// How the address is obtained.
    public let addressing: IPv4Addressing
    /// The interface's MAC address (the device's).
    public let macAddress: MACAddress
    /// The largest IPv4 packet (header included) the interface sends or receives.
    public let mtu: Int

    /// The current IPv4 configuration; nil until DHCP has a lease (or before the first poll).
    public private(set) var interface: IPv4InterfaceConfiguration?
    /// Incremented each time `interface` changes, so callers can notice a new address.
    public private(set) var configurationGeneration: UInt64 = 0

    let entropy: any EntropySource
    var arp: ARPCache
    var reassembler: IPv4Reassembler
    let sockets: UDPSocketTable
    var dhcp: DHCPClient?
    /// The DNS client, created by the first `resolve`, and the closures through which the always-running paths
    /// reach it (see `StackDNSHooks`: images that never resolve do not link it).
    var dnsClient: DNSClientService?
    var dnsHooks: StackDNSHooks?
    var icmpLimiter: TokenBucket
    var handlers: [any IPv4TransportHandler] = []
    var loopback: PacketRing
    var echoReplies: [ICMPEchoReply] = []
    var ownCounters = NetworkStackCounters()
    var now: Instant = .zero
    var started = false
    var backlog = false
    var identification: UInt16
    let receiveBuffer: UnsafeMutableRawBufferPointer

    /// Creates a stack over `device`. Nothing is sent until the first `poll` (which applies a static
    /// configuration or starts DHCP). `entropy` supplies DHCP transaction ids, DNS ids and ports, and the first
    /// IPv4 identification.
    public init(device: Device, addressing: IPv4Addressing, entropy: any EntropySource,
                configuration: NetworkStackConfiguration = NetworkStackConfiguration()) {
        self.device = device
        self.addressing = addressing
        self.entropy = entropy
        self.configuration = configuration
        macAddress = device.macAddress
        mtu = max(device.mtu, 68)
        arp = ARPCache(configuration: configuration.arp, packetCapacity: mtu)
        reassembler = IPv4Reassembler(configuration: configuration.reassembly)
        sockets = UDPSocketTable(configuration: configuration.udp, seed: entropy.next64())
        loopback = PacketRing(slotSize: mtu, capacity: configuration.loopbackQueueLength)
        icmpLimiter = TokenBucket(burst: configuration.icmpErrorBurst, interval: configuration.icmpErrorInterval)
        identification = UInt16(truncatingIfNeeded: entropy.next64())
        if case .dhcp(let dhcpConfiguration) = addressing {
            dhcp = DHCPClient(mac: device.macAddress, entropy: entropy, configuration: dhcpConfiguration,
                              maximumMessageSize: mtu)
        }
        receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: mtu + EthernetFrame.headerLength + 4,
                                                               alignment: 16)
        // Unretained: the table is owned by this stack and by the `Network` over it, which owns this stack too,
        // so the stack outlives every call; a strong capture would be a cycle (Embedded Swift has no `unowned`).
        let stack = Unmanaged.passUnretained(self)
        sockets.isReserved = { stack.takeUnretainedValue().isReservedUDPPort($0) }
        sockets.transmit = { (socket, destination, port, payload) throws(UDPError) in
            try stack.takeUnretainedValue().udpSend(socket, to: destination, port: port, payload: payload)
        }
    }

    deinit { receiveBuffer.deallocate() }

    // MARK: - Public state

    /// The interface address, if configured.
    public var address: IPv4Address? { interface?.address }

    /// The DHCP client's state (nil with static addressing).
    public var dhcpState: DHCPState? { dhcp?.state }

    /// The current DHCP lease (nil with static addressing or without a lease).
    public var dhcpLease: DHCPLease? { dhcp?.lease }

    /// All counters, including those of the ARP cache, reassembly, DHCP and DNS.
    public var counters: NetworkStackCounters {
        var c = ownCounters
        c.arp = arp.counters
        c.reassembly = reassembler.counters
        if let dnsHooks { c.dns = dnsHooks.counters() }
        if let dhcp { c.dhcp = dhcp.counters }
        return c
    }

    /// Replaces the interface configuration (static addressing, or to override DHCP). A new address is
    /// announced with a gratuitous ARP; the ARP cache is kept.
    public func setInterface(_ configuration: IPv4InterfaceConfiguration?) {
        started = true
        apply(configuration)
    }

    // MARK: - Transport handlers

    /// Registers a transport protocol (TCP is one). Its `receive` gets every packet with its protocol number
    /// addressed to this host (not broadcast); its `poll` runs at every stack poll.
    public func register(_ handler: any IPv4TransportHandler) throws(NetworkStackError) {
        let number = handler.protocolNumber
        guard number != IPProtocolNumber.icmp, number != IPProtocolNumber.udp else { throw .reservedProtocol(number) }
        guard !handlers.contains(where: { $0.protocolNumber == number }) else { throw .protocolInUse(number) }
        handlers.append(handler)
    }

    /// Removes the handler for `protocolNumber`, if any.
    public func unregister(protocolNumber: UInt8) {
        handlers.removeAll { $0.protocolNumber == protocolNumber }
    }

    // MARK: - Poll

    /// Does all work due at `now`: receives and handles frames, runs timers, polls transport handlers.
    public func poll(now: Instant) {
        // A poll's device work is one batch: the receive buffers it returns and everything it sends (ACKs for a
        // burst of segments, responses, retransmissions) reach the device with one notification per queue.
        device.beginBatch()
        defer { device.endBatch() }
        if now > self.now { self.now = now }
        let now = self.now
        if !started {
            started = true
            if case .static(let configuration) = addressing { apply(configuration) }
        }
        var frames = 0
        backlog = false
        // Packets this host sent to itself since the last poll (not those they cause: they wait for the next).
        for _ in 0..<loopback.count {
            guard let length = loopback.pop(into: receiveBuffer) else { break }
            handleLoopback(NetBytes.slice(UnsafeRawBufferPointer(receiveBuffer), 0, length), now: now)
        }
        while frames < configuration.maximumFramesPerPoll {
            var length = -1
            let buffer = receiveBuffer
            let got = device.receive { frame in
                if frame.count <= buffer.count {
                    NetBytes.slice(buffer, 0, frame.count).copyMemory(from: frame)
                    length = frame.count
                }
            }
            guard got else { break }
            frames += 1
            ownCounters.ethernet.framesReceived += 1
            if length < 0 {
                ownCounters.ethernet.oversized += 1
                continue
            }
            handleFrame(NetBytes.slice(UnsafeRawBufferPointer(buffer), 0, length), now: now)
        }
        runTimers(now: now)
        for handler in handlers {
            let number = handler.protocolNumber
            handler.poll(now: now, send: { source, destination, length, fill in
                self.transmitIPv4(source: source, destination: destination, protocolNumber: number,
                                  length: length, fill: fill) == nil
            })
        }
        backlog = frames >= configuration.maximumFramesPerPoll
    }

    /// When `poll` next has timer work: the earliest of the ARP, reassembly, DHCP, DNS and handler deadlines;
    /// the latest `now` when frames may still be waiting (or before the first poll); nil when nothing is armed
    /// (then only a received frame or a socket call creates work).
    public var nextDeadline: Instant? {
        if !started || backlog || loopback.count > 0 { return now }
        var best: Instant? = nil
        func consider(_ d: Instant?) {
            if let d, best == nil || d < best! { best = d }
        }
        consider(arp.nextDeadline)
        consider(reassembler.nextDeadline)
        consider(dhcp?.nextDeadline)
        consider(dnsHooks?.nextDeadline())
        for handler in handlers { consider(handler.nextDeadline) }
        return best
    }

    func runTimers(now: Instant) {
        arp.poll(now: now) { target in self.sendARPRequest(for: target) }
        reassembler.poll(now: now) { header, prefix in
            // RFC 792: time exceeded, code 1 "fragment reassembly time exceeded".
            self.sendICMPError(type: ICMPv4Type.timeExceeded, code: 1, quoteHeader: header, quotePayload: prefix)
        }
        runDHCP(now: now)
        dnsHooks?.poll(now) { port, server, query in
            _ = self.sendUDP(sourcePort: port, destination: server, destinationPort: DNSMessage.port, payload: query)
        }
    }

    // MARK: - Configuration

    func apply(_ new: IPv4InterfaceConfiguration?) {
        let old = interface
        guard old != new else { return }
        interface = new
        configurationGeneration += 1
        // Neighbour mappings stay valid when the address changes (and packets already queued for resolution,
        // such as a DHCPRELEASE, still go out); a new address is announced.
        if old?.address != new?.address {
            if let new, configuration.sendsGratuitousARP {
                if transmitARP(ARPRepr.announcement(mac: macAddress, address: new.address), to: .broadcast) {
                    arp.counters.announcementsSent += 1
                }
            }
        }
    }

    // MARK: - Receive path

    func handleFrame(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        let frame: EthernetFrame
        do {
            frame = try EthernetFrame(validating: bytes)
        } catch {
            switch error {
            case .vlanTagged: ownCounters.ethernet.vlanTagged += 1
            case .unsupported: ownCounters.ethernet.unknownType += 1
            default: ownCounters.ethernet.malformed += 1
            }
            return
        }
        let destination = frame.destination
        guard destination == macAddress || destination == .broadcast else {
            ownCounters.ethernet.notForUs += 1
            return
        }
        switch frame.etherType {
        case EtherType.arp: handleARP(frame.payload, now: now)
        case EtherType.ipv4: handleIPv4(frame.payload, now: now)
        default: ownCounters.ethernet.unknownType += 1
        }
    }

    func handleARP(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        guard let packet = try? ARPPacket(validating: bytes) else { arp.counters.malformed += 1; return }
        let senderIP = packet.senderProtocolAddress
        let senderMAC = packet.senderHardwareAddress
        if packet.operation == .request { arp.counters.requestsReceived += 1 } else { arp.counters.repliesReceived += 1 }
        guard !senderMAC.isMulticast, senderMAC != .zero else { arp.counters.malformed += 1; return }
        let ours = interface?.address
        if let ours, senderIP == ours {
            if senderMAC != macAddress { arp.counters.addressConflicts += 1 }
            return
        }
        let targetIsUs = ours != nil && packet.targetProtocolAddress == ours
        // RFC 826 merge: refresh a known sender; learn a new one only from a packet addressed to us. Senders of
        // 0.0.0.0 (RFC 5227 probes) or non-unicast addresses are never learned.
        if senderIP != .any && senderIP != .broadcast && !senderIP.isMulticast {
            arp.update(senderIP, mac: senderMAC, now: now, create: targetIsUs) { packet in
                self.transmitFrame(to: senderMAC, etherType: EtherType.ipv4, length: packet.count) {
                    $0.copyMemory(from: packet)
                }
            }
        }
        if packet.operation == .request, targetIsUs, let ours {
            let reply = ARPRepr(operation: .reply, senderHardwareAddress: macAddress, senderProtocolAddress: ours,
                                targetHardwareAddress: senderMAC, targetProtocolAddress: senderIP)
            if transmitARP(reply, to: senderMAC) { arp.counters.repliesSent += 1 }
        }
    }

    /// A validated inbound datagram (a packet, or a reassembled set of fragments).
    struct Inbound {
        var source: IPv4Address
        var destination: IPv4Address
        var protocolNumber: UInt8
        var header: UnsafeRawBufferPointer
        var payload: UnsafeRawBufferPointer
        var isBroadcast: Bool
        /// Unicast to an address that is not (yet) ours, accepted only for the DHCP client.
        var onlyForDHCP: Bool
    }

    /// A packet this host sent to its own address or to 127.0.0.0/8: delivered without address filtering.
    func handleLoopback(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        guard let packet = try? IPv4Packet(validating: bytes) else { ownCounters.ipv4.malformed += 1; return }
        ownCounters.ipv4.received += 1
        dispatch(Inbound(source: packet.source, destination: packet.destination, protocolNumber: packet.protocolNumber,
                         header: packet.header, payload: packet.payload, isBroadcast: false, onlyForDHCP: false),
                 now: now)
    }

    func handleIPv4(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        let packet: IPv4Packet
        do {
            packet = try IPv4Packet(validating: bytes)
        } catch {
            if error == .badChecksum { ownCounters.ipv4.badChecksum += 1 } else { ownCounters.ipv4.malformed += 1 }
            return
        }
        ownCounters.ipv4.received += 1
        let source = packet.source
        guard source != .broadcast, !source.isMulticast, !source.isLoopback else {
            ownCounters.ipv4.badSource += 1
            return
        }
        let destination = packet.destination
        var isBroadcast = destination == .broadcast
        var onlyForDHCP = false
        if let interface {
            isBroadcast = interface.isBroadcast(destination)
            guard destination == interface.address || isBroadcast else { ownCounters.ipv4.notForUs += 1; return }
        } else if !isBroadcast {
            // Unconfigured: a DHCP server may unicast its reply to the offered address (RFC 2131 §4.1).
            guard dhcp != nil, !destination.isMulticast, packet.protocolNumber == IPProtocolNumber.udp else {
                ownCounters.ipv4.notForUs += 1
                return
            }
            onlyForDHCP = true
        }
        let protocolNumber = packet.protocolNumber
        if packet.isFragment {
            guard !onlyForDHCP else { ownCounters.ipv4.notForUs += 1; return }
            let broadcast = isBroadcast
            reassembler.accept(packet, now: now) { header, payload in
                self.dispatch(Inbound(source: source, destination: destination, protocolNumber: protocolNumber,
                                      header: header, payload: payload, isBroadcast: broadcast, onlyForDHCP: false),
                              now: now)
            }
            return
        }
        dispatch(Inbound(source: source, destination: destination, protocolNumber: protocolNumber,
                         header: packet.header, payload: packet.payload, isBroadcast: isBroadcast,
                         onlyForDHCP: onlyForDHCP), now: now)
    }

    func dispatch(_ datagram: Inbound, now: Instant) {
        switch datagram.protocolNumber {
        case IPProtocolNumber.icmp:
            handleICMP(datagram, now: now)
        case IPProtocolNumber.udp:
            handleUDP(datagram, now: now)
        default:
            guard let handler = handlers.first(where: { $0.protocolNumber == datagram.protocolNumber }) else {
                ownCounters.ipv4.unknownProtocol += 1
                if !datagram.isBroadcast {
                    sendICMPError(type: ICMPv4Type.destinationUnreachable, code: ICMPv4UnreachableCode.protocol,
                                  quoteHeader: datagram.header, quotePayload: datagram.payload)
                }
                return
            }
            guard !datagram.isBroadcast else { ownCounters.ipv4.notForUs += 1; return }
            ownCounters.ipv4.delivered += 1
            let number = datagram.protocolNumber
            handler.receive(datagram.payload, source: datagram.source, destination: datagram.destination, now: now,
                            send: { source, destination, length, fill in
                                self.transmitIPv4(source: source, destination: destination, protocolNumber: number,
                                                  length: length, fill: fill) == nil
                            })
        }
    }

    // MARK: - Transmit path

    /// Sends an IPv4 packet with a `length`-byte payload written by `fill` (called at most once, synchronously).
    /// Returns nil when the packet was transmitted or queued for ARP resolution.
    func transmitIPv4(source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8, length: Int,
                      timeToLive: UInt8? = nil,
                      fill: (UnsafeMutableRawBufferPointer) -> Void) -> IPv4SendError? {
        guard length >= 0, length + IPv4Packet.minimumHeaderLength <= mtu else {
            ownCounters.ipv4.sendTooLong += 1
            return .tooLong(length)
        }
        let loopsBack = destination.isLoopback || (interface != nil && destination == interface!.address)
        // RFC 1122 §3.2.1.3: 127/8 must never appear outside a host. A connection that began over loopback
        // and whose peer address stopped being ours (a new lease, `setInterface`) has nowhere to go.
        guard loopsBack || !source.isLoopback else {
            ownCounters.ipv4.sendNoRoute += 1
            return .noRoute(destination)
        }
        identification &+= 1
        let header = IPv4Header(source: source, destination: destination, protocolNumber: protocolNumber,
                                payloadLength: length, timeToLive: timeToLive ?? configuration.defaultTimeToLive,
                                identification: identification)
        let total = IPv4Packet.minimumHeaderLength + length
        // Routing decision: our own address and 127.0.0.0/8 loop back; broadcast and multicast map to group
        // MACs; unicast goes to the destination when on-link, else to the gateway.
        if loopsBack {
            let queued = loopback.push(length: total) { ip in
                header.emit(into: ip)
                fill(NetBytes.slice(ip, IPv4Packet.minimumHeaderLength, total))
            }
            guard queued else { ownCounters.ipv4.sendWouldBlock += 1; return .wouldBlock }
            ownCounters.ipv4.sent += 1
            ownCounters.ipv4.loopedBack += 1
            return nil
        }
        var mac: MACAddress? = nil
        var nextHop = destination
        if destination == .broadcast || (interface?.isBroadcast(destination) ?? false) {
            mac = .broadcast
        } else if destination.isMulticast {
            mac = MACAddress(multicastGroup: destination)
        } else {
            guard let interface else { ownCounters.ipv4.sendNotConfigured += 1; return .notConfigured }
            guard destination != .any, let hop = interface.nextHop(for: destination) else {
                ownCounters.ipv4.sendNoRoute += 1
                return .noRoute(destination)
            }
            nextHop = hop
            mac = arp.lookup(hop, now: now)
        }
        if let mac {
            let sent = transmitFrame(to: mac, etherType: EtherType.ipv4, length: total) { ip in
                header.emit(into: ip)
                fill(NetBytes.slice(ip, IPv4Packet.minimumHeaderLength, total))
            }
            guard sent else { ownCounters.ipv4.sendWouldBlock += 1; return .wouldBlock }
            ownCounters.ipv4.sent += 1
            return nil
        }
        let result = arp.enqueue(nextHop: nextHop, length: total, now: now) { ip in
            header.emit(into: ip)
            fill(NetBytes.slice(ip, IPv4Packet.minimumHeaderLength, total))
        }
        switch result {
        case .dropped:
            ownCounters.ipv4.sendWouldBlock += 1
            return .wouldBlock
        case .queuedSendRequest:
            sendARPRequest(for: nextHop)
        case .queued:
            break
        }
        ownCounters.ipv4.sent += 1
        return nil
    }

    /// Hands one frame to the device: Ethernet header, then `length` bytes written by `fill`.
    @discardableResult
    func transmitFrame(to destination: MACAddress, etherType: UInt16, length: Int,
                       _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        let source = macAddress
        let sent = device.transmit(length: EthernetFrame.headerLength + length) { frame in
            EthernetHeader(destination: destination, source: source, etherType: etherType).emit(into: frame)
            fill(NetBytes.slice(frame, EthernetFrame.headerLength, EthernetFrame.headerLength + length))
        }
        if sent { ownCounters.ethernet.framesTransmitted += 1 } else { ownCounters.ethernet.transmitFailures += 1 }
        return sent
    }

    func transmitARP(_ repr: ARPRepr, to destination: MACAddress) -> Bool {
        transmitFrame(to: destination, etherType: EtherType.arp, length: ARPPacket.length) { repr.emit(into: $0) }
    }

    /// Broadcasts a request for `target` (counted by the ARP cache, which decided to send it).
    func sendARPRequest(for target: IPv4Address) {
        guard let ours = interface?.address else { return }
        let request = ARPRepr(operation: .request, senderHardwareAddress: macAddress, senderProtocolAddress: ours,
                              targetHardwareAddress: .zero, targetProtocolAddress: target)
        _ = transmitARP(request, to: .broadcast)
    }

    /// Sends an ICMP error about a received datagram, unless RFC 1122 §3.2.2 forbids it (the original was an
    /// ICMP error, or came from a non-unicast or unspecified source) or the rate limit is exhausted.
    func sendICMPError(type: UInt8, code: UInt8, quoteHeader: UnsafeRawBufferPointer,
                       quotePayload: UnsafeRawBufferPointer) {
        guard let ours = interface?.address, quoteHeader.count >= IPv4Packet.minimumHeaderLength else { return }
        let originalSource = IPv4Address(bytes: quoteHeader, offset: 12)
        guard originalSource != .any, originalSource != .broadcast, !originalSource.isMulticast,
              !originalSource.isLoopback, !(interface?.isBroadcast(originalSource) ?? false) else { return }
        if quoteHeader[9] == IPProtocolNumber.icmp {
            guard quotePayload.count > 0, !ICMPv4Type.isError(quotePayload[0]) else { return }
        }
        guard icmpLimiter.take(now: now) else { ownCounters.icmp.errorsRateLimited += 1; return }
        let length = ICMPv4Message.headerLength + quoteHeader.count + min(8, quotePayload.count)
        let result = transmitIPv4(source: ours, destination: originalSource, protocolNumber: IPProtocolNumber.icmp,
                                  length: length) { buffer in
            ICMPv4Message.emitError(into: buffer, type: type, code: code, quoteHeader: quoteHeader,
                                    quotePayload: quotePayload)
        }
        if result == nil { ownCounters.icmp.errorsSent += 1 }
    }

    // MARK: - Raw IPv4

    /// Sends one IPv4 packet of protocol `protocolNumber` from the interface address to `destination`, with a
    /// payload of `length` bytes written by `fill` (called at most once, before this returns). For protocols
    /// the stack does not implement; transport handlers use the `IPv4Send` closure they are given instead.
    public func sendIPv4(protocolNumber: UInt8, to destination: IPv4Address, length: Int,
                         fill: (UnsafeMutableRawBufferPointer) -> Void) throws(IPv4SendError) {
        guard let ours = interface?.address else { ownCounters.ipv4.sendNotConfigured += 1; throw .notConfigured }
        if let error = transmitIPv4(source: ours, destination: destination, protocolNumber: protocolNumber,
                                    length: length, fill: fill) { throw error }
    }
}
