import Interfaces

/// DHCP message types, option 53 (RFC 2132 §9.6).
public enum DHCPMessageType: UInt8, Equatable, CustomStringConvertible {
    /// Client broadcast to locate servers.
    case discover = 1
    /// Server's offer of an address.
    case offer = 2
    /// Client's request for an offered address, or renewal.
    case request = 3
    /// Client: the address is already in use.
    case decline = 4
    /// Server: the lease is granted.
    case ack = 5
    /// Server: the request is refused.
    case nak = 6
    /// Client gives the address back.
    case release = 7
    /// Client asks for configuration only.
    case inform = 8

    public var description: String {
        switch self {
        case .discover: return "DHCPDISCOVER"
        case .offer: return "DHCPOFFER"
        case .request: return "DHCPREQUEST"
        case .decline: return "DHCPDECLINE"
        case .ack: return "DHCPACK"
        case .nak: return "DHCPNAK"
        case .release: return "DHCPRELEASE"
        case .inform: return "DHCPINFORM"
        }
    }
}

/// DHCP option codes this stack reads or writes (RFC 2132).
public enum DHCPOptionCode {
    /// Pad (§3.1): a single zero byte.
    public static let pad: UInt8 = 0
    /// Subnet mask (§3.3).
    public static let subnetMask: UInt8 = 1
    /// Routers, in order of preference (§3.5).
    public static let router: UInt8 = 3
    /// Domain name servers (§3.8).
    public static let domainNameServer: UInt8 = 6
    /// Host name (§3.14).
    public static let hostName: UInt8 = 12
    /// Requested IP address (§9.1).
    public static let requestedAddress: UInt8 = 50
    /// IP address lease time in seconds (§9.2).
    public static let leaseTime: UInt8 = 51
    /// Option overload: options continue in `file` (1), `sname` (2) or both (3) (§9.3).
    public static let overload: UInt8 = 52
    /// DHCP message type (§9.6).
    public static let messageType: UInt8 = 53
    /// Server identifier (§9.7).
    public static let serverIdentifier: UInt8 = 54
    /// Parameter request list (§9.8).
    public static let parameterRequestList: UInt8 = 55
    /// Maximum DHCP message size (§9.10).
    public static let maximumMessageSize: UInt8 = 57
    /// Renewal (T1) time in seconds (§9.11).
    public static let renewalTime: UInt8 = 58
    /// Rebinding (T2) time in seconds (§9.12).
    public static let rebindingTime: UInt8 = 59
    /// Client identifier (§9.14).
    public static let clientIdentifier: UInt8 = 61
    /// End (§3.2).
    public static let end: UInt8 = 255
}

/// The options of a DHCP message that this stack understands (RFC 2132). Unknown options are skipped.
/// Address lists keep at most `DHCPOptions.maximumListLength` entries.
public struct DHCPOptions: Equatable {
    /// The most addresses kept from a router or DNS-server list.
    public static let maximumListLength = 8

    /// Option 53.
    public var messageType: DHCPMessageType?
    /// Option 1.
    public var subnetMask: IPv4Address?
    /// Option 3, in order of preference.
    public var routers: [IPv4Address] = []
    /// Option 6.
    public var dnsServers: [IPv4Address] = []
    /// Option 51, seconds (0xFFFFFFFF: infinite).
    public var leaseTime: UInt32?
    /// Option 58, seconds.
    public var renewalTime: UInt32?
    /// Option 59, seconds.
    public var rebindingTime: UInt32?
    /// Option 54.
    public var serverIdentifier: IPv4Address?
    /// Option 50.
    public var requestedAddress: IPv4Address?
    /// Option 55: the codes a client asks for.
    public var parameterRequestList: [UInt8] = []
    /// Option 57.
    public var maximumMessageSize: UInt16?

    /// No options.
    public init() {}
}

