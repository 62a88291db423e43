// TO BE REPLACED AT MERGE: `Interfaces.SHA256` (branch `embed`) provides the same type with the same calls
// (`SHA256()`, `update(_: UnsafeRawBufferPointer)`, `finalize()` whose result prints as 64 hex digits). Once it is on
// main, delete this file; BlockCheck's main.swift compiles against the shared one unchanged (a type declared in this
// module shadows the imported one until then, so both can coexist during the merge).

/// SHA-256 (FIPS 180-4 §6.2), incremental, for BlockCheck's digest of a disk.
///
/// Invariant: `pendingCount < 64`; `byteCount` counts every byte passed to `update`.
struct SHA256 {
    /// A finished digest: 32 bytes, printed as 64 lowercase hexadecimal digits.
    struct Digest: CustomStringConvertible {
        /// The digest bytes H0...H7, big-endian (§6.2.2 step 4).
        var bytes: [UInt8]

        /// Lowercase hexadecimal.
        var description: String {
            let digits: StaticString = "0123456789abcdef"
            var text: [UInt8] = []
            digits.withUTF8Buffer { d in
                for b in bytes {
                    text.append(d[Int(b >> 4)])
                    text.append(d[Int(b & 0xF)])
                }
            }
            return String(decoding: text, as: UTF8.self)
        }
    }

    /// §5.3.3: the initial hash value.
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var pending = [UInt8](repeating: 0, count: 64)
    private var pendingCount = 0
    private var byteCount: UInt64 = 0
    private var w = [UInt32](repeating: 0, count: 64)

    /// A hash of the empty message so far.
    init() {}

    /// §4.2.2: the 64 round constants.
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// §6.2.2: processes one 64-byte block starting at `base`.
    private mutating func compress(_ base: UnsafeRawPointer) {
        for t in 0..<16 {
            w[t] = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
        }
        for t in 16..<64 {
            let x = w[t - 15], y = w[t - 2]
            let s0 = Self.rotr(x, 7) ^ Self.rotr(x, 18) ^ (x >> 3)
            let s1 = Self.rotr(y, 17) ^ Self.rotr(y, 19) ^ (y >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, hh) = h
        for t in 0..<64 {
            let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ Self.k[t] &+ w[t]
            let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g; g = f; f = e; e = d &+ t1
            d = c; c = b; b = a; a = t1 &+ t2
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
    }

    /// Adds `bytes` to the message.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        byteCount &+= UInt64(bytes.count)
        var offset = 0
        if pendingCount > 0 {
            let take = min(64 - pendingCount, bytes.count)
            for i in 0..<take { pending[pendingCount + i] = bytes[i] }
            pendingCount += take
            offset = take
            if pendingCount == 64 {
                pending.withUnsafeBytes { compress($0.baseAddress!) }
                pendingCount = 0
            }
        }
        while bytes.count - offset >= 64 {
            compress(base + offset)
            offset += 64
        }
        while offset < bytes.count {
            pending[pendingCount] = bytes[offset]
            pendingCount += 1
            offset += 1
        }
    }

    /// Adds `bytes` to the message.
    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// §5.1.1 padding, then the digest. Call once.
    mutating func finalize() -> Digest {
        let bits = byteCount &* 8
        var tail: [UInt8] = [0x80]
        let used = (pendingCount + 1) % 64
        let zeros = used <= 56 ? 56 - used : 120 - used
        tail += [UInt8](repeating: 0, count: zeros)
        for i in (0..<8).reversed() { tail.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i)))) }
        let savedCount = byteCount
        update(tail)
        byteCount = savedCount
        var out: [UInt8] = []
        for word in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out += [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8),
                    UInt8(truncatingIfNeeded: word)]
        }
        return Digest(bytes: out)
    }
}
