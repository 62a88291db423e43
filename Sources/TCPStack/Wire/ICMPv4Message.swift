/// ICMP message types and codes this stack uses (RFC 792).
public enum ICMPv4Type {
    /// Echo reply.
    public static let echoReply: UInt8 = 0
    /// Destination unreachable.
    public static let destinationUnreachable: UInt8 = 3
    /// Echo request.
    public static let echoRequest: UInt8 = 8
    /// Time exceeded.
    public static let timeExceeded: UInt8 = 11
    /// Parameter problem.
    public static let parameterProblem: UInt8 = 12

    /// Whether `type` is an error message (RFC 1122 §3.2.2: never answer an error with an error).
    public static func isError(_ type: UInt8) -> Bool {
        type == destinationUnreachable || type == timeExceeded || type == parameterProblem || type == 4 || type == 5
    }
}

/// Codes of ICMP destination-unreachable messages (RFC 792; RFC 1191 for code 4).
public enum ICMPv4UnreachableCode {
    /// Network unreachable.
    public static let network: UInt8 = 0
    /// Host unreachable.
    public static let host: UInt8 = 1
    /// Protocol unreachable: no transport for the protocol number.
    public static let `protocol`: UInt8 = 2
    /// Port unreachable: no UDP socket on the port.
    public static let port: UInt8 = 3
    /// Fragmentation needed and DF set.
    public static let fragmentationNeeded: UInt8 = 4
}

/// A view of an ICMPv4 message (RFC 792): type, code, checksum, four bytes of "rest of header", data.
///
/// Validation checks the 8-byte minimum and, unless disabled, the checksum over the whole message.
/// Invariant: `bytes.count >= 8`.
public struct ICMPv4Message {
    /// The header length (type, code, checksum, rest of header).
    public static let headerLength = 8

    /// The whole message.
    public let bytes: UnsafeRawBufferPointer

    /// Validates `bytes` (the IPv4 payload) as an ICMP message.
    public init(validating bytes: UnsafeRawBufferPointer, verifyChecksum: Bool = true) throws(WireFormatError) {
        guard bytes.count >= ICMPv4Message.headerLength else {
            throw .truncated(needed: ICMPv4Message.headerLength, available: bytes.count)
        }
        if verifyChecksum && InternetChecksum.of(bytes) != 0 { throw .badChecksum }
        self.bytes = bytes
    }

