import Interfaces

/// Timers and choices of the DHCP client.
public struct DHCPClientConfiguration: Equatable {
    /// The first retransmission timeout (RFC 2131 §4.1: 4 s, doubled each time, randomised by ±1 s).
    public var initialRetransmit: Duration = .seconds(4)
    /// The largest retransmission timeout (RFC 2131 §4.1: 64 s).
    public var maximumRetransmit: Duration = .seconds(64)
    /// Random jitter added to each timeout, uniformly in `-jitter...jitter` (RFC 2131 §4.1: 1 s).
    public var jitter: Duration = .seconds(1)
    /// REQUESTs sent in REQUESTING before starting over with a DISCOVER.
    public var requestAttempts: Int = 4
    /// The longest random wait before the first DISCOVER. RFC 2131 §4.4.1 suggests 1 to 10 s to desynchronise
    /// hosts booting together; the default is 0 because a unikernel wants its address at once.
    public var startDelay: Duration = .zero
    /// The shortest retransmission interval in RENEWING and REBINDING (RFC 2131 §4.4.5: 60 s).
    public var minimumRenewRetransmit: Duration = .seconds(60)
    /// The wait after a DHCPNAK (or a failed REQUESTING phase) before starting over.
    public var restartDelay: Duration = .seconds(2)
    /// Whether to ask servers to broadcast their replies (the BROADCAST flag, RFC 2131 §4.1). The stack can
    /// receive unicast replies before it is configured, but broadcast replies also work through relays that
    /// cannot ARP for an unconfigured client.
    public var requestBroadcastReplies = true
    /// Host name to send (option 12), if any.
    public var hostName: [UInt8] = []

    /// The defaults above.
    public init() {}
}

/// The states of RFC 2131 §4.4 (Figure 5). INIT-REBOOT and REBOOTING are not implemented: the client always
/// starts from INIT.
public enum DHCPState: Equatable, CustomStringConvertible {
    /// INIT: no lease; the next poll sends a DHCPDISCOVER.
    case initial
    /// SELECTING: DHCPDISCOVER sent, waiting for an offer.
    case selecting
    /// REQUESTING: DHCPREQUEST for an offer sent, waiting for the ACK.
    case requesting
    /// BOUND: the lease is valid until T1.
    case bound
    /// RENEWING: after T1, asking the leasing server (unicast).
    case renewing
    /// REBINDING: after T2, asking any server (broadcast).
    case rebinding

    public var description: String {
        switch self {
        case .initial: return "INIT"
        case .selecting: return "SELECTING"
        case .requesting: return "REQUESTING"
        case .bound: return "BOUND"
        case .renewing: return "RENEWING"
        case .rebinding: return "REBINDING"
        }
    }
}

/// An address lease and the configuration that came with it.
public struct DHCPLease: Equatable {
    /// The address and prefix (from option 1; the classful default when the server sent no mask).
    public var network: IPv4Network
    /// The first router of option 3, if any.
    public var gateway: IPv4Address?
    /// Option 6.
    public var dnsServers: [IPv4Address]
    /// The server identifier (option 54): where RENEWING sends its REQUESTs.
    public var server: IPv4Address
    /// The lease time in seconds; `UInt32.max` is infinite.
    public var leaseSeconds: UInt32
    /// When the ACK arrived.
    public var acquired: Instant
    /// T1: when renewal starts (nil for an infinite lease).
    public var renewAt: Instant?
    /// T2: when rebinding starts.
    public var rebindAt: Instant?
    /// When the lease ends.
    public var expiresAt: Instant?
}

/// What the client reports to the stack.
public enum DHCPEvent: Equatable {
    /// A new lease (or a different address): configure the interface.
    case bound(DHCPLease)
    /// The same address was renewed or rebound; the timers moved.
    case renewed(DHCPLease)
    /// The lease ended (expired or refused): remove the address.
    case lost
}