/// A view of a DHCP message (RFC 2131 §2, Figure 1): the BOOTP fixed part (236 bytes), the magic cookie and
/// the options.
///
/// Validation checks the length (at least 240 bytes), `op` (1 or 2) and the magic cookie. Options are parsed
/// on demand, bounded by their area: `forEachOption` never reads outside the message, and a length byte that
/// runs past its area is reported as `malformedOption`. Option overload (option 52) is honoured: options then
/// continue in `file` and/or `sname`. A missing end option is tolerated (parsing stops at the area's end).
///
/// Invariant: `bytes.count >= 240`.
public struct DHCPMessage {
    /// The length of the fixed BOOTP part.
    public static let fixedLength = 236
    /// The smallest valid message: the fixed part plus the magic cookie.
    public static let minimumLength = 240
    /// The magic cookie 99.130.83.99 (RFC 2131 §3).
    public static let magicCookie: UInt32 = 0x6382_5363
    /// The UDP port of DHCP servers.
    public static let serverPort: UInt16 = 67
    /// The UDP port of DHCP clients.
    public static let clientPort: UInt16 = 68
    /// `op` of a client message.
    public static let bootRequest: UInt8 = 1
    /// `op` of a server message.
    public static let bootReply: UInt8 = 2

    /// The whole message.
    public let bytes: UnsafeRawBufferPointer

