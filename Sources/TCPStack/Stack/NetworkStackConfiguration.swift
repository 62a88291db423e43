import Interfaces

/// The IPv4 configuration of an interface: its address and prefix, default gateway and DNS servers.
public struct IPv4InterfaceConfiguration: Equatable, CustomStringConvertible {
    /// The interface address and its on-link prefix (`10.0.2.15/24`).
    public var network: IPv4Network
    /// The default gateway for destinations outside `network`; nil means "on-link only".
    public var gateway: IPv4Address?
    /// DNS servers, in order of preference.
    public var dnsServers: [IPv4Address]

    /// Creates a configuration.
    public init(address: IPv4Address, prefixLength: Int, gateway: IPv4Address? = nil, dnsServers: [IPv4Address] = []) {
        network = IPv4Network(address: address, prefixLength: prefixLength)
        self.gateway = gateway
        self.dnsServers = dnsServers
    }

    /// The interface address.
    public var address: IPv4Address { network.address }

    /// Where a packet to `destination` goes next: the destination itself when it is on-link, otherwise the
    /// gateway; nil when it is off-link and there is no gateway. (Broadcast and multicast destinations need no
    /// next hop; the stack handles them before asking.)
    public func nextHop(for destination: IPv4Address) -> IPv4Address? {
        if network.contains(destination) { return destination }
        return gateway
    }

    /// Whether `destination` is a broadcast address for this interface (limited or directed).
    public func isBroadcast(_ destination: IPv4Address) -> Bool {
        destination == .broadcast || (network.prefixLength < 31 && destination == network.broadcast)
    }

    /// `address/prefix`, then the gateway and DNS servers when there are any.
    public var description: String {
        var text = "\(network)"
        if let gateway { text += " via \(gateway)" }
        for (i, d) in dnsServers.enumerated() { text += i == 0 ? " dns \(d)" : ",\(d)" }
        return text
    }
}

/// How the interface gets its IPv4 address.
public enum IPv4Addressing: Equatable {
    /// A fixed configuration, applied on the first poll.
    case `static`(IPv4InterfaceConfiguration)
    /// DHCPv4 (RFC 2131); the interface has no address until the first lease.
    case dhcp(DHCPClientConfiguration)

    /// DHCP with the default timers.
    public static var dhcp: IPv4Addressing { .dhcp(DHCPClientConfiguration()) }
}

/// Everything tunable about a `NetworkStack`. The defaults suit a small server on a LAN.
public struct NetworkStackConfiguration: Equatable {
    /// ARP cache and resolution queue.
    public var arp = ARPConfiguration()
    /// Fragment reassembly.
    public var reassembly = IPv4ReassemblyConfiguration()
    /// UDP sockets.
    public var udp = UDPConfiguration()
    /// The DNS client.
    public var dns = DNSResolverConfiguration()
    /// TTL of packets we send (RFC 1122 §3.2.1.7; 64 as most hosts use).
    public var defaultTimeToLive: UInt8 = 64
    /// ICMP errors sent in a burst before rate limiting (RFC 1812 §4.3.2.8).
    public var icmpErrorBurst: Int = 10
    /// Time to earn one more ICMP error after a burst.
    public var icmpErrorInterval: Duration = .milliseconds(100)
    /// Whether to answer echo requests sent to a broadcast address (off, as RFC 1122 §3.2.2.6 permits, to avoid
    /// smurf amplification).
    public var answersBroadcastEcho = false
    /// Echo replies kept for `receiveEchoReply`; more are dropped.
    public var echoReplyQueueLength: Int = 16
    /// Frames taken from the device per poll (bounding the work of one poll); when reached, `nextDeadline`
    /// asks to be polled again at once.
    public var maximumFramesPerPoll: Int = 256
    /// Packets to this host itself (its address or 127.0.0.0/8) queued until the next poll; more fail with
    /// `wouldBlock`.
    public var loopbackQueueLength: Int = 16
    /// Whether to announce the address with a gratuitous ARP when it is configured (RFC 5227 §3).
    public var sendsGratuitousARP = true

    /// The defaults above.
    public init() {}
}