/// Counters of the DHCP client.
public struct DHCPCounters: Equatable {
    /// DHCPDISCOVERs sent (first transmissions and retransmissions).
    public var discoversSent: UInt64 = 0
    /// DHCPREQUESTs sent (SELECTING, RENEWING and REBINDING).
    public var requestsSent: UInt64 = 0
    /// DHCPRELEASEs sent.
    public var releasesSent: UInt64 = 0
    /// DHCPOFFERs taken.
    public var offersReceived: UInt64 = 0
    /// DHCPACKs taken.
    public var acksReceived: UInt64 = 0
    /// DHCPNAKs taken.
    public var naksReceived: UInt64 = 0
    /// Replies ignored: another transaction or client, wrong state, missing or bad fields.
    public var ignored: UInt64 = 0
    /// Leases that ended without renewal.
    public var leasesLost: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Where the client wants a message sent (always from port 68 to port 67).
public struct DHCPDestination: Equatable {
    /// Source IPv4 address: 0.0.0.0 before the client has an address (RFC 2131 §4.1).
    public var source: IPv4Address
    /// 255.255.255.255, or the server's address when RENEWING.
    public var destination: IPv4Address
}

/// A DHCPv4 client: the RFC 2131 §4.4 state machine INIT → SELECTING → REQUESTING → BOUND → RENEWING →
/// REBINDING, with retransmission and exponential backoff (§4.1), lease, T1 and T2 timers (§4.4.5), and
/// transaction ids from an `EntropySource`.
///
/// Pure: it neither reads a clock nor touches the network. `poll` and `receive` take the time and a `send`
/// closure that gets the message bytes (valid during the call) and where to send them; they return an event
/// when the lease changes. The first OFFER is taken. The offered address is not probed with ARP before use
/// (RFC 2131 §4.4.1 says SHOULD), so DHCPDECLINE is never sent.
public struct DHCPClient {
    /// The interface's MAC address (chaddr, client identifier).
    public let mac: MACAddress
    /// Timers and options.
    public let configuration: DHCPClientConfiguration
    /// The state.
    public private(set) var state: DHCPState = .initial
    /// The current lease (BOUND, RENEWING, REBINDING).
    public private(set) var lease: DHCPLease?
    /// The counters.
    public var counters = DHCPCounters()

    private let entropy: any EntropySource
    private let maximumMessageSize: UInt16
    private var transactionID: UInt32 = 0
    private var started: Instant? = nil
    private var deadline: Instant? = nil
    private var timeout: Duration = .zero
    private var attempts = 0
    private var offeredAddress: IPv4Address = .any
    private var offeredServer: IPv4Address = .any
    private var scratch: [UInt8]

    /// The parameter request list sent (option 55): mask, router, DNS, lease, server id, T1, T2.
    public static let requestedParameters: [UInt8] = [
        DHCPOptionCode.subnetMask, DHCPOptionCode.router, DHCPOptionCode.domainNameServer, DHCPOptionCode.leaseTime,
        DHCPOptionCode.serverIdentifier, DHCPOptionCode.renewalTime, DHCPOptionCode.rebindingTime,
    ]

    /// Creates a client in INIT. `maximumMessageSize` is the largest DHCP message the interface can receive
    /// (option 57; at least 576, RFC 2132 §9.10).
    public init(mac: MACAddress, entropy: any EntropySource,
                configuration: DHCPClientConfiguration = DHCPClientConfiguration(), maximumMessageSize: Int = 576) {
        self.mac = mac
        self.entropy = entropy
        self.configuration = configuration
        self.maximumMessageSize = UInt16(clamping: max(576, maximumMessageSize))
        scratch = [UInt8](repeating: 0, count: 576)
    }

    /// When `poll` next has work (a retransmission, T1, T2, expiry, or the first DISCOVER).
    public var nextDeadline: Instant? { deadline }

