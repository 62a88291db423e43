import Interfaces

/// ARP operation codes (RFC 826).
public enum ARPOperation: UInt16, Equatable, CustomStringConvertible {
    /// "Who has `targetProtocolAddress`? Tell `senderProtocolAddress`."
    case request = 1
    /// "`senderProtocolAddress` is at `senderHardwareAddress`."
    case reply = 2

    public var description: String { self == .request ? "request" : "reply" }
}

/// A view of an ARP packet for IPv4 over Ethernet (RFC 826): hardware type 1, protocol type 0x0800, address
/// lengths 6 and 4, so the packet is 28 bytes. Anything else is rejected as `unsupported`, as is an operation
/// other than request or reply.
///
/// Invariant: `bytes.count >= 28` and the fixed fields hold the values above. Trailing bytes (Ethernet padding)
/// are ignored.
public struct ARPPacket {
    /// The length of an Ethernet/IPv4 ARP packet.
    public static let length = 28

    /// The packet (at least 28 bytes).
    public let bytes: UnsafeRawBufferPointer
    /// The operation.
    public let operation: ARPOperation

    /// Validates `bytes` as an Ethernet/IPv4 ARP request or reply.
    public init(validating bytes: UnsafeRawBufferPointer) throws(WireFormatError) {
        guard bytes.count >= ARPPacket.length else {
            throw .truncated(needed: ARPPacket.length, available: bytes.count)
        }
        guard NetBytes.u16(bytes, 0) == 1, NetBytes.u16(bytes, 2) == EtherType.ipv4, bytes[4] == 6, bytes[5] == 4
        else { throw .unsupported }
        guard let op = ARPOperation(rawValue: NetBytes.u16(bytes, 6)) else { throw .unsupported }
        self.bytes = bytes
        operation = op
    }

    /// The sender's MAC address.
    public var senderHardwareAddress: MACAddress { MACAddress(bytes: bytes, offset: 8) }
    /// The sender's IPv4 address.
    public var senderProtocolAddress: IPv4Address { IPv4Address(bytes: bytes, offset: 14) }
    /// The target's MAC address (zero in a request).
    public var targetHardwareAddress: MACAddress { MACAddress(bytes: bytes, offset: 18) }
    /// The target's IPv4 address.
    public var targetProtocolAddress: IPv4Address { IPv4Address(bytes: bytes, offset: 24) }
}

/// The fields of an Ethernet/IPv4 ARP packet, for emitting.
public struct ARPRepr: Equatable {
    /// Request or reply.
    public var operation: ARPOperation
    /// Sender MAC.
    public var senderHardwareAddress: MACAddress
    /// Sender IPv4 address.
    public var senderProtocolAddress: IPv4Address
    /// Target MAC (zero in a request).
    public var targetHardwareAddress: MACAddress
    /// Target IPv4 address.
    public var targetProtocolAddress: IPv4Address

    /// Creates the representation.
    public init(operation: ARPOperation, senderHardwareAddress: MACAddress, senderProtocolAddress: IPv4Address,
                targetHardwareAddress: MACAddress, targetProtocolAddress: IPv4Address) {
        self.operation = operation
        self.senderHardwareAddress = senderHardwareAddress
        self.senderProtocolAddress = senderProtocolAddress
        self.targetHardwareAddress = targetHardwareAddress
        self.targetProtocolAddress = targetProtocolAddress
    }

    /// Reads a validated packet.
    public init(_ packet: ARPPacket) {
        self.init(operation: packet.operation, senderHardwareAddress: packet.senderHardwareAddress,
                  senderProtocolAddress: packet.senderProtocolAddress,
                  targetHardwareAddress: packet.targetHardwareAddress,
                  targetProtocolAddress: packet.targetProtocolAddress)
    }

    /// A gratuitous ARP announcement (RFC 5227 §3): a request whose sender and target address are both
    /// `address`, so that neighbours update their caches.
    public static func announcement(mac: MACAddress, address: IPv4Address) -> ARPRepr {
        ARPRepr(operation: .request, senderHardwareAddress: mac, senderProtocolAddress: address,
                targetHardwareAddress: .zero, targetProtocolAddress: address)
    }

    /// Writes the 28-byte packet at the start of `buffer`. Precondition: `buffer.count >= 28`.
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= ARPPacket.length, "ARP buffer too short")
        NetBytes.put16(buffer, 0, 1)
        NetBytes.put16(buffer, 2, EtherType.ipv4)
        buffer[4] = 6
        buffer[5] = 4
        NetBytes.put16(buffer, 6, operation.rawValue)
        senderHardwareAddress.write(to: buffer, at: 8)
        senderProtocolAddress.write(to: buffer, at: 14)
        targetHardwareAddress.write(to: buffer, at: 18)
        targetProtocolAddress.write(to: buffer, at: 24)
    }
}
