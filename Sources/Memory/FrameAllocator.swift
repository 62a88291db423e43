import Interfaces

/// Why a frame operation was refused.
public enum FrameError: Error, Equatable, CustomStringConvertible {
    /// No usable range was given.
    case noUsableMemory
    /// The bitmap storage is smaller than `bitmapBytes(covering:)` requires.
    case bitmapTooSmall(needed: Int, given: Int)
    /// The address is not 4 KiB-aligned.
    case misaligned(UInt64)
    /// The frames are not all inside usable RAM this allocator manages.
    case outOfRange(UInt64)
    /// A frame being freed is not currently allocated (a double free).
    case notAllocated(UInt64)

    /// The failure's kind and its key number, printable without allocating.
    public var brief: (what: StaticString, value: UInt64) {
        switch self {
        case .noUsableMemory: return ("no usable memory", 0)
        case .bitmapTooSmall(let needed, _): return ("frame bitmap too small; bytes needed:", UInt64(needed))
        case .misaligned(let a): return ("address not 4 KiB-aligned:", a)
        case .outOfRange(let a): return ("address outside managed RAM:", a)
        case .notAllocated(let a): return ("frame not allocated:", a)
        }
    }

    public var description: String {
        switch self {
        case .noUsableMemory: return "no usable memory"
        case .bitmapTooSmall(let needed, let given): return "bitmap needs \(needed) bytes, got \(given)"
        case .misaligned(let a): return "\(hex(a)) is not 4 KiB-aligned"
        case .outOfRange(let a): return "\(hex(a)) is outside managed RAM"
        case .notAllocated(let a): return "frame \(hex(a)) is not allocated"
        }
    }
}

/// A physical frame allocator over the usable RAM of a `MemoryMap`: one bit per 4 KiB frame, 1 = in use.
///
/// Invariants: frames outside `ranges` are always marked in use and can never be freed; `freeFrames` equals the
/// number of clear bits; single-frame and contiguous allocation are both next-fit from moving hints, wrapping
/// around to the bottom when nothing fits above the hint.
public struct FrameAllocator {
    /// Frame size: 4 KiB.
    public static let frameSize: UInt64 = 4096

    /// The usable ranges, sorted and page-aligned.
    public let ranges: [Range<UInt64>]
    /// Address of frame index 0.
    public let base: UInt64
    /// Number of frames between `base` and the end of the last range.
    public let frameCount: Int
    /// Frames currently free.
    public private(set) var freeFrames: Int
    /// Frames that were free when the allocator was created.
    public let usableFrames: Int

    private let words: UnsafeMutablePointer<UInt64>
    private let wordCount: Int
    private var hint = 0
    private var contiguousHint = 0

    /// Bytes of bitmap needed to cover `ranges` (rounded up to whole 64-bit words).
    public static func bitmapBytes(covering ranges: [Range<UInt64>]) -> Int {
        guard let first = ranges.first, let last = ranges.last else { return 0 }
        let frames = Int((last.upperBound - first.lowerBound) / frameSize)
        return (frames + 63) / 64 * 8
    }

    /// Creates an allocator managing `ranges` (sorted, disjoint, page-aligned) with its bitmap in `storage`,
    /// which must stay valid and must not overlap any of the ranges.
    public init(ranges: [Range<UInt64>], bitmapStorage storage: UnsafeMutableRawBufferPointer) throws(FrameError) {
        let usable = ranges.filter { !$0.isEmpty }
        guard let first = usable.first, let last = usable.last else { throw .noUsableMemory }
        for r in usable where r.lowerBound % Self.frameSize != 0 || r.upperBound % Self.frameSize != 0 {
            throw .misaligned(r.lowerBound % Self.frameSize != 0 ? r.lowerBound : r.upperBound)
        }
        let needed = Self.bitmapBytes(covering: usable)
        guard storage.count >= needed, let pointer = storage.baseAddress else {
            throw .bitmapTooSmall(needed: needed, given: storage.count)
        }
        self.ranges = usable
        base = first.lowerBound
        frameCount = Int((last.upperBound - first.lowerBound) / Self.frameSize)
        wordCount = needed / 8
        words = pointer.bindMemory(to: UInt64.self, capacity: wordCount)
        words.initialize(repeating: ~0, count: wordCount)
        var free = 0
        for r in usable {
            let firstFrame = Int((r.lowerBound - base) / Self.frameSize)
            let count = Int((r.upperBound - r.lowerBound) / Self.frameSize)
            Self.clearBits(words, from: firstFrame, count: count)
            free += count
        }
        freeFrames = free
        usableFrames = free
    }

    /// Clears `count` bits starting at bit `first`: partial words bit by bit, whole words at once (a 4 GiB map
    /// is a million frames; boot time depends on not touching them one at a time).
    private static func clearBits(_ words: UnsafeMutablePointer<UInt64>, from first: Int, count: Int) {
        var bit = first
        let end = first + count
        while bit < end && bit & 63 != 0 {
            words[bit >> 6] &= ~(1 << UInt64(bit & 63))
            bit += 1
        }
        while bit + 64 <= end {
            words[bit >> 6] = 0
            bit += 64
        }
        while bit < end {
            words[bit >> 6] &= ~(1 << UInt64(bit & 63))
            bit += 1
        }
    }

