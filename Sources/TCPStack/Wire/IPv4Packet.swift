/// IPv4 protocol numbers (the IANA "Assigned Internet Protocol Numbers" registry).
public enum IPProtocolNumber {
    /// ICMP, RFC 792.
    public static let icmp: UInt8 = 1
    /// TCP, RFC 9293.
    public static let tcp: UInt8 = 6
    /// UDP, RFC 768.
    public static let udp: UInt8 = 17
}

/// A view of an IPv4 packet (RFC 791 §3.1), validated once so that no accessor can trap.
///
/// Validation checks: version 4; IHL >= 5 and the header inside the buffer; total length >= header length and
/// <= the buffer (bytes after the total length, such as Ethernet padding, are cut off); and, unless disabled, the
/// header checksum. Options are not interpreted: they are skipped (`options` shows them).
///
/// Invariant: `20 <= headerLength <= totalLength == bytes.count`.
public struct IPv4Packet {
    /// The length of a header without options.
    public static let minimumHeaderLength = 20

    /// The packet, exactly `totalLength` bytes.
    public let bytes: UnsafeRawBufferPointer
    /// The header length in bytes (IHL × 4), 20...60.
    public let headerLength: Int

    /// Validates `raw` as an IPv4 packet; trailing bytes beyond the total length are ignored.
    public init(validating raw: UnsafeRawBufferPointer, verifyChecksum: Bool = true) throws(WireFormatError) {
        guard raw.count >= IPv4Packet.minimumHeaderLength else {
            throw .truncated(needed: IPv4Packet.minimumHeaderLength, available: raw.count)
        }
        let version = raw[0] >> 4
        guard version == 4 else { throw .badVersion(version) }
        let ihl = Int(raw[0] & 0x0F) * 4
        guard ihl >= IPv4Packet.minimumHeaderLength else { throw .badHeaderLength(ihl) }
        guard ihl <= raw.count else { throw .truncated(needed: ihl, available: raw.count) }
        let total = Int(NetBytes.u16(raw, 2))
        guard total >= ihl else { throw .badLength(total) }
        guard total <= raw.count else { throw .truncated(needed: total, available: raw.count) }
        if verifyChecksum && InternetChecksum.of(NetBytes.slice(raw, 0, ihl)) != 0 { throw .badChecksum }
        bytes = NetBytes.slice(raw, 0, total)
        headerLength = ihl
    }

    /// The type-of-service byte (DSCP and ECN, RFC 2474 / RFC 3168).
    public var typeOfService: UInt8 { bytes[1] }
    /// The total length field (header plus payload).
    public var totalLength: Int { bytes.count }
    /// The identification field, shared by all fragments of one datagram.
    public var identification: UInt16 { NetBytes.u16(bytes, 4) }
    /// The DF flag.
    public var dontFragment: Bool { bytes[6] & 0x40 != 0 }
    /// The MF flag: more fragments follow.
    public var moreFragments: Bool { bytes[6] & 0x20 != 0 }
    /// The fragment offset in bytes (the field counts 8-byte units).
    public var fragmentOffset: Int { Int(NetBytes.u16(bytes, 6) & 0x1FFF) * 8 }
    /// Whether this packet is a fragment (MF set or a non-zero offset).
    public var isFragment: Bool { moreFragments || fragmentOffset != 0 }
    /// Time to live.
    public var timeToLive: UInt8 { bytes[8] }
    /// The protocol number of the payload (see `IPProtocolNumber`).
    public var protocolNumber: UInt8 { bytes[9] }
    /// The header checksum field.
    public var headerChecksum: UInt16 { NetBytes.u16(bytes, 10) }
    /// The source address.
    public var source: IPv4Address { IPv4Address(bytes: bytes, offset: 12) }
    /// The destination address.
    public var destination: IPv4Address { IPv4Address(bytes: bytes, offset: 16) }
    /// The header (with options).
    public var header: UnsafeRawBufferPointer { NetBytes.slice(bytes, 0, headerLength) }
    /// The options (empty when IHL is 5); not interpreted.
    public var options: UnsafeRawBufferPointer { NetBytes.slice(bytes, IPv4Packet.minimumHeaderLength, headerLength) }
    /// The payload (`totalLength - headerLength` bytes).
    public var payload: UnsafeRawBufferPointer { NetBytes.slice(bytes, headerLength, bytes.count) }
}

