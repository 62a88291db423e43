/// A view of a UDP datagram (RFC 768).
///
/// Validation checks the 8-byte header, that the length field is at least 8 and no more than the buffer (the
/// IPv4 payload; extra bytes after `length` are ignored), and, when `source`/`destination` are given and the
/// checksum field is non-zero, the checksum over the pseudo-header. A zero checksum means "not computed" and is
/// accepted on receive (RFC 768).
///
/// Invariant: `8 <= bytes.count == length field`.
public struct UDPDatagram {
    /// The header length.
    public static let headerLength = 8

    /// The datagram, exactly `length` bytes.
    public let bytes: UnsafeRawBufferPointer

    /// Validates `raw` as a UDP datagram; verifies the checksum when both addresses are given.
    public init(validating raw: UnsafeRawBufferPointer, source: IPv4Address? = nil,
                destination: IPv4Address? = nil) throws(WireFormatError) {
        guard raw.count >= UDPDatagram.headerLength else {
            throw .truncated(needed: UDPDatagram.headerLength, available: raw.count)
        }
        let length = Int(NetBytes.u16(raw, 4))
        guard length >= UDPDatagram.headerLength else { throw .badLength(length) }
        guard length <= raw.count else { throw .truncated(needed: length, available: raw.count) }
        let datagram = NetBytes.slice(raw, 0, length)
        if let source, let destination, NetBytes.u16(raw, 6) != 0 {
            var sum = IPv4Header.pseudoHeaderChecksum(source: source, destination: destination,
                                                      protocolNumber: IPProtocolNumber.udp, length: length)
            sum.add(datagram)
            guard sum.value == 0 else { throw .badChecksum }
        }
        bytes = datagram
    }

    /// Source port.
    public var sourcePort: UInt16 { NetBytes.u16(bytes, 0) }
    /// Destination port.
    public var destinationPort: UInt16 { NetBytes.u16(bytes, 2) }
    /// Length field (header plus payload).
    public var length: Int { bytes.count }
    /// Checksum field (0: not computed).
    public var checksum: UInt16 { NetBytes.u16(bytes, 6) }
    /// The payload.
    public var payload: UnsafeRawBufferPointer { NetBytes.slice(bytes, UDPDatagram.headerLength, bytes.count) }

    /// Writes the header of a datagram whose payload is already in `buffer[8...]`: ports, length
    /// (`buffer.count`) and the checksum over the pseudo-header (a computed 0 is sent as 0xFFFF, RFC 768).
    /// Preconditions: `8 <= buffer.count <= 65535`.
    public static func emitHeader(into buffer: UnsafeMutableRawBufferPointer, sourcePort: UInt16,
                                  destinationPort: UInt16, source: IPv4Address, destination: IPv4Address) {
        precondition(buffer.count >= headerLength && buffer.count <= 65535, "bad UDP datagram length")
        NetBytes.put16(buffer, 0, sourcePort)
        NetBytes.put16(buffer, 2, destinationPort)
        NetBytes.put16(buffer, 4, UInt16(buffer.count))
        NetBytes.put16(buffer, 6, 0)
        var sum = IPv4Header.pseudoHeaderChecksum(source: source, destination: destination,
                                                  protocolNumber: IPProtocolNumber.udp, length: buffer.count)
        sum.add(UnsafeRawBufferPointer(buffer))
        let value = sum.value
        NetBytes.put16(buffer, 6, value == 0 ? 0xFFFF : value)
    }
}
