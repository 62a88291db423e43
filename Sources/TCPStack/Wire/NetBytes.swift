/// Big-endian (network order) loads and stores on raw buffers.
///
/// Every caller has already checked that `offset + width <= buffer.count`; these helpers add no checks of their
/// own (the wire views validate lengths once, in their initialisers, so that no accessor can trap afterwards).
@usableFromInline
enum NetBytes {
    /// The 16-bit network-order value at `offset`.
    @inline(__always) @usableFromInline
    static func u16(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(b[offset]) << 8 | UInt16(b[offset + 1])
    }

    /// The 32-bit network-order value at `offset`.
    @inline(__always) @usableFromInline
    static func u32(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(b[offset]) << 24 | UInt32(b[offset + 1]) << 16 | UInt32(b[offset + 2]) << 8 | UInt32(b[offset + 3])
    }

    /// Stores `value` in network order at `offset`.
    @inline(__always) @usableFromInline
    static func put16(_ b: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt16) {
        b[offset] = UInt8(truncatingIfNeeded: value >> 8)
        b[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    /// Stores `value` in network order at `offset`.
    @inline(__always) @usableFromInline
    static func put32(_ b: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: UInt32) {
        b[offset] = UInt8(truncatingIfNeeded: value >> 24)
        b[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        b[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        b[offset + 3] = UInt8(truncatingIfNeeded: value)
    }

    /// `bytes[start..<end]` as a buffer of its own (the caller has checked `0 <= start <= end <= count`).
    @inline(__always) @usableFromInline
    static func slice(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: b[start..<end])
    }

    /// `bytes[start..<end]` as a mutable buffer of its own (the caller has checked the bounds).
    @inline(__always) @usableFromInline
    static func slice(_ b: UnsafeMutableRawBufferPointer, _ start: Int, _ end: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: b[start..<end])
    }

    /// Fills `b[start..<end]` with zero bytes.
    @inline(__always) @usableFromInline
    static func zero(_ b: UnsafeMutableRawBufferPointer, _ start: Int, _ end: Int) {
        var i = start
        while i < end { b[i] = 0; i += 1 }
    }
}

/// Why bytes from the network could not be read as the expected format.
///
/// Parsers throw these and never trap: a malformed packet is dropped (and counted) by the layer that parsed it.
public enum WireFormatError: Error, Equatable, CustomStringConvertible {
    /// The buffer is shorter than the fixed header or than a length field says.
    case truncated(needed: Int, available: Int)
    /// An IP version other than 4.
    case badVersion(UInt8)
    /// A header-length field below its minimum or beyond the packet.
    case badHeaderLength(Int)
    /// A total-length or payload-length field inconsistent with the header or the buffer.
    case badLength(Int)
    /// The checksum does not verify.
    case badChecksum
    /// A VLAN-tagged Ethernet frame (802.1Q / 802.1ad); this stack has no VLAN support and rejects them.
    case vlanTagged
    /// A well-formed header for something this stack does not implement (an 802.3 length frame, ARP for a
    /// hardware/protocol pair other than Ethernet/IPv4, an ARP opcode other than request/reply).
    case unsupported
    /// A DHCP message without the RFC 2131 §3 magic cookie 99.130.83.99.
    case badMagicCookie
    /// A DHCP option whose length runs past its area, or whose length is wrong for its code.
    case malformedOption(code: UInt8)
    /// A DNS name that is too long, has an oversized label, a reserved label type, or a bad compression pointer.
    case malformedName
    /// Some other field holds a value the format forbids.
    case badField

    public var description: String {
        switch self {
        case .truncated(let needed, let available): return "truncated: need \(needed) bytes, have \(available)"
        case .badVersion(let v): return "IP version \(v)"
        case .badHeaderLength(let n): return "bad header length \(n)"
        case .badLength(let n): return "bad length field \(n)"
        case .badChecksum: return "bad checksum"
        case .vlanTagged: return "VLAN-tagged frame"
        case .unsupported: return "unsupported format"
        case .badMagicCookie: return "missing DHCP magic cookie"
        case .malformedOption(let code): return "malformed option \(code)"
        case .malformedName: return "malformed DNS name"
        case .badField: return "invalid field value"
        }
    }
}
