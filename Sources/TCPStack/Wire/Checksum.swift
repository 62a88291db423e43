/// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of 16-bit words.
///
/// Accumulate with `add`, then read `value`. Odd-length pieces are handled as if the pieces were concatenated.
/// `value` of data that includes a correct checksum field is 0.
public struct InternetChecksum: Sendable {
    private var sum: UInt64 = 0
    private var odd = false

    /// An empty sum (the checksum of no bytes).
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
    ///
    /// The bulk of the run is summed 8 bytes at a time in the machine's own byte order with end-around carry, then
    /// folded to 16 bits and byte-swapped into network order: the one's complement sum is independent of byte order
    /// up to that final swap (RFC 1071 §2(B)) and of word width up to the fold (§2(C)). An odd byte left over is
    /// carried into the next call, so pieces sum as if they were concatenated.
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return }
        var i = 0
        if odd {
            sum &+= UInt64(base.load(as: UInt8.self))
            i = 1
            odd = false
        }
        if n - i >= 8 {
            var acc: UInt64 = 0
            var carries: UInt64 = 0
            @inline(__always) func fold(_ w: UInt64) {
                let (r, o) = acc.addingReportingOverflow(w)
                acc = r
                carries &+= o ? 1 : 0
            }
            while n - i >= 32 {
                fold(base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                fold(base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))
                fold(base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))
                fold(base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))
                i += 32
            }
            while n - i >= 8 {
                fold(base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
            }
            // End-around carry, then fold 64 -> 16 bits (each step keeps the one's complement sum).
            let (total, overflow) = acc.addingReportingOverflow(carries)
            acc = overflow ? total &+ 1 : total      // cannot overflow again: total < carries
            var s = (acc & 0xffff_ffff) &+ (acc >> 32)
            s = (s & 0xffff) &+ ((s >> 16) & 0xffff) &+ (s >> 32)
            s = (s & 0xffff) &+ (s >> 16)
            s = (s & 0xffff) &+ (s >> 16)
            sum &+= UInt64(UInt16(bigEndian: UInt16(truncatingIfNeeded: s)))
        }
        while n - i >= 2 {
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