    /// Runs timers: sends the first DISCOVER, retransmits, moves BOUND → RENEWING → REBINDING, and ends an
    /// expired lease (returning `.lost`).
    public mutating func poll(now: Instant,
                              send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) -> DHCPEvent? {
        if started == nil {
            started = now
            let delay = configuration.startDelay.nanosecondsClamped
            deadline = now + .nanoseconds(delay > 0 ? Int64(entropy.next64() % UInt64(delay + 1)) : 0)
        }
        guard let due = deadline, due <= now else { return nil }
        switch state {
        case .initial:
            startDiscovery(now: now, send: send)
        case .selecting:
            backOff(now: now)
            sendDiscover(now: now, send: send)
        case .requesting:
            if attempts >= configuration.requestAttempts {
                state = .initial
                deadline = now + configuration.restartDelay
                return nil
            }
            backOff(now: now)
            sendRequest(now: now, send: send)
        case .bound:
            guard let lease else { state = .initial; deadline = now; return nil }
            if let expires = lease.expiresAt, expires <= now { return loseLease(now: now) }
            state = .renewing
            transactionID = UInt32(truncatingIfNeeded: entropy.next64())
            started = now
            sendRenewal(now: now, send: send)
        case .renewing:
            guard let lease else { state = .initial; deadline = now; return nil }
            if let expires = lease.expiresAt, expires <= now { return loseLease(now: now) }
            if let t2 = lease.rebindAt, t2 <= now { state = .rebinding }
            sendRenewal(now: now, send: send)
        case .rebinding:
            guard let lease else { state = .initial; deadline = now; return nil }
            if let expires = lease.expiresAt, expires <= now { return loseLease(now: now) }
            sendRenewal(now: now, send: send)
        }
        return nil
    }

    /// Handles a DHCP message received on port 68. Replies for another transaction or client are ignored.
    public mutating func receive(_ message: DHCPMessage, now: Instant,
                                 send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) -> DHCPEvent? {
        guard message.op == DHCPMessage.bootReply, message.transactionID == transactionID,
              message.clientHardwareAddress == mac,
              let options = try? message.parseOptions(), let type = options.messageType
        else { counters.ignored += 1; return nil }
        switch (state, type) {
        case (.selecting, .offer):
            let offered = message.yourAddress
            guard let server = options.serverIdentifier, Self.isUsableAddress(offered) else {
                counters.ignored += 1
                return nil
            }
            counters.offersReceived += 1
            offeredAddress = offered
            offeredServer = server
            state = .requesting
            attempts = 0
            timeout = configuration.initialRetransmit
            sendRequest(now: now, send: send)
            return nil
        case (.requesting, .ack), (.renewing, .ack), (.rebinding, .ack):
            if state == .requesting, let server = options.serverIdentifier, server != offeredServer {
                counters.ignored += 1
                return nil
            }
            let address = message.yourAddress
            guard Self.isUsableAddress(address) else { counters.ignored += 1; return nil }
            counters.acksReceived += 1
            let previous = lease
            let newLease = makeLease(address: address, options: options,
                                     server: options.serverIdentifier ?? previous?.server ?? offeredServer, now: now)
            lease = newLease
            state = .bound
            deadline = newLease.renewAt
            if let previous, previous.network == newLease.network { return .renewed(newLease) }
            return .bound(newLease)
        case (.requesting, .nak), (.renewing, .nak), (.rebinding, .nak):
            counters.naksReceived += 1
            let hadLease = lease != nil
            lease = nil
            state = .initial
            deadline = now + configuration.restartDelay
            if hadLease { counters.leasesLost += 1; return .lost }
            return nil
        default:
            counters.ignored += 1
            return nil
        }
    }

    /// Gives the lease back (DHCPRELEASE, RFC 2131 §4.4.6) and stops: the client stays in INIT with no timer
    /// until `restart`. Returns `.lost` if there was a lease.
    public mutating func release(now: Instant, send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) -> DHCPEvent? {
        guard let lease else { state = .initial; deadline = nil; return nil }
        transactionID = UInt32(truncatingIfNeeded: entropy.next64())
        let (xid, mac, identifier) = (transactionID, mac, clientIdentifier)
        let length = scratch.withUnsafeMutableBytes { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootRequest, transactionID: xid,
                                      clientAddress: lease.network.address, hardwareAddress: mac)
            w.append(messageType: .release)
            w.append(DHCPOptionCode.serverIdentifier, address: lease.server)
            w.append(DHCPOptionCode.clientIdentifier, bytes: identifier)
            return w.finish()
        }
        counters.releasesSent += 1
        scratch.withUnsafeBytes {
            send(DHCPDestination(source: lease.network.address, destination: lease.server),
                 NetBytes.slice($0, 0, length))
        }
        self.lease = nil
        state = .initial
        deadline = nil
        return .lost
    }

