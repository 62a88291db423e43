import FuzzSupport
import Interfaces
import TCPStack

// Target `dhcp`: the DHCP message parser (RFC 2131 §2, RFC 2132 options with overload) on arbitrary bytes, and
// the `DHCPClient` state machine (RFC 2131 §4.4) fed server replies decoded from the input.
//
// Input: byte 0 selects client settings; a 16-bit length and that many bytes form a message for the parser;
// the rest is a list of client operations (see `runClient`).
//
// Checked: acceptance agrees with a model (240 bytes, op 1 or 2, magic cookie); `forEachOption` agrees with a
// reference walk of the option areas, overload included; `parseOptions` agrees with what the walk yields and
// round-trips through `DHCPMessageWriter`; the client only sends well-formed BOOTREQUESTs from its own MAC, holds
// a lease exactly in BOUND, RENEWING and REBINDING, keeps T1 <= T2 <= expiry, reports events that match its
// state, and never stays due: after a few polls at one instant its next deadline lies in the future.

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { fuzzOne(data, size, dhcp) }


func dhcp(_ bytes: UnsafeRawBufferPointer) {
    var input = FuzzInput(bytes)
    let mode = input.u8()
    checkMessage(input.chunk())
    runClient(&input, mode: mode)
}

// MARK: - Parser

/// The options a reference walk finds: (code, data) in order, pad/end/overload excluded; nil when malformed.
func referenceWalk(_ b: UnsafeRawBufferPointer) -> [(UInt8, [UInt8])]? {
    var out: [(UInt8, [UInt8])] = []
    var overload: UInt8 = 0
    func walk(_ start: Int, _ end: Int, main: Bool) -> Bool {
        var i = start
        while i < end {
            let code = b[i]
            if code == 0 { i += 1; continue }
            if code == 255 { return true }
            guard i + 1 < end else { return false }
            let len = Int(b[i + 1])
            guard i + 2 + len <= end else { return false }
            let data = Array(b[(i + 2)..<(i + 2 + len)])
            if code == 52 {
                if main && len == 1 { overload = data[0] }
            } else {
                out.append((code, data))
            }
            i += 2 + len
        }
        return true
    }
    guard walk(240, b.count, main: true) else { return nil }
    if overload & 1 != 0 { guard walk(108, 236, main: false) else { return nil } }
    if overload & 2 != 0 { guard walk(44, 108, main: false) else { return nil } }
    return out
}