    /// Validates `bytes` (a UDP payload) as a DHCP message.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireFormatError) {
        guard bytes.count >= DHCPMessage.minimumLength else {
            throw .truncated(needed: DHCPMessage.minimumLength, available: bytes.count)
        }
        guard bytes[0] == DHCPMessage.bootRequest || bytes[0] == DHCPMessage.bootReply else { throw .badField }
        guard NetBytes.u32(bytes, 236) == DHCPMessage.magicCookie else { throw .badMagicCookie }
        self.bytes = bytes
    }

    /// `op`: 1 BOOTREQUEST, 2 BOOTREPLY.
    public var op: UInt8 { bytes[0] }
    /// Hardware address type (1: Ethernet).
    public var hardwareType: UInt8 { bytes[1] }
    /// Hardware address length (6 for Ethernet).
    public var hardwareAddressLength: UInt8 { bytes[2] }
    /// Relay hops.
    public var hops: UInt8 { bytes[3] }
    /// Transaction id chosen by the client.
    public var transactionID: UInt32 { NetBytes.u32(bytes, 4) }
    /// Seconds since the client began acquisition or renewal.
    public var seconds: UInt16 { NetBytes.u16(bytes, 8) }
    /// Flags; bit 15 is BROADCAST.
    public var flags: UInt16 { NetBytes.u16(bytes, 10) }
    /// The BROADCAST flag (RFC 2131 §4.1): the client cannot receive unicast before it is configured.
    public var broadcastFlag: Bool { flags & 0x8000 != 0 }
    /// `ciaddr`: the client's current address (RENEWING, REBINDING, INFORM).
    public var clientAddress: IPv4Address { IPv4Address(bytes: bytes, offset: 12) }
    /// `yiaddr`: the address offered to or assigned to the client.
    public var yourAddress: IPv4Address { IPv4Address(bytes: bytes, offset: 16) }
    /// `siaddr`: the next server in bootstrap.
    public var serverAddress: IPv4Address { IPv4Address(bytes: bytes, offset: 20) }
    /// `giaddr`: the relay agent.
    public var relayAddress: IPv4Address { IPv4Address(bytes: bytes, offset: 24) }
    /// The first six bytes of `chaddr` (the client's MAC for Ethernet).
    public var clientHardwareAddress: MACAddress { MACAddress(bytes: bytes, offset: 28) }

    /// Calls `body(code, data)` for each option in order (pad and end excluded), across the overloaded areas.
    /// Throws `malformedOption` when an option's length runs past its area; options before it were delivered.
    public func forEachOption(_ body: (UInt8, UnsafeRawBufferPointer) -> Void) throws(WireFormatError) {
        var overload: UInt8 = 0
        try DHCPMessage.walk(NetBytes.slice(bytes, DHCPMessage.minimumLength, bytes.count)) { code, data in
            if code == DHCPOptionCode.overload {
                if data.count == 1 { overload = data[0] }
            } else {
                body(code, data)
            }
        }
        // RFC 2132 §9.3: with overload, `file` (108..<236) is read first, then `sname` (44..<108).
        if overload & 1 != 0 {
            try DHCPMessage.walk(NetBytes.slice(bytes, 108, 236)) { code, data in
                if code != DHCPOptionCode.overload { body(code, data) }
            }
        }
        if overload & 2 != 0 {
            try DHCPMessage.walk(NetBytes.slice(bytes, 44, 108)) { code, data in
                if code != DHCPOptionCode.overload { body(code, data) }
            }
        }
    }

    /// Walks one option area. Each step consumes at least one byte, so the loop is bounded by the area length.
    private static func walk(_ area: UnsafeRawBufferPointer,
                             _ body: (UInt8, UnsafeRawBufferPointer) -> Void) throws(WireFormatError) {
        var i = 0
        while i < area.count {
            let code = area[i]
            if code == DHCPOptionCode.pad { i += 1; continue }
            if code == DHCPOptionCode.end { return }
            guard i + 1 < area.count else { throw .malformedOption(code: code) }
            let length = Int(area[i + 1])
            let start = i + 2
            guard start + length <= area.count else { throw .malformedOption(code: code) }
            body(code, NetBytes.slice(area, start, start + length))
            i = start + length
        }
    }

    /// Parses the options this stack understands. Throws `malformedOption` for a truncated option or a known
    /// option with a length its definition forbids (e.g. a 3-byte subnet mask); unknown options are skipped.
    public func parseOptions() throws(WireFormatError) -> DHCPOptions {
        var options = DHCPOptions()
        var bad: UInt8? = nil
        try forEachOption { code, data in
            guard bad == nil else { return }
            func address() -> IPv4Address? {
                guard data.count == 4 else { bad = code; return nil }
                return IPv4Address(bytes: data, offset: 0)
            }
            func seconds() -> UInt32? {
                guard data.count == 4 else { bad = code; return nil }
                return NetBytes.u32(data, 0)
            }
            func addressList(_ list: inout [IPv4Address]) {
                guard data.count >= 4, data.count % 4 == 0 else { bad = code; return }
                var offset = 0
                while offset < data.count {
                    if list.count < DHCPOptions.maximumListLength { list.append(IPv4Address(bytes: data, offset: offset)) }
                    offset += 4
                }
            }
            switch code {
            case DHCPOptionCode.messageType:
                guard data.count == 1, let type = DHCPMessageType(rawValue: data[0]) else { bad = code; return }
                options.messageType = type
            case DHCPOptionCode.subnetMask: options.subnetMask = address()
            case DHCPOptionCode.router: addressList(&options.routers)
            case DHCPOptionCode.domainNameServer: addressList(&options.dnsServers)
            case DHCPOptionCode.leaseTime: options.leaseTime = seconds()
            case DHCPOptionCode.renewalTime: options.renewalTime = seconds()
            case DHCPOptionCode.rebindingTime: options.rebindingTime = seconds()
            case DHCPOptionCode.serverIdentifier: options.serverIdentifier = address()
            case DHCPOptionCode.requestedAddress: options.requestedAddress = address()
            case DHCPOptionCode.parameterRequestList:
                for b in data { options.parameterRequestList.append(b) }
            case DHCPOptionCode.maximumMessageSize:
                guard data.count == 2 else { bad = code; return }
                options.maximumMessageSize = NetBytes.u16(data, 0)
            default: break
            }
        }
        if let bad { throw .malformedOption(code: bad) }
        return options
    }
}

/// Builds a DHCP message into a caller-provided buffer: the fixed part first (`init`), then options
/// (`append…`), then `finish()`. Never writes past the buffer: an option that does not fit sets `overflowed`
/// and is left out.
public struct DHCPMessageWriter {
    /// The message's buffer.
    public let buffer: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    public private(set) var length: Int
    /// Whether an option did not fit (the message is then incomplete and should not be sent).
    public private(set) var overflowed = false

