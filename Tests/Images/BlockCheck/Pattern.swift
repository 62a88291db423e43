/// The disk pattern BlockCheck writes and checks, and which the boot tests compute on the host.
///
/// The disk is a sequence of little-endian 64-bit words; word `k` (bytes `8k ..< 8k + 8`, so sector `n` holds words
/// `64n ..< 64n + 64`) is `(k ^ seed) &* 0x9E3779B97F4A7C15 &+ 0x6A09E667F3BCC909`. Multiplication by an odd constant
/// is a bijection on 64-bit words, so every word of the disk is distinct for one seed: data written to the wrong
/// sector, the wrong offset, or not at all is always noticed.
enum Pattern {
    /// Word `index` of the pattern for `seed`.
    @inline(__always)
    static func word(_ index: UInt64, seed: UInt64) -> UInt64 {
        (index ^ seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x6A09_E667_F3BC_C909
    }

    /// Fills `buffer` with the pattern of the bytes starting at disk byte offset `offset` (both multiples of 8).
    static func fill(_ buffer: UnsafeMutableRawBufferPointer, diskOffset offset: UInt64, seed: UInt64) {
        guard let base = buffer.baseAddress else { return }
        let first = offset / 8
        for i in 0..<(buffer.count / 8) {
            base.storeBytes(of: word(first + UInt64(i), seed: seed).littleEndian, toByteOffset: 8 * i, as: UInt64.self)
        }
    }

    /// The disk byte offset of the first word in `buffer` that differs from the pattern, or nil if all match.
    static func firstMismatch(_ buffer: UnsafeRawBufferPointer, diskOffset offset: UInt64, seed: UInt64) -> UInt64? {
        guard let base = buffer.baseAddress else { return nil }
        let first = offset / 8
        for i in 0..<(buffer.count / 8) {
            let value = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
            if value != word(first + UInt64(i), seed: seed) { return offset + UInt64(8 * i) }
        }
        return nil
    }
}
