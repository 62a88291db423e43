/// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of 16-bit words.
///
/// Accumulate with `add`, then read `value`. Odd-length pieces are handled as if the pieces were concatenated.
/// `value` of data that includes a correct checksum field is 0.
public struct InternetChecksum: Sendable {
    private var sum: UInt64 = 0
    private var odd = false

    public init() {}

    /// Adds a 16-bit word (host order value of a network-order field).
    public mutating func add(_ word: UInt16) {
        precondition(!odd, "add(UInt16) after an odd-length byte run")
        sum &+= UInt64(word)
    }

    /// Adds a 32-bit value as two 16-bit words (an IPv4 address in the pseudo-header).
    public mutating func add(_ value: UInt32) {
        add(UInt16(value >> 16))
        add(UInt16(value & 0xffff))
    }

    /// Adds bytes in network order.
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        let n = bytes.count
        if odd && n > 0 {
            sum &+= UInt64(bytes[0])
            i = 1
            odd = false
        }
        // Sum 32-bit big-endian chunks into a 64-bit accumulator: cannot overflow for any realistic length.
        while i + 4 <= n {
            let w = UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
            sum &+= UInt64(w)
            i += 4
        }
        while i + 2 <= n {
            sum &+= UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
            i += 2
        }
        if i < n {
            sum &+= UInt64(bytes[i]) << 8
            odd = true
        }
    }

    /// The checksum of everything added.
    public var value: UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
        return ~UInt16(s)
    }

    /// The checksum of `bytes` alone.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var c = InternetChecksum()
        c.add(bytes)
        return c.value
    }
}