    /// The message type (see `ICMPv4Type`).
    public var type: UInt8 { bytes[0] }
    /// The code.
    public var code: UInt8 { bytes[1] }
    /// The checksum field.
    public var checksum: UInt16 { NetBytes.u16(bytes, 2) }
    /// The echo identifier (bytes 4-5; meaningful for echo messages).
    public var identifier: UInt16 { NetBytes.u16(bytes, 4) }
    /// The echo sequence number (bytes 6-7; meaningful for echo messages).
    public var sequenceNumber: UInt16 { NetBytes.u16(bytes, 6) }
    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191), bytes 6-7.
    public var nextHopMTU: UInt16 { NetBytes.u16(bytes, 6) }
    /// Everything after the 8-byte header: echo data, or for error messages the original IP header plus at
    /// least 8 bytes of its payload.
    public var data: UnsafeRawBufferPointer { NetBytes.slice(bytes, ICMPv4Message.headerLength, bytes.count) }

    /// For an error message: the quoted original packet's header fields, if the quote holds a readable IPv4
    /// header (its checksum is not verified: routers may have changed the TTL). Nil otherwise.
    public var quotedPacket: ICMPv4QuotedPacket? {
        guard ICMPv4Type.isError(type) else { return nil }
        return ICMPv4QuotedPacket(data)
    }

    /// The length of an echo message carrying `payloadLength` bytes.
    public static func echoLength(payloadLength: Int) -> Int { headerLength + payloadLength }

    /// Writes an echo request or reply into `buffer[0..<8+payload.count]`, checksum included.
    /// Precondition: `buffer.count >= 8 + payload.count`.
    public static func emitEcho(into buffer: UnsafeMutableRawBufferPointer, reply: Bool, identifier: UInt16,
                                sequenceNumber: UInt16, payload: UnsafeRawBufferPointer) {
        let length = headerLength + payload.count
        precondition(buffer.count >= length, "ICMP buffer too short")
        buffer[0] = reply ? ICMPv4Type.echoReply : ICMPv4Type.echoRequest
        buffer[1] = 0
        NetBytes.put16(buffer, 2, 0)
        NetBytes.put16(buffer, 4, identifier)
        NetBytes.put16(buffer, 6, sequenceNumber)
        if payload.count > 0 {
            NetBytes.slice(buffer, headerLength, length).copyMemory(from: payload)
        }
        NetBytes.put16(buffer, 2, InternetChecksum.of(UnsafeRawBufferPointer(NetBytes.slice(buffer, 0, length))))
    }

    /// The part of `packet` an error message quotes: its header and the first 8 bytes of its payload
    /// (RFC 792, "Internet Header + 64 bits of Original Data Datagram").
    public static func quote(of packet: IPv4Packet) -> UnsafeRawBufferPointer {
        NetBytes.slice(packet.bytes, 0, min(packet.totalLength, packet.headerLength + 8))
    }

    /// The length of an error message quoting `quote`.
    public static func errorLength(quoting quote: UnsafeRawBufferPointer) -> Int { headerLength + quote.count }

    /// Writes an error message (destination unreachable, time exceeded, ...) quoting `quote` (see
    /// `quote(of:)`) into `buffer[0..<8+quote.count]`, checksum included. `restOfHeader` is zero except for
    /// "fragmentation needed", where its low 16 bits carry the next-hop MTU.
    /// Precondition: `buffer.count >= 8 + quote.count`.
    public static func emitError(into buffer: UnsafeMutableRawBufferPointer, type: UInt8, code: UInt8,
                                 restOfHeader: UInt32 = 0, quote: UnsafeRawBufferPointer) {
        emitError(into: buffer, type: type, code: code, restOfHeader: restOfHeader, quoteHeader: quote,
                  quotePayload: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// Writes an error message whose quote comes in two pieces: the original header, then the first bytes of
    /// its payload (at most 8 are used). Precondition: `buffer.count >= 8 + quoteHeader.count + min(8, …)`.
    public static func emitError(into buffer: UnsafeMutableRawBufferPointer, type: UInt8, code: UInt8,
                                 restOfHeader: UInt32 = 0, quoteHeader: UnsafeRawBufferPointer,
                                 quotePayload: UnsafeRawBufferPointer) {
        let prefix = min(8, quotePayload.count)
        let length = headerLength + quoteHeader.count + prefix
        precondition(buffer.count >= length, "ICMP buffer too short")
        buffer[0] = type
        buffer[1] = code
        NetBytes.put16(buffer, 2, 0)
        NetBytes.put32(buffer, 4, restOfHeader)
        if quoteHeader.count > 0 {
            NetBytes.slice(buffer, headerLength, headerLength + quoteHeader.count).copyMemory(from: quoteHeader)
        }
        if prefix > 0 {
            NetBytes.slice(buffer, headerLength + quoteHeader.count, length)
                .copyMemory(from: NetBytes.slice(quotePayload, 0, prefix))
        }
        NetBytes.put16(buffer, 2, InternetChecksum.of(UnsafeRawBufferPointer(NetBytes.slice(buffer, 0, length))))
    }
}

/// The fields of the original packet quoted in an ICMP error message: enough to find the socket it concerns.
public struct ICMPv4QuotedPacket: Equatable {
    /// The original source (this host, for errors about our packets).
    public var source: IPv4Address
    /// The original destination.
    public var destination: IPv4Address
    /// The original protocol number.
    public var protocolNumber: UInt8
    /// The original transport source port (first 2 payload bytes), if quoted.
    public var sourcePort: UInt16?
    /// The original transport destination port (payload bytes 2-3), if quoted.
    public var destinationPort: UInt16?

    /// Reads the quote; nil if it does not start with a plausible IPv4 header.
    init?(_ quote: UnsafeRawBufferPointer) {
        guard quote.count >= IPv4Packet.minimumHeaderLength, quote[0] >> 4 == 4 else { return nil }
        let ihl = Int(quote[0] & 0x0F) * 4
        guard ihl >= IPv4Packet.minimumHeaderLength, ihl <= quote.count else { return nil }
        source = IPv4Address(bytes: quote, offset: 12)
        destination = IPv4Address(bytes: quote, offset: 16)
        protocolNumber = quote[9]
        if quote.count >= ihl + 4 {
            sourcePort = NetBytes.u16(quote, ihl)
            destinationPort = NetBytes.u16(quote, ihl + 2)
        } else {
            sourcePort = nil
            destinationPort = nil
        }
    }
}
