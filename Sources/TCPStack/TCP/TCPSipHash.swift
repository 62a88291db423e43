import Interfaces

/// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed 64-bit hash, used here
/// for initial sequence numbers (RFC 6528), SYN cookies, timestamp offsets and ephemeral-port selection.
///
/// Streaming and allocation-free: feed bytes with the `write` methods (multi-byte integers are fed in
/// little-endian byte order), then read `finalize()`. Two compression rounds per 8-byte word, four finalization
/// rounds.
public struct TCPSipHasher {
    private var v0: UInt64
    private var v1: UInt64
    private var v2: UInt64
    private var v3: UInt64
    private var tail: UInt64 = 0
    private var tailBytes: UInt64 = 0
    private var totalBytes: UInt64 = 0

    /// Starts a hash under the 128-bit key `(k0, k1)` (k0 holds key bytes 0-7 in little-endian order).
    public init(k0: UInt64, k1: UInt64) {
        v0 = k0 ^ 0x736f_6d65_7073_6575
        v1 = k1 ^ 0x646f_7261_6e64_6f6d
        v2 = k0 ^ 0x6c79_6765_6e65_7261
        v3 = k1 ^ 0x7465_6462_7974_6573
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ b: UInt64) -> UInt64 { (x << b) | (x >> (64 - b)) }

    @inline(__always)
    private mutating func round() {
        v0 &+= v1; v1 = Self.rotl(v1, 13); v1 ^= v0; v0 = Self.rotl(v0, 32)
        v2 &+= v3; v3 = Self.rotl(v3, 16); v3 ^= v2
        v0 &+= v3; v3 = Self.rotl(v3, 21); v3 ^= v0
        v2 &+= v1; v1 = Self.rotl(v1, 17); v1 ^= v2; v2 = Self.rotl(v2, 32)
    }

    @inline(__always)
    private mutating func compress(_ m: UInt64) {
        v3 ^= m
        round()
        round()
        v0 ^= m
    }

    /// Feeds one byte.
    public mutating func write(_ byte: UInt8) {
        tail |= UInt64(byte) << (8 * tailBytes)
        tailBytes += 1
        totalBytes &+= 1
        if tailBytes == 8 {
            compress(tail)
            tail = 0
            tailBytes = 0
        }
    }

    /// Feeds a 16-bit value, low byte first.
    public mutating func write(_ value: UInt16) {
        write(UInt8(value & 0xff)); write(UInt8(value >> 8))
    }

    /// Feeds a 32-bit value, low byte first.
    public mutating func write(_ value: UInt32) {
        write(UInt16(value & 0xffff)); write(UInt16(value >> 16))
    }

    /// Feeds a 64-bit value, low byte first.
    public mutating func write(_ value: UInt64) {
        write(UInt32(value & 0xffff_ffff)); write(UInt32(value >> 32))
    }

    /// Feeds a run of bytes.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) {
        for b in bytes { write(b) }
    }

    /// The 64-bit hash of everything written.
    public func finalize() -> UInt64 {
        var copy = self
        let last = (copy.totalBytes & 0xff) << 56 | copy.tail
        copy.compress(last)
        copy.v2 ^= 0xff
        copy.round(); copy.round(); copy.round(); copy.round()
        return copy.v0 ^ copy.v1 ^ copy.v2 ^ copy.v3
    }
}

/// A 128-bit SipHash key.
public struct TCPSipKey: Sendable {
    /// Key bytes 0-7, little-endian.
    public var k0: UInt64
    /// Key bytes 8-15, little-endian.
    public var k1: UInt64

    /// Creates a key from its two halves.
    public init(k0: UInt64, k1: UInt64) {
        self.k0 = k0
        self.k1 = k1
    }

    /// Draws a fresh key from `entropy`.
    public init(entropy: any EntropySource) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { entropy.fill($0) }
        k0 = words.0
        k1 = words.1
    }

    /// A hasher keyed with this key.
    public var hasher: TCPSipHasher { TCPSipHasher(k0: k0, k1: k1) }
}
