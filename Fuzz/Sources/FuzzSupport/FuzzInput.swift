/// A cursor over one fuzz input: harnesses decode the bytes libFuzzer hands them into field values, operations
/// and packets with it.
///
/// Reading past the end never fails: missing bytes read as zero, and `bytes(_:)` returns what is left. A harness
/// therefore stays total over every input, and libFuzzer's mutations of the length mean something.
public struct FuzzInput {
    /// The whole input.
    public let data: UnsafeRawBufferPointer
    /// The next byte to read.
    public private(set) var position = 0

    /// A cursor at the start of `data`.
    public init(_ data: UnsafeRawBufferPointer) { self.data = data }

    /// Bytes not yet read.
    public var remaining: Int { data.count - position }
    /// Whether every byte has been read.
    public var isEmpty: Bool { position >= data.count }

    /// The next byte, or 0 past the end.
    public mutating func u8() -> UInt8 {
        guard position < data.count else { return 0 }
        defer { position += 1 }
        return data[position]
    }

    /// The next two bytes, big-endian.
    public mutating func u16() -> UInt16 { UInt16(u8()) << 8 | UInt16(u8()) }

    /// The next four bytes, big-endian.
    public mutating func u32() -> UInt32 { UInt32(u16()) << 16 | UInt32(u16()) }

    /// The low bit of the next byte.
    public mutating func bool() -> Bool { u8() & 1 != 0 }

    /// Up to `count` next bytes (fewer at the end of the input); a view into the input.
    public mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer {
        let n = max(0, min(count, remaining))
        let slice = UnsafeRawBufferPointer(rebasing: data[position..<(position + n)])
        position += n
        return slice
    }

    /// Everything not yet read.
    public mutating func rest() -> UnsafeRawBufferPointer { bytes(remaining) }

    /// A chunk whose length comes from the input: a 16-bit length, then that many bytes (or what is left).
    public mutating func chunk() -> UnsafeRawBufferPointer { bytes(Int(u16())) }
}

/// Builds fuzz inputs (for seed corpora) in the format `FuzzInput` reads.
public struct FuzzInputWriter {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty input.
    public init() {}

    /// Appends one byte.
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    /// Appends a big-endian 16-bit value.
    public mutating func u16(_ v: UInt16) { u8(UInt8(v >> 8)); u8(UInt8(v & 0xFF)) }
    /// Appends a big-endian 32-bit value.
    public mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }
    /// Appends a Bool as one byte.
    public mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    /// Appends raw bytes.
    public mutating func raw<S: Sequence>(_ s: S) where S.Element == UInt8 { bytes.append(contentsOf: s) }
    /// Appends a 16-bit length, then the bytes (what `FuzzInput.chunk()` reads).
    public mutating func chunk(_ s: [UInt8]) {
        u16(UInt16(min(s.count, 65535)))
        raw(s.prefix(65535))
    }
}

/// A tiny deterministic generator for decisions a harness derives from its input (split points and the
/// like), so that the same input always does the same thing.
public struct SplitMix {
    private var state: UInt64

    /// A generator whose sequence depends only on `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next value.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<bound` (`bound` > 0).
    public mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(max(bound, 1))) }
}
