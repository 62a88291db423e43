/// SHA-256, the secure hash algorithm of FIPS 180-4 ("Secure Hash Standard", August 2015), §6.2.
///
/// Incremental: feed bytes with `update` as they arrive, in pieces of any size, then call `finalize` once.
///
/// ```swift
/// var hash = SHA256()
/// hash.update(Array("abc".utf8))
/// let digest = hash.finalize()   // ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad
/// ```
///
/// Pure and Embedded-safe: no heap allocation (the partial block, the state and the message schedule live in the
/// value and on the stack), no Foundation, nothing that can trap on any input. Messages of up to 2^61 - 1 bytes are
/// hashed (the 64-bit bit length of §5.1.1 bounds the message); beyond that the length wraps, as in every
/// implementation of the standard.
///
/// Invariant: `bufferedCount < 64`; `totalBytes` counts every byte passed to `update`.
public struct SHA256: Sendable {
    /// A 256-bit message digest (FIPS 180-4 §6.2.2 step 4: H0…H7, big-endian).
    public struct Digest: Hashable, Sendable, CustomStringConvertible {
        /// The eight 32-bit words H0…H7 of the final hash value.
        public var words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

        /// A digest from its eight words.
        public init(words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)) {
            self.words = words
        }

        /// The digest whose 32 bytes are read big-endian from `bytes` (nil unless `bytes.count == 32`).
        public init?(bytes: UnsafeRawBufferPointer) {
            guard bytes.count == 32 else { return nil }
            func word(_ i: Int) -> UInt32 {
                UInt32(bytes[4 * i]) << 24 | UInt32(bytes[4 * i + 1]) << 16 | UInt32(bytes[4 * i + 2]) << 8
                    | UInt32(bytes[4 * i + 3])
            }
            words = (word(0), word(1), word(2), word(3), word(4), word(5), word(6), word(7))
        }

        /// The all-zero value (not the digest of anything in practice; used as "no digest").
        public static let zero = Digest(words: (0, 0, 0, 0, 0, 0, 0, 0))

        /// Word `index` (0…7) of the hash value.
        public func word(_ index: Int) -> UInt32 {
            switch index & 7 {
            case 0: return words.0
            case 1: return words.1
            case 2: return words.2
            case 3: return words.3
            case 4: return words.4
            case 5: return words.5
            case 6: return words.6
            default: return words.7
            }
        }

        /// The 32 digest bytes in order (H0 big-endian first).
        public var bytes: [UInt8] {
            var result: [UInt8] = []
            result.reserveCapacity(32)
            for i in 0..<8 {
                let w = word(i)
                result.append(UInt8(truncatingIfNeeded: w >> 24))
                result.append(UInt8(truncatingIfNeeded: w >> 16))
                result.append(UInt8(truncatingIfNeeded: w >> 8))
                result.append(UInt8(truncatingIfNeeded: w))
            }
            return result
        }

        /// Writes the 32 digest bytes to `destination` (which must hold at least 32 bytes; fewer are left alone).
        public func write(to destination: UnsafeMutableRawBufferPointer) {
            guard destination.count >= 32 else { return }
            for i in 0..<8 {
                let w = word(i)
                destination[4 * i] = UInt8(truncatingIfNeeded: w >> 24)
                destination[4 * i + 1] = UInt8(truncatingIfNeeded: w >> 16)
                destination[4 * i + 2] = UInt8(truncatingIfNeeded: w >> 8)
                destination[4 * i + 3] = UInt8(truncatingIfNeeded: w)
            }
        }

        /// 64 lowercase hexadecimal digits, as printed by `sha256sum`.
        public var description: String {
            var text = ""
            text.reserveCapacity(64)
            let digits: StaticString = "0123456789abcdef"
            for i in 0..<8 {
                let w = word(i)
                var shift: UInt32 = 28
                while true {
                    let nibble = Int((w >> shift) & 0xF)
                    text.unicodeScalars.append(Unicode.Scalar(digits.utf8Start[nibble]))
                    if shift == 0 { break }
                    shift -= 4
                }
            }
            return text
        }

        /// Word-wise equality.
        public static func == (a: Digest, b: Digest) -> Bool {
            a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
                && a.words.4 == b.words.4 && a.words.5 == b.words.5 && a.words.6 == b.words.6
                && a.words.7 == b.words.7
        }