    /// Carves `bytes` (rounded up to whole frames) off the front of the first range large enough, returning
    /// the carved address and the remaining ranges. The guest uses this to place the bitmap itself.
    public static func carve(bytes: Int, from ranges: [Range<UInt64>]) -> (address: UInt64, remaining: [Range<UInt64>])? {
        let size = (UInt64(bytes) + frameSize - 1) / frameSize * frameSize
        for (i, r) in ranges.enumerated() where r.upperBound - r.lowerBound >= size {
            var remaining = ranges
            let rest = (r.lowerBound + size)..<r.upperBound
            if rest.isEmpty { remaining.remove(at: i) } else { remaining[i] = rest }
            return (r.lowerBound, remaining)
        }
        return nil
    }

    private func isUsed(_ frame: Int) -> Bool { words[frame >> 6] & (1 << UInt64(frame & 63)) != 0 }
    private mutating func setUsed(_ frame: Int, _ used: Bool) {
        if used { words[frame >> 6] |= 1 << UInt64(frame & 63) } else { words[frame >> 6] &= ~(1 << UInt64(frame & 63)) }
    }

    /// Allocates one frame, or returns nil when none is free.
    public mutating func allocate() -> PhysicalAddress? {
        guard freeFrames > 0 else { return nil }
        for step in 0..<wordCount {
            let w = (hint + step) % wordCount
            let word = words[w]
            if word == ~0 { continue }
            let bit = (~word).trailingZeroBitCount
            let frame = w * 64 + bit
            if frame >= frameCount { continue }
            words[w] |= 1 << UInt64(bit)
            freeFrames -= 1
            hint = w
            return PhysicalAddress(base + UInt64(frame) * Self.frameSize)
        }
        return nil
    }

    /// Allocates `count` physically contiguous frames whose first address is a multiple of `alignment` bytes
    /// (a power of two, at least 4 KiB), or returns nil when no such run is free.
    public mutating func allocateContiguous(count: Int, alignment: UInt64 = frameSize) -> PhysicalAddress? {
        guard count > 0, count <= freeFrames, alignment.nonzeroBitCount == 1, alignment >= Self.frameSize else {
            return nil
        }
        let alignFrames = Int(alignment / Self.frameSize)
        // The first candidate frame whose address is aligned.
        let baseOffset = Int((PhysicalAddress(base).alignedUp(to: alignment).value - base) / Self.frameSize)
        if let run = findRun(count: count, alignFrames: alignFrames, baseOffset: baseOffset, from: contiguousHint)
            ?? findRun(count: count, alignFrames: alignFrames, baseOffset: baseOffset, from: baseOffset) {
            for f in run..<(run + count) { setUsed(f, true) }
            freeFrames -= count
            contiguousHint = run + count
            return PhysicalAddress(base + UInt64(run) * Self.frameSize)
        }
        return nil
    }

    /// The first free run of `count` aligned frames at or after frame `from` (next fit: searching resumes where
    /// the previous contiguous allocation ended, so repeated allocations do not rescan the used prefix).
    private func findRun(count: Int, alignFrames: Int, baseOffset: Int, from: Int) -> Int? {
        var start = max(from, baseOffset)
        start = (start - baseOffset + alignFrames - 1) / alignFrames * alignFrames + baseOffset
        while start + count <= frameCount {
            var runEnd = start
            while runEnd < start + count && !isUsed(runEnd) { runEnd += 1 }
            if runEnd == start + count { return start }
            // Skip past the used frame that ended the run, to the next aligned candidate.
            let next = runEnd + 1
            start = (next - baseOffset + alignFrames - 1) / alignFrames * alignFrames + baseOffset
        }
        return nil
    }

    /// Returns `count` frames starting at `address` to the free pool. All of them must be allocated.
    public mutating func free(_ address: PhysicalAddress, count: Int = 1) throws(FrameError) {
        let a = address.value
        guard a % Self.frameSize == 0 else { throw .misaligned(a) }
        guard count > 0, a >= base else { throw .outOfRange(a) }
        let end = a + UInt64(count) * Self.frameSize
        guard ranges.contains(where: { $0.lowerBound <= a && end <= $0.upperBound }) else { throw .outOfRange(a) }
        let first = Int((a - base) / Self.frameSize)
        for f in first..<(first + count) where !isUsed(f) {
            throw .notAllocated(base + UInt64(f) * Self.frameSize)
        }
        for f in first..<(first + count) { setUsed(f, false) }
        freeFrames += count
    }

    /// Whether the frame containing `address` is managed by this allocator and currently allocated.
    public func isAllocated(_ address: PhysicalAddress) -> Bool {
        let a = address.value
        guard ranges.contains(where: { $0.contains(a) }) else { return false }
        return isUsed(Int((a - base) / Self.frameSize))
    }
}