func checkMessage(_ b: UnsafeRawBufferPointer) {
    let valid = b.count >= 240 && (b[0] == 1 || b[0] == 2) && b[236] == 99 && b[237] == 130 && b[238] == 83
        && b[239] == 99
    let message: DHCPMessage
    do {
        message = try DHCPMessage(validating: b)
    } catch {
        require(!valid, "refused a valid message (\(error))")
        switch error {
        case .truncated(let needed, let available): require(b.count < 240 && needed == 240 && available == b.count, "\(error)")
        case .badField: require(b.count >= 240 && b[0] != 1 && b[0] != 2, "badField")
        case .badMagicCookie: require(b.count >= 240 && (b[0] == 1 || b[0] == 2), "badMagicCookie")
        default: invariantFailed("unexpected error \(error)")
        }
        return
    }
    require(valid, "accepted an invalid message")
    require(message.op == b[0] && message.hardwareType == b[1] && message.hops == b[3], "fixed fields")
    require(message.transactionID == UInt32(b[4]) << 24 | UInt32(b[5]) << 16 | UInt32(b[6]) << 8 | UInt32(b[7]), "xid")
    require(message.broadcastFlag == (b[10] & 0x80 != 0), "broadcast flag")
    require(message.yourAddress == IPv4Address(bytes: b, offset: 16), "yiaddr")
    require(message.clientHardwareAddress == MACAddress(bytes: b, offset: 28), "chaddr")
    let expected = referenceWalk(b)
    var seen: [(UInt8, [UInt8])] = []
    do {
        try message.forEachOption { code, data in seen.append((code, Array(data))) }
        require(expected != nil, "forEachOption accepted malformed options")
    } catch {
        guard case .malformedOption = error else { invariantFailed("forEachOption threw \(error)") }
        require(expected == nil, "forEachOption refused options the reference walk accepts")
        // Options before the malformed one were delivered; they are a prefix of nothing we can compare to.
        require((try? message.parseOptions()) == nil, "parseOptions accepted what forEachOption refused")
        return
    }
    let reference = expected!
    require(seen.count == reference.count, "option count \(seen.count) vs \(reference.count)")
    for (a, b) in zip(seen, reference) { require(a.0 == b.0 && a.1 == b.1, "option \(a.0) differs") }
    let parsed: DHCPOptions
    do {
        parsed = try message.parseOptions()
    } catch {
        guard case .malformedOption(let code) = error else { invariantFailed("parseOptions threw \(error)") }
        // The code named must be a known option with a length its definition forbids.
        let bad = reference.contains { $0.0 == code && !lengthAllowed(code, $0.1) }
        require(bad, "parseOptions refused option \(code) without cause")
        return
    }
    for (code, data) in reference { require(lengthAllowed(code, data), "accepted option \(code) of length \(data.count)") }
    // Last occurrence wins for single values; lists keep the first eight addresses of the last list.
    func last(_ code: UInt8) -> [UInt8]? { reference.last { $0.0 == code }?.1 }
    func address(_ d: [UInt8]?) -> IPv4Address? {
        d.map { IPv4Address(UInt32($0[0]) << 24 | UInt32($0[1]) << 16 | UInt32($0[2]) << 8 | UInt32($0[3])) }
    }
    require(parsed.subnetMask == address(last(1)), "subnet mask")
    require(parsed.serverIdentifier == address(last(54)), "server identifier")
    require(parsed.requestedAddress == address(last(50)), "requested address")
    require(parsed.leaseTime == address(last(51))?.value, "lease time")
    require(parsed.messageType?.rawValue == last(53)?[0], "message type")
    require(parsed.routers.count <= DHCPOptions.maximumListLength && parsed.dnsServers.count <= 8, "list bounds")
    require(parsed.parameterRequestList == reference.filter { $0.0 == 55 }.flatMap { $0.1 }, "parameter list")
    _ = parsed.messageType?.description
    roundTrip(parsed, message: message)
}

/// The lengths `parseOptions` documents for the options it reads.
func lengthAllowed(_ code: UInt8, _ data: [UInt8]) -> Bool {
    switch code {
    case 53: return data.count == 1 && data[0] >= 1 && data[0] <= 8
    case 1, 50, 51, 54, 58, 59: return data.count == 4
    case 3, 6: return data.count >= 4 && data.count % 4 == 0
    case 57: return data.count == 2
    default: return true
    }
}

/// Writes the parsed options back with `DHCPMessageWriter` and parses them again.
func roundTrip(_ options: DHCPOptions, message: DHCPMessage) {
    guard options.parameterRequestList.count <= 255 else { return }
    var buffer = [UInt8](repeating: 0, count: 1500)
    let length = buffer.withUnsafeMutableBytes { b -> Int in
        var w = DHCPMessageWriter(buffer: b, op: message.op, transactionID: message.transactionID,
                                  broadcast: message.broadcastFlag, yourAddress: message.yourAddress,
                                  hardwareAddress: message.clientHardwareAddress)
        if let t = options.messageType { w.append(messageType: t) }
        if let a = options.subnetMask { w.append(DHCPOptionCode.subnetMask, address: a) }
        if !options.routers.isEmpty { w.append(DHCPOptionCode.router, addresses: options.routers) }
        if !options.dnsServers.isEmpty { w.append(DHCPOptionCode.domainNameServer, addresses: options.dnsServers) }
        if let s = options.leaseTime { w.append(DHCPOptionCode.leaseTime, seconds: s) }
        if let s = options.renewalTime { w.append(DHCPOptionCode.renewalTime, seconds: s) }
        if let s = options.rebindingTime { w.append(DHCPOptionCode.rebindingTime, seconds: s) }
        if let a = options.serverIdentifier { w.append(DHCPOptionCode.serverIdentifier, address: a) }
        if let a = options.requestedAddress { w.append(DHCPOptionCode.requestedAddress, address: a) }
        if !options.parameterRequestList.isEmpty {
            w.append(DHCPOptionCode.parameterRequestList, bytes: options.parameterRequestList)
        }
        if let m = options.maximumMessageSize { w.append(DHCPOptionCode.maximumMessageSize, value: m) }
        require(!w.overflowed, "writer overflowed 1500 bytes")
        return w.finish()
    }
    require(length >= 300 && length <= 1500, "finished length \(length)")
    buffer.withUnsafeBytes { raw in
        let slice = UnsafeRawBufferPointer(rebasing: raw[0..<length])
        guard let again = try? DHCPMessage(validating: slice), let reparsed = try? again.parseOptions() else {
            invariantFailed("written message does not parse")
        }
        require(reparsed == options, "options round trip")
        require(again.transactionID == message.transactionID && again.yourAddress == message.yourAddress, "fields")
    }
}

