/// A source of random bytes (for TCP initial sequence numbers, hash seeds, DHCP transaction ids).
///
/// The guest's implementation prefers a virtio-rng device, then RDSEED, then RDRAND; when none exists it falls
/// back to a timing-jitter generator and says so loudly (`quality == .weak`).
public protocol EntropySource: AnyObject {
    /// How much the bytes can be trusted.
    var quality: EntropyQuality { get }
    /// Fills `buffer` with random bytes.
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
    /// A random 64-bit value. (A requirement, not only an extension method, so that it can be called through
    /// `any EntropySource` in Embedded Swift, which cannot specialize extension methods on existentials.)
    func next64() -> UInt64
}

/// How an entropy source produces its bytes.
public enum EntropyQuality: Equatable, Sendable {
    /// A hardware or hypervisor random number generator (RDSEED, RDRAND, virtio-rng).
    case hardware
    /// A fallback without a hardware source: adequate for hash seeding, not for secrets.
    case weak
}

extension EntropySource {
    /// Default: eight bytes from `fill`.
    public func next64() -> UInt64 {
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { fill($0) }
        return value
    }
}

/// A deterministic generator (SplitMix64) for tests and simulations; never use it for secrets.
public final class SeededEntropy: EntropySource {
    private var state: UInt64

    /// Creates a generator whose output depends only on `seed`.
    public init(seed: UInt64) { state = seed }

    /// Always `.weak`: the sequence is predictable by design.
    public var quality: EntropyQuality { .weak }

    /// The next SplitMix64 output.
    public func next64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var index = 0
        while index < buffer.count {
            var word = next64()
            for _ in 0..<8 where index < buffer.count {
                buffer[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
    }
}