/// Counters of the Ethernet layer.
public struct EthernetCounters: Equatable {
    /// Frames taken from the device.
    public var framesReceived: UInt64 = 0
    /// Frames handed to the device.
    public var framesTransmitted: UInt64 = 0
    /// Frames shorter than a header.
    public var malformed: UInt64 = 0
    /// VLAN-tagged frames (rejected).
    public var vlanTagged: UInt64 = 0
    /// Frames for another MAC address or a multicast group we did not join.
    public var notForUs: UInt64 = 0
    /// Frames of an EtherType we do not implement (IPv6, 802.3 length frames, ...).
    public var unknownType: UInt64 = 0
    /// Frames larger than the receive buffer (MTU + 18).
    public var oversized: UInt64 = 0
    /// Frames the device refused to queue (transmit queue full).
    public var transmitFailures: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Counters of the IPv4 layer (fragment reassembly has its own, in `NetworkStackCounters.reassembly`).
public struct IPv4Counters: Equatable {
    /// Packets received (valid headers).
    public var received: UInt64 = 0
    /// Packets handed to ICMP, UDP or a transport handler.
    public var delivered: UInt64 = 0
    /// Packets with a bad version, header length or total length.
    public var malformed: UInt64 = 0
    /// Packets whose header checksum failed.
    public var badChecksum: UInt64 = 0
    /// Packets from a broadcast, multicast or loopback source ("martians").
    public var badSource: UInt64 = 0
    /// Packets for another address (or multicast, which is not supported).
    public var notForUs: UInt64 = 0
    /// Packets for a protocol with no handler.
    public var unknownProtocol: UInt64 = 0
    /// Packets sent (transmitted or queued for ARP).
    public var sent: UInt64 = 0
    /// Packets sent to this host itself (counted in `sent` too).
    public var loopedBack: UInt64 = 0
    /// Sends refused: payload larger than the MTU allows (no output fragmentation).
    public var sendTooLong: UInt64 = 0
    /// Sends refused: off-link destination without a gateway, or a 127/8 source bound for the wire.
    public var sendNoRoute: UInt64 = 0
    /// Sends refused: the interface has no address.
    public var sendNotConfigured: UInt64 = 0
    /// Sends refused: ARP queue or device transmit queue full.
    public var sendWouldBlock: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Counters of ICMP.
public struct ICMPCounters: Equatable {
    /// Messages received.
    public var received: UInt64 = 0
    /// Messages shorter than 8 bytes.
    public var malformed: UInt64 = 0
    /// Messages whose checksum failed.
    public var badChecksum: UInt64 = 0
    /// Echo requests received.
    public var echoRequestsReceived: UInt64 = 0
    /// Echo replies sent.
    public var echoRepliesSent: UInt64 = 0
    /// Echo requests to a broadcast address, ignored.
    public var broadcastEchoIgnored: UInt64 = 0
    /// Echo requests sent by `sendEchoRequest`.
    public var echoRequestsSent: UInt64 = 0
    /// Echo replies received.
    public var echoRepliesReceived: UInt64 = 0
    /// Echo replies dropped because the reply queue was full.
    public var echoReplyQueueDrops: UInt64 = 0
    /// Error messages received (destination unreachable, time exceeded, ...).
    public var errorsReceived: UInt64 = 0
    /// Other message types received and ignored.
    public var otherReceived: UInt64 = 0
    /// Error messages sent.
    public var errorsSent: UInt64 = 0
    /// Error messages suppressed by the rate limit.
    public var errorsRateLimited: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Counters of UDP.
public struct UDPCounters: Equatable {
    /// Datagrams received.
    public var received: UInt64 = 0
    /// Datagrams queued on a socket or consumed by DHCP or DNS.
    public var delivered: UInt64 = 0
    /// Datagrams with a bad length field.
    public var malformed: UInt64 = 0
    /// Datagrams whose checksum failed.
    public var badChecksum: UInt64 = 0
    /// Datagrams for a port with no socket (answered with port unreachable unless broadcast).
    public var noSocket: UInt64 = 0
    /// Datagrams dropped because the socket's queue was full.
    public var queueFull: UInt64 = 0
    /// Datagrams sent.
    public var sent: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Every counter of a `NetworkStack`. Every packet the stack drops is counted in one of them.
public struct NetworkStackCounters: Equatable {
    /// Ethernet framing.
    public var ethernet = EthernetCounters()
    /// ARP packets, the cache and the resolution queue.
    public var arp = ARPCounters()
    /// IPv4 input and output.
    public var ipv4 = IPv4Counters()
    /// Fragment reassembly.
    public var reassembly = IPv4ReassemblyCounters()
    /// ICMP.
    public var icmp = ICMPCounters()
    /// UDP.
    public var udp = UDPCounters()
    /// Zero when the interface is statically configured.
    public var dhcp = DHCPCounters()
    /// The DNS client.
    public var dns = DNSCounters()
    /// DHCP messages on port 68 that failed to parse.
    public var dhcpMalformed: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Why `NetworkStack.register` refused a transport handler.
public enum NetworkStackError: Error, Equatable, CustomStringConvertible {
    /// Another handler serves the protocol.
    case protocolInUse(UInt8)
    /// The stack implements the protocol itself (ICMP, UDP).
    case reservedProtocol(UInt8)

    /// What went wrong, for logs.
    public var description: String {
        switch self {
        case .protocolInUse(let p): return "IP protocol \(p) already has a handler"
        case .reservedProtocol(let p): return "IP protocol \(p) is built into the stack"
        }
    }
}

/// Why the stack could not send an IPv4 packet.
public enum IPv4SendError: Error, Equatable, CustomStringConvertible {
    /// The interface has no IPv4 address yet.
    case notConfigured
    /// Off-link destination and no gateway.
    case noRoute(IPv4Address)
    /// The packet would exceed the MTU; the stack does not fragment on output.
    case tooLong(Int)
    /// The next hop's ARP queue or the device's transmit queue is full; try again after a poll.
    case wouldBlock

    public var description: String {
        switch self {
        case .notConfigured: return "interface has no IPv4 address"
        case .noRoute(let a): return "no route to \(a)"
        case .tooLong(let n): return "IPv4 payload of \(n) bytes exceeds the MTU"
        case .wouldBlock: return "transmit queue full"
        }
    }
}
