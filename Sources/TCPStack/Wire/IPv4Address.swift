import Interfaces

/// An IPv4 address, stored in host order (`10.0.2.15` is `0x0A00_020F`).
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The address as a 32-bit number, first octet most significant.
    public var value: UInt32

    /// Wraps a host-order value.
    public init(_ value: UInt32) { self.value = value }

    /// `a.b.c.d`.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text (`"192.168.1.10"`); nil if it is not four decimal octets.
    public init?(_ text: String) {
        guard let value = text.withUTF8Bytes({ IPv4Address.parseDottedQuad($0) }) else { return nil }
        self.value = value
    }

    /// Four decimal octets of one to three digits each, separated by dots, as a host-order value.
    static func parseDottedQuad(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
        var value: UInt32 = 0
        var current: UInt32 = 0
        var digits = 0
        var dots = 0
        for b in bytes {
            if b == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | current
                current = 0
                digits = 0
                dots += 1
            } else if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                current = current * 10 + UInt32(b - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, dots == 3 else { return nil }
        return value << 8 | current
    }

    /// Reads a network-order address from `bytes` at `offset` (the caller has checked the length).
    public init(bytes: UnsafeRawBufferPointer, offset: Int) {
        value = UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    /// Writes the address in network order into `bytes` at `offset`.
    public func write(to bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes[offset] = UInt8(value >> 24)
        bytes[offset + 1] = UInt8((value >> 16) & 0xff)
        bytes[offset + 2] = UInt8((value >> 8) & 0xff)
        bytes[offset + 3] = UInt8(value & 0xff)
    }

    /// 0.0.0.0.
    public static let any = IPv4Address(0)
    /// 255.255.255.255.
    public static let broadcast = IPv4Address(0xFFFF_FFFF)

    /// 127.0.0.0/8.
    public var isLoopback: Bool { value >> 24 == 127 }
    /// 224.0.0.0/4.
    public var isMulticast: Bool { value >> 28 == 0xE }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }

    public var description: String {
        var text = CompactText()
        for shift in stride(from: 24, through: 0, by: -8) {
            text.append(decimal: UInt64(value >> UInt32(shift) & 0xff))
            if shift > 0 { text.append(".") }
        }
        return text.string
    }
}

/// An IPv4 network: an address and a prefix length (`10.0.2.15/24`).
public struct IPv4Network: Hashable, Sendable, CustomStringConvertible {
    /// An address inside the network (the interface's own address, for an interface configuration).
    public var address: IPv4Address
    /// Prefix length, 0...32.
    public var prefixLength: Int

    /// Creates `address/prefixLength`; the prefix is clamped to 0...32.
    public init(address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = min(max(prefixLength, 0), 32)
    }

    /// The netmask (`255.255.255.0` for /24).
    public var mask: IPv4Address { IPv4Address(prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength)) }
    /// The directed broadcast address.
    public var broadcast: IPv4Address { IPv4Address(address.value | ~mask.value) }
    /// Whether `other` is inside this network.
    public func contains(_ other: IPv4Address) -> Bool { (other.value ^ address.value) & mask.value == 0 }

    public var description: String { "\(address)/\(prefixLength)" }
}