// MARK: - Client

let mac = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x01)
let servers = [IPv4Address(10, 0, 2, 2), IPv4Address(10, 0, 2, 3), IPv4Address(192, 168, 1, 1)]
let offers = [IPv4Address(10, 0, 2, 15), IPv4Address(10, 0, 2, 16), IPv4Address(192, 168, 1, 100),
              IPv4Address(0), IPv4Address(0xFFFF_FFFF), IPv4Address(224, 0, 0, 1), IPv4Address(127, 0, 0, 1)]
let leaseChoices: [UInt32?] = [3600, nil, 0, 1, 7, 0xFFFF_FFFF, 86_400 * 365, 60]

/// Operations, one per step: `kind = byte % 4`.
///   0: the clock moves by (16-bit value × 10 ms), then `poll`
///   1: a structured reply: type, offer index, server index, prefix, lease choice, T1/T2 bits (one byte each),
///      flags (bit 0 wrong xid, bit 1 wrong chaddr)
///   2: a raw message (16-bit length, bytes) with op, xid, chaddr and cookie patched to match (flags byte first)
///   3: `release` (bit 0 of the next byte) or `restart`
func runClient(_ input: inout FuzzInput, mode: UInt8) {
    var configuration = DHCPClientConfiguration()
    configuration.requestBroadcastReplies = mode & 1 != 0
    configuration.startDelay = mode & 2 != 0 ? .seconds(2) : .zero
    configuration.requestAttempts = Int(mode >> 2 & 3) + 1
    configuration.jitter = mode & 16 != 0 ? .zero : .seconds(1)
    if mode & 32 != 0 { configuration.hostName = Array("unikernel".utf8) }
    var client = DHCPClient(mac: mac, entropy: SeededEntropy(seed: UInt64(mode)), configuration: configuration,
                            maximumMessageSize: 1500)
    var now = Instant(nanoseconds: 5_000_000_000)
    var xid: UInt32 = 0
    let send: (DHCPDestination, UnsafeRawBufferPointer) -> Void = { destination, bytes in
        xid = audit(destination, bytes, client: mac)
    }
    func settle() {
        var polls = 0
        while let d = client.nextDeadline, d <= now {
            polls += 1
            require(polls <= 16, "client stays due at \(now) in \(client.state)")
            check(client.poll(now: now, send: send), &client, now)
        }
    }
    settle()
    var steps = 0
    while !input.isEmpty && steps < 100 {
        steps += 1
        switch input.u8() % 4 {
        case 0:
            now = now + .milliseconds(Int64(input.u16()) * 10)
            settle()
        case 1:
            let type = DHCPMessageType(rawValue: input.u8() % 8 + 1)!
            let offered = offers[Int(input.u8()) % offers.count]
            let server = servers[Int(input.u8()) % servers.count]
            let prefix = Int(input.u8() % 33)
            let lease = leaseChoices[Int(input.u8()) % leaseChoices.count]
            let times = input.u8()
            let flags = input.u8()
            let reply = Packets.dhcpReply(
                type: type, transactionID: flags & 1 != 0 ? xid &+ 1 : xid,
                client: flags & 2 != 0 ? MACAddress(0x02, 0, 0, 0, 0, 2) : mac, yourAddress: offered, server: server,
                prefixLength: prefix, router: times & 4 != 0 ? server : nil,
                dnsServers: times & 8 != 0 ? [server, servers[0]] : [],
                leaseSeconds: lease, renewal: times & 1 != 0 ? (lease ?? 100) / 3 : nil,
                rebinding: times & 2 != 0 ? (lease ?? 100) / 2 : nil)
            deliver(reply, &client, now, send)
        case 2:
            let flags = input.u8()
            var raw = Array(input.chunk())
            if raw.count >= 240 {
                if flags & 1 == 0 { raw[0] = 2 }
                if flags & 2 == 0 { for i in 0..<4 { raw[4 + i] = UInt8(truncatingIfNeeded: xid >> (24 - 8 * UInt32(i))) } }
                if flags & 4 == 0 { raw.withUnsafeMutableBytes { mac.write(to: $0, at: 28) } }
                if flags & 8 == 0 { raw[236] = 99; raw[237] = 130; raw[238] = 83; raw[239] = 99 }
            }
            deliver(raw, &client, now, send)
        default:
            if input.bool() {
                check(client.release(now: now, send: send), &client, now)
                require(client.lease == nil && client.nextDeadline == nil, "release left a lease or a timer")
            } else {
                client.restart(now: now)
                require(client.lease == nil && client.state == .initial, "restart")
            }
            settle()
        }
        check(nil, &client, now)
        _ = client.state.description
    }
}

