import Interfaces

/// EtherType values this stack recognises (IEEE 802.3 / RFC 894).
public enum EtherType {
    /// IPv4, RFC 894.
    public static let ipv4: UInt16 = 0x0800
    /// ARP, RFC 826.
    public static let arp: UInt16 = 0x0806
    /// IPv6 (not implemented; counted as an unknown EtherType).
    public static let ipv6: UInt16 = 0x86DD
    /// An IEEE 802.1Q VLAN tag.
    public static let vlan: UInt16 = 0x8100
    /// An IEEE 802.1ad (QinQ) service tag.
    public static let qinq: UInt16 = 0x88A8
}

/// A view of an Ethernet II frame (RFC 894): destination MAC, source MAC, EtherType, payload. No FCS (devices
/// strip it) and no minimum-length check (virtio and TAP deliver unpadded short frames).
///
/// VLAN-tagged frames are **rejected** (`WireFormatError.vlanTagged`): the stack is not a member of any VLAN, so a
/// tagged frame is not addressed to it. Frames whose type field is an 802.3 length (< 0x0600) are rejected as
/// `unsupported`.
///
/// Invariant: `bytes.count >= EthernetFrame.headerLength`; every accessor is in bounds.
/// The view borrows `bytes`; it is valid only while that memory is.
public struct EthernetFrame {
    /// The header length: 6 + 6 + 2 bytes.
    public static let headerLength = 14

    /// The whole frame.
    public let bytes: UnsafeRawBufferPointer

    /// Validates `bytes` as an Ethernet II frame.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireFormatError) {
        guard bytes.count >= EthernetFrame.headerLength else {
            throw .truncated(needed: EthernetFrame.headerLength, available: bytes.count)
        }
        let type = NetBytes.u16(bytes, 12)
        if type == EtherType.vlan || type == EtherType.qinq { throw .vlanTagged }
        guard type >= 0x0600 else { throw .unsupported }
        self.bytes = bytes
    }

    /// The destination MAC address.
    public var destination: MACAddress { MACAddress(bytes: bytes, offset: 0) }
    /// The source MAC address.
    public var source: MACAddress { MACAddress(bytes: bytes, offset: 6) }
    /// The EtherType (see `EtherType`).
    public var etherType: UInt16 { NetBytes.u16(bytes, 12) }
    /// Everything after the header (may include trailing padding up to the 60-byte minimum frame).
    public var payload: UnsafeRawBufferPointer { NetBytes.slice(bytes, EthernetFrame.headerLength, bytes.count) }
}

/// The fields of an Ethernet II header, for emitting.
public struct EthernetHeader: Equatable {
    /// Destination MAC address.
    public var destination: MACAddress
    /// Source MAC address.
    public var source: MACAddress
    /// EtherType of the payload.
    public var etherType: UInt16

    /// Creates a header.
    public init(destination: MACAddress, source: MACAddress, etherType: UInt16) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
    }

    /// Reads the header of a validated frame.
    public init(_ frame: EthernetFrame) {
        self.init(destination: frame.destination, source: frame.source, etherType: frame.etherType)
    }

    /// Writes the 14-byte header at the start of `buffer`. Precondition: `buffer.count >= 14`.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= EthernetFrame.headerLength, "Ethernet header buffer too short")
        destination.write(to: buffer, at: 0)
        source.write(to: buffer, at: 6)
        NetBytes.put16(buffer, 12, etherType)
    }
}

extension MACAddress {
    /// The Ethernet multicast address an IPv4 multicast group maps to (RFC 1112 §6.4: 01:00:5e plus the low 23
    /// bits of the group address).
    public init(multicastGroup group: IPv4Address) {
        self.init(0x01, 0x00, 0x5E, UInt8((group.value >> 16) & 0x7F), UInt8((group.value >> 8) & 0xFF),
                  UInt8(group.value & 0xFF))
    }
}