    /// Starts over from INIT at `now` (after `release`, or to force a new lease).
    public mutating func restart(now: Instant) {
        lease = nil
        state = .initial
        started = now
        deadline = now
    }

    // MARK: - Internals

    private static func isUsableAddress(_ a: IPv4Address) -> Bool {
        a != .any && a != .broadcast && !a.isMulticast && !a.isLoopback
    }

    private var clientIdentifier: [UInt8] {
        [1, mac.octets.0, mac.octets.1, mac.octets.2, mac.octets.3, mac.octets.4, mac.octets.5]
    }

    private func jittered(_ d: Duration) -> Duration {
        let j = configuration.jitter.nanosecondsClamped
        guard j > 0 else { return d }
        let offset = Int64(entropy.next64() % UInt64(2 * j + 1)) - j
        let total = d.nanosecondsClamped + offset
        return .nanoseconds(max(total, 1_000_000))
    }

    private mutating func backOff(now: Instant) {
        timeout = min(timeout * 2, configuration.maximumRetransmit)
    }

    private mutating func startDiscovery(now: Instant, send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) {
        transactionID = UInt32(truncatingIfNeeded: entropy.next64())
        started = now
        state = .selecting
        timeout = configuration.initialRetransmit
        sendDiscover(now: now, send: send)
    }

    private func secondsSinceStart(_ now: Instant) -> UInt16 {
        guard let started else { return 0 }
        return UInt16(clamping: now.duration(since: started).nanosecondsClamped / 1_000_000_000)
    }