func deliver(_ bytes: [UInt8], _ client: inout DHCPClient, _ now: Instant,
             _ send: (DHCPDestination, UnsafeRawBufferPointer) -> Void) {
    bytes.withUnsafeBytes { raw in
        guard let message = try? DHCPMessage(validating: raw) else { return }
        let event = client.receive(message, now: now, send: send)
        check(event, &client, now)
    }
}

/// Invariants of the client after a step that returned `event`.
func check(_ event: DHCPEvent?, _ client: inout DHCPClient, _ now: Instant) {
    let leased = client.state == .bound || client.state == .renewing || client.state == .rebinding
    require((client.lease != nil) == leased, "lease \(client.lease != nil) in state \(client.state)")
    switch event {
    case .bound(let lease), .renewed(let lease):
        require(client.lease == lease && client.state == .bound, "event lease differs from the client's")
    case .lost:
        require(client.lease == nil, "lost but still leased")
    case nil:
        break
    }
    if let lease = client.lease {
        let a = lease.network.address
        require(a != .any && a != .broadcast && !a.isMulticast && !a.isLoopback, "leased unusable address \(a)")
        require(lease.network.prefixLength >= 0 && lease.network.prefixLength <= 32, "prefix")
        require(lease.dnsServers.count <= DHCPOptions.maximumListLength, "DNS server list")
        require(lease.acquired <= now, "lease acquired in the future")
        if lease.leaseSeconds == UInt32.max {
            require(lease.renewAt == nil && lease.rebindAt == nil && lease.expiresAt == nil, "infinite lease timers")
        } else if let t1 = lease.renewAt, let t2 = lease.rebindAt, let end = lease.expiresAt {
            require(lease.acquired <= t1 && t1 <= t2 && t2 <= end, "T1 \(t1) T2 \(t2) end \(end)")
        } else {
            invariantFailed("finite lease without timers")
        }
    }
}

/// Checks a message the client sends; returns its transaction id.
func audit(_ destination: DHCPDestination, _ bytes: UnsafeRawBufferPointer, client: MACAddress) -> UInt32 {
    require(bytes.count >= 300 && bytes.count <= 576, "sent \(bytes.count) bytes")
    guard let message = try? DHCPMessage(validating: bytes), let options = try? message.parseOptions() else {
        invariantFailed("client sent an unparsable message: \(hex(bytes))")
    }
    require(message.op == DHCPMessage.bootRequest, "client sent op \(message.op)")
    require(message.clientHardwareAddress == client && message.hardwareType == 1 && message.hardwareAddressLength == 6,
            "client sent a foreign chaddr")
    guard let type = options.messageType else { invariantFailed("client sent no message type") }
    require(type == .discover || type == .request || type == .release, "client sent \(type)")
    if message.clientAddress != .any {
        require(destination.source == message.clientAddress, "ciaddr \(message.clientAddress) vs source")
    } else {
        require(destination.source == .any, "source without ciaddr")
    }
    if type == .discover {
        require(destination.destination == .broadcast && options.requestedAddress == nil, "discover")
    }
    return message.transactionID
}