        /// Hashes the eight words (consistent with `==`).
        public func hash(into hasher: inout Hasher) {
            for i in 0..<8 { hasher.combine(word(i)) }
        }
    }

    /// The working hash value H0…H7 (initially FIPS 180-4 §5.3.3).
    private var state: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)
    /// Bytes of an incomplete block, waiting for more input.
    private var buffer: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// How many bytes of `buffer` are in use (0…63).
    private var bufferedCount = 0
    /// Message length so far, in bytes.
    public private(set) var totalBytes: UInt64 = 0

    /// A hash over no bytes yet.
    public init() {}

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: [UInt8]) -> Digest {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds `bytes` to the message. Whole 64-byte blocks are compressed straight from `bytes`; only a partial block
    /// is copied into the value.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        totalBytes &+= UInt64(bytes.count)
        var index = 0
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { schedule in
            let w = schedule.baseAddress!
            if bufferedCount > 0 {
                let take = min(64 - bufferedCount, bytes.count)
                let start = bufferedCount
                withUnsafeMutableBytes(of: &buffer) { block in
                    block.baseAddress!.advanced(by: start).copyMemory(from: base, byteCount: take)
                }
                bufferedCount += take
                index = take
                if bufferedCount == 64 {
                    let block = buffer
                    withUnsafeBytes(of: block) { SHA256.compress(&state, $0.baseAddress!, w) }
                    bufferedCount = 0
                }
            }
            while bytes.count - index >= 64 {
                SHA256.compress(&state, base + index, w)
                index += 64
            }
        }
        let rest = bytes.count - index
        if rest > 0 {
            withUnsafeMutableBytes(of: &buffer) { block in
                block.baseAddress!.copyMemory(from: base + index, byteCount: rest)
            }
            bufferedCount = rest
        }
    }

    /// Pads the message (FIPS 180-4 §5.1.1: a 1 bit, zeros, the 64-bit big-endian bit length) and returns the
    /// digest. The value is left finished; hash another message with a fresh `SHA256()`.
    public mutating func finalize() -> Digest {
        let bitLength = totalBytes &* 8
        var padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                      UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        // One or two blocks: 0x80, zeros up to 56 mod 64, then eight length bytes.
        let padCount = bufferedCount < 56 ? 56 - bufferedCount : 120 - bufferedCount
        let saved = totalBytes
        withUnsafeMutableBytes(of: &padding) { pad in
            pad[0] = 0x80
            for i in 0..<8 { pad[padCount + i] = UInt8(truncatingIfNeeded: bitLength >> (56 - 8 * UInt64(i))) }
            update(UnsafeRawBufferPointer(rebasing: pad[0..<(padCount + 8)]))
        }
        totalBytes = saved
        return Digest(words: state)
    }

    /// The round constants K0…K63 (FIPS 180-4 §4.2.2).
    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// Processes one 64-byte block at `block` (FIPS 180-4 §6.2.2 steps 1–4), with `w` as room for the 64-word
    /// message schedule.
    private static func compress(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32),
                                 _ block: UnsafeRawPointer, _ w: UnsafeMutablePointer<UInt32>) {
        // Step 1: the message schedule. Words are big-endian (§3.1); the block may be unaligned.
        for t in 0..<16 {
            let p = block + 4 * t
            w[t] = UInt32(p.load(fromByteOffset: 0, as: UInt8.self)) << 24
                | UInt32(p.load(fromByteOffset: 1, as: UInt8.self)) << 16
                | UInt32(p.load(fromByteOffset: 2, as: UInt8.self)) << 8
                | UInt32(p.load(fromByteOffset: 3, as: UInt8.self))
        }
        for t in 16..<64 {
            let x = w[t - 15]
            let y = w[t - 2]
            let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)  // σ0 (§4.1.2, 4.6)
            let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)  // σ1 (4.7)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        // Steps 2–3: the 64 rounds.
        var (a, b, c, d, e, f, g, hh) = h
        k.withUnsafeBufferPointer { k in
            let kp = k.baseAddress!
            for t in 0..<64 {
                let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)  // Σ1 (4.5)
                let ch = (e & f) ^ (~e & g)  // Ch (4.2)
                let t1 = hh &+ s1 &+ ch &+ kp[t] &+ w[t]
                let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)  // Σ0 (4.4)
                let maj = (a & b) ^ (a & c) ^ (b & c)  // Maj (4.3)
                let t2 = s0 &+ maj
                hh = g
                g = f
                f = e
                e = d &+ t1
                d = c
                c = b
                b = a
                a = t1 &+ t2
            }
        }
        // Step 4: the intermediate hash value.
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
    }
}