    private mutating func sendDiscover(now: Instant, send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) {
        let (xid, secs, broadcast, mac, common) = (transactionID, secondsSinceStart(now),
                                                   configuration.requestBroadcastReplies, mac, commonOptions)
        let length = scratch.withUnsafeMutableBytes { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootRequest, transactionID: xid,
                                      seconds: secs, broadcast: broadcast, hardwareAddress: mac)
            w.append(messageType: .discover)
            common.append(to: &w)
            return w.finish()
        }
        counters.discoversSent += 1
        deadline = now + jittered(timeout)
        scratch.withUnsafeBytes {
            send(DHCPDestination(source: .any, destination: .broadcast), NetBytes.slice($0, 0, length))
        }
    }

    private mutating func sendRequest(now: Instant, send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) {
        let (xid, secs, broadcast, mac, common) = (transactionID, secondsSinceStart(now),
                                                   configuration.requestBroadcastReplies, mac, commonOptions)
        let (offered, server) = (offeredAddress, offeredServer)
        let length = scratch.withUnsafeMutableBytes { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootRequest, transactionID: xid,
                                      seconds: secs, broadcast: broadcast, hardwareAddress: mac)
            w.append(messageType: .request)
            w.append(DHCPOptionCode.requestedAddress, address: offered)
            w.append(DHCPOptionCode.serverIdentifier, address: server)
            common.append(to: &w)
            return w.finish()
        }
        attempts += 1
        counters.requestsSent += 1
        deadline = now + jittered(timeout)
        scratch.withUnsafeBytes {
            send(DHCPDestination(source: .any, destination: .broadcast), NetBytes.slice($0, 0, length))
        }
    }

    /// A REQUEST in RENEWING (unicast to the server) or REBINDING (broadcast), with `ciaddr` set and no server
    /// identifier or requested address (RFC 2131 §4.3.2). The next retransmission is half the time left until
    /// T2 (RENEWING) or expiry (REBINDING), at least `minimumRenewRetransmit` (§4.4.5).
    private mutating func sendRenewal(now: Instant, send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) {
        guard let lease else { return }
        let address = lease.network.address
        let (xid, secs, mac, common) = (transactionID, secondsSinceStart(now), mac, commonOptions)
        let length = scratch.withUnsafeMutableBytes { buffer in
            var w = DHCPMessageWriter(buffer: buffer, op: DHCPMessage.bootRequest, transactionID: xid,
                                      seconds: secs, clientAddress: address, hardwareAddress: mac)
            w.append(messageType: .request)
            common.append(to: &w)
            return w.finish()
        }
        counters.requestsSent += 1
        let limit = (state == .renewing ? lease.rebindAt : lease.expiresAt) ?? (now + configuration.maximumRetransmit)
        // Halved in whole nanoseconds: `Duration / Int` divides 128-bit values, which needs a compiler-rt
        // routine (__udivti3) the freestanding guest does not link.
        var wait = Duration.nanoseconds(limit.duration(since: now).nanosecondsClamped / 2)
        if wait < configuration.minimumRenewRetransmit { wait = configuration.minimumRenewRetransmit }
        var next = now + wait
        if next > limit { next = limit }
        if next <= now { next = now + .milliseconds(1) }
        deadline = next
        let destination = state == .renewing ? lease.server : IPv4Address.broadcast
        scratch.withUnsafeBytes {
            send(DHCPDestination(source: address, destination: destination), NetBytes.slice($0, 0, length))
        }
    }

    /// The options every DISCOVER and REQUEST carries.
    private struct CommonOptions {
        var clientIdentifier: [UInt8]
        var maximumMessageSize: UInt16
        var hostName: [UInt8]

        func append(to w: inout DHCPMessageWriter) {
            w.append(DHCPOptionCode.clientIdentifier, bytes: clientIdentifier)
            w.append(DHCPOptionCode.parameterRequestList, bytes: DHCPClient.requestedParameters)
            w.append(DHCPOptionCode.maximumMessageSize, value: maximumMessageSize)
            if !hostName.isEmpty { w.append(DHCPOptionCode.hostName, bytes: Array(hostName.prefix(255))) }
        }
    }

    private var commonOptions: CommonOptions {
        CommonOptions(clientIdentifier: clientIdentifier, maximumMessageSize: maximumMessageSize,
                      hostName: configuration.hostName)
    }

    /// Ends the lease; the next `poll` (due at once) starts a new DISCOVER.
    private mutating func loseLease(now: Instant) -> DHCPEvent {
        lease = nil
        counters.leasesLost += 1
        state = .initial
        started = now
        deadline = now
        return .lost
    }

    private func makeLease(address: IPv4Address, options: DHCPOptions, server: IPv4Address, now: Instant) -> DHCPLease {
        let prefix: Int
        if let mask = options.subnetMask, let p = Self.prefixLength(of: mask) {
            prefix = p
        } else {
            let first = address.value >> 24
            prefix = first < 128 ? 8 : first < 192 ? 16 : 24
        }
        let seconds = options.leaseTime ?? 86_400
        var lease = DHCPLease(network: IPv4Network(address: address, prefixLength: prefix),
                              gateway: options.routers.first, dnsServers: options.dnsServers, server: server,
                              leaseSeconds: seconds, acquired: now, renewAt: nil, rebindAt: nil, expiresAt: nil)
        guard seconds != UInt32.max else { return lease }
        let total = UInt64(seconds)
        var t1 = UInt64(options.renewalTime ?? UInt32(total / 2))
        var t2 = UInt64(options.rebindingTime ?? UInt32(total * 7 / 8))
        if !(t1 < t2 && t2 < total) || t1 == 0 {
            t1 = total / 2
            t2 = total * 7 / 8
        }
        lease.renewAt = now + .seconds(Int64(t1))
        lease.rebindAt = now + .seconds(Int64(t2))
        lease.expiresAt = now + .seconds(Int64(total))
        return lease
    }

    /// The prefix length of a contiguous netmask, or nil if the mask has holes.
    static func prefixLength(of mask: IPv4Address) -> Int? {
        let ones = mask.value.leadingZeroBitCount == 0 ? (~mask.value).leadingZeroBitCount : 0
        let expected: UInt32 = ones == 0 ? 0 : UInt32.max << UInt32(32 - ones)
        return mask.value == expected ? ones : nil
    }
}