func seeds() -> [Seed] {
    var seeds: [Seed] = []
    // Parser seeds: an offer, and one with options overloaded into `file` and `sname`.
    let offer = Packets.dhcpReply(type: .offer, transactionID: 0x1234_5678, client: mac, yourAddress: offers[0],
                                  server: servers[0], router: servers[0], dnsServers: [servers[1]], renewal: 1800,
                                  rebinding: 3000)
    var overloaded = offer
    overloaded.removeLast(overloaded.count - 240)
    overloaded += [52, 1, 3, 53, 1, 5, 255]
    overloaded.replaceSubrange(108..<118, with: [1, 4, 255, 255, 255, 0, 3, 4, 10, 0])
    overloaded[118] = 2
    overloaded[119] = 2
    overloaded[120] = 255
    overloaded.replaceSubrange(44..<50, with: [54, 4, 10, 0, 2, 2])
    overloaded[50] = 255
    var truncatedOption = Array(offer.prefix(240))
    truncatedOption += [53, 1, 2, 51, 9, 0]
    var badLength = Array(offer.prefix(240))
    badLength += [53, 1, 2, 1, 3, 255, 255, 0, 255]
    for (name, message) in [("offer", offer), ("overload", overloaded), ("truncated-option", truncatedOption),
                            ("bad-mask-length", badLength)] {
        var w = FuzzInputWriter()
        w.u8(0)
        w.chunk(message)
        seeds.append(Seed("parse-" + name, w.bytes))
    }
    // Client seeds: DISCOVER → OFFER → REQUEST → ACK, then renewal, rebinding, NAK, expiry.
    func reply(_ w: inout FuzzInputWriter, _ type: DHCPMessageType, offer: UInt8 = 0, server: UInt8 = 0,
               prefix: UInt8 = 24, lease: UInt8 = 0, times: UInt8 = 12, flags: UInt8 = 0) {
        w.u8(1); w.u8(type.rawValue - 1); w.u8(offer); w.u8(server); w.u8(prefix); w.u8(lease); w.u8(times); w.u8(flags)
    }
    func advance(_ w: inout FuzzInputWriter, seconds: Int) {
        var left = seconds * 100
        while left > 0 {
            let step = min(left, 65535)
            w.u8(0); w.u16(UInt16(step))
            left -= step
        }
    }
    var w = FuzzInputWriter()
    w.u8(16)
    w.chunk([])
    reply(&w, .offer)
    reply(&w, .ack)
    advance(&w, seconds: 1801)
    reply(&w, .ack)
    advance(&w, seconds: 3200)
    reply(&w, .nak)
    seeds.append(Seed("client-lease-renew-nak", w.bytes))
    w = FuzzInputWriter()
    w.u8(3)
    w.chunk([])
    advance(&w, seconds: 3)
    reply(&w, .offer, offer: 2, server: 2, prefix: 16, lease: 3, times: 3)
    reply(&w, .ack, offer: 2, server: 1)           // ACK from another server: ignored
    reply(&w, .ack, offer: 2, server: 2, prefix: 16, lease: 3, times: 3)
    advance(&w, seconds: 8)                        // past expiry: lease lost, new DISCOVER
    reply(&w, .offer, offer: 3)                    // unusable address
    reply(&w, .offer, flags: 1)                    // wrong xid
    w.u8(3); w.u8(1)                               // release (no lease)
    seeds.append(Seed("client-expiry-oddities", w.bytes))
    w = FuzzInputWriter()
    w.u8(0)
    w.chunk([])
    w.u8(2); w.u8(0); w.chunk(offer)              // raw OFFER with xid patched in
    w.u8(2); w.u8(0); w.chunk(Packets.dhcpReply(type: .ack, transactionID: 0, client: mac, yourAddress: offers[0],
                                                server: servers[0], leaseSeconds: 0xFFFF_FFFF))
    w.u8(3); w.u8(1)                               // release
    w.u8(3); w.u8(0)                               // restart
    seeds.append(Seed("client-raw-infinite-release", w.bytes))
    return seeds
}