/// The fields of an IPv4 header without options, for emitting (RFC 791 §3.1).
public struct IPv4Header: Equatable {
    /// Source address.
    public var source: IPv4Address
    /// Destination address.
    public var destination: IPv4Address
    /// Payload protocol number.
    public var protocolNumber: UInt8
    /// Payload length in bytes; `20 + payloadLength` must fit in 16 bits.
    public var payloadLength: Int
    /// Time to live (64 by default, RFC 1700's recommendation).
    public var timeToLive: UInt8
    /// Identification.
    public var identification: UInt16
    /// DF flag.
    public var dontFragment: Bool
    /// MF flag.
    public var moreFragments: Bool
    /// Fragment offset in bytes; a multiple of 8 below 65536.
    public var fragmentOffset: Int
    /// Type of service (DSCP/ECN).
    public var typeOfService: UInt8

    /// Creates a header; the fragment fields default to "not a fragment".
    public init(source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8, payloadLength: Int,
                timeToLive: UInt8 = 64, identification: UInt16 = 0, dontFragment: Bool = false,
                moreFragments: Bool = false, fragmentOffset: Int = 0, typeOfService: UInt8 = 0) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.payloadLength = payloadLength
        self.timeToLive = timeToLive
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
        self.typeOfService = typeOfService
    }

    /// The largest payload a single IPv4 packet can carry (65535 - 20).
    public static let maximumPayloadLength = 65535 - IPv4Packet.minimumHeaderLength

    /// Writes the 20-byte header, checksum included, at the start of `buffer`.
    /// Preconditions: `buffer.count >= 20`, `payloadLength <= maximumPayloadLength`, `fragmentOffset` a multiple
    /// of 8 below 65536.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= IPv4Packet.minimumHeaderLength, "IPv4 header buffer too short")
        precondition(payloadLength >= 0 && payloadLength <= IPv4Header.maximumPayloadLength, "IPv4 payload too long")
        precondition(fragmentOffset >= 0 && fragmentOffset & 7 == 0 && fragmentOffset < 65536, "bad fragment offset")
        buffer[0] = 0x45
        buffer[1] = typeOfService
        NetBytes.put16(buffer, 2, UInt16(payloadLength + IPv4Packet.minimumHeaderLength))
        NetBytes.put16(buffer, 4, identification)
        var flags = UInt16(fragmentOffset / 8)
        if dontFragment { flags |= 0x4000 }
        if moreFragments { flags |= 0x2000 }
        NetBytes.put16(buffer, 6, flags)
        buffer[8] = timeToLive
        buffer[9] = protocolNumber
        NetBytes.put16(buffer, 10, 0)
        source.write(to: buffer, at: 12)
        destination.write(to: buffer, at: 16)
        let sum = InternetChecksum.of(UnsafeRawBufferPointer(NetBytes.slice(buffer, 0, IPv4Packet.minimumHeaderLength)))
        NetBytes.put16(buffer, 10, sum)
    }
}

extension IPv4Header {
    /// The IPv4 pseudo-header sum used by the UDP and TCP checksums (RFC 768; RFC 9293 §3.1): source,
    /// destination, zero, protocol, transport length. Add the transport header and payload, then read `value`.
    public static func pseudoHeaderChecksum(source: IPv4Address, destination: IPv4Address, protocolNumber: UInt8,
                                            length: Int) -> InternetChecksum {
        var sum = InternetChecksum()
        sum.add(source.value)
        sum.add(destination.value)
        sum.add(UInt16(protocolNumber))
        sum.add(UInt16(truncatingIfNeeded: length))
        return sum
    }
}