    /// Writes the fixed part and the magic cookie. `sname` and `file` are zeroed; `chaddr` holds `hardwareAddress`
    /// followed by zeros. Precondition: `buffer.count >= 241` (fixed part, cookie, end option).
    public init(buffer: UnsafeMutableRawBufferPointer, op: UInt8, transactionID: UInt32, seconds: UInt16 = 0,
                broadcast: Bool = false, clientAddress: IPv4Address = .any, yourAddress: IPv4Address = .any,
                serverAddress: IPv4Address = .any, relayAddress: IPv4Address = .any, hardwareAddress: MACAddress) {
        precondition(buffer.count > DHCPMessage.minimumLength, "DHCP buffer too short")
        self.buffer = buffer
        NetBytes.zero(buffer, 0, DHCPMessage.minimumLength)
        buffer[0] = op
        buffer[1] = 1
        buffer[2] = 6
        NetBytes.put32(buffer, 4, transactionID)
        NetBytes.put16(buffer, 8, seconds)
        NetBytes.put16(buffer, 10, broadcast ? 0x8000 : 0)
        clientAddress.write(to: buffer, at: 12)
        yourAddress.write(to: buffer, at: 16)
        serverAddress.write(to: buffer, at: 20)
        relayAddress.write(to: buffer, at: 24)
        hardwareAddress.write(to: buffer, at: 28)
        NetBytes.put32(buffer, 236, DHCPMessage.magicCookie)
        length = DHCPMessage.minimumLength
    }

    /// Appends option `code` with `count` data bytes written by `body`; leaves one byte for the end option.
    private mutating func append(_ code: UInt8, count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
        guard count <= 255, length + 2 + count + 1 <= buffer.count else { overflowed = true; return }
        buffer[length] = code
        buffer[length + 1] = UInt8(count)
        body(NetBytes.slice(buffer, length + 2, length + 2 + count))
        length += 2 + count
    }

    /// Appends the message-type option (53).
    public mutating func append(messageType: DHCPMessageType) {
        append(DHCPOptionCode.messageType, count: 1) { $0[0] = messageType.rawValue }
    }

    /// Appends a one-address option (subnet mask, requested address, server identifier, ...).
    public mutating func append(_ code: UInt8, address: IPv4Address) {
        append(code, count: 4) { address.write(to: $0, at: 0) }
    }

    /// Appends an address-list option (routers, DNS servers), at most 63 addresses.
    public mutating func append(_ code: UInt8, addresses: [IPv4Address]) {
        let list = addresses.prefix(63)
        append(code, count: 4 * list.count) { out in
            var offset = 0
            for a in list { a.write(to: out, at: offset); offset += 4 }
        }
    }

    /// Appends a 32-bit option (lease, T1, T2 times).
    public mutating func append(_ code: UInt8, seconds: UInt32) {
        append(code, count: 4) { NetBytes.put32($0, 0, seconds) }
    }

    /// Appends a 16-bit option (maximum message size).
    public mutating func append(_ code: UInt8, value: UInt16) {
        append(code, count: 2) { NetBytes.put16($0, 0, value) }
    }

    /// Appends an option with raw data (parameter request list, client identifier, host name); at most 255 bytes.
    public mutating func append(_ code: UInt8, bytes: [UInt8]) {
        append(code, count: bytes.count) { out in
            for (i, b) in bytes.enumerated() { out[i] = b }
        }
    }

    /// Writes the end option, pads with zeros to `minimumLength` (300 by default: the BOOTP minimum that some
    /// relays and servers insist on, RFC 1542 §2.1) if the buffer allows, and returns the message length.
    public mutating func finish(minimumLength: Int = 300) -> Int {
        buffer[length] = DHCPOptionCode.end
        length += 1
        let target = min(max(minimumLength, length), buffer.count)
        NetBytes.zero(buffer, length, target)
        length = target
        return length
    }
}
