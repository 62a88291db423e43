/// The default heap: a two-level segregated-fit allocator (TLSF, after Masmano et al., "TLSF: a new dynamic
/// memory allocator for real-time systems", 2004). Allocation and free are O(1); freed blocks are coalesced
/// with free neighbours immediately, so memory is reused and fragmentation is bounded by the size-class
/// granularity (a block found for a request is at most 1/16 larger than the request's class).
///
/// ## Layout
/// Every block starts with a 16-byte header and is a multiple of 16 bytes, so payloads are 16-byte aligned:
/// ```
///  block+0   previous physical block's size (valid whenever the PREV_FREE flag is set; kept up to date always)
///  block+8   this block's size | FREE (bit 0) | PREV_FREE (bit 1)
///  block+16  payload ... (free blocks keep next-free and previous-free pointers here)
/// ```
/// A region is a run of blocks ending in a 16-byte sentinel header of size 0 that is always "used", so
/// coalescing never runs off the end. The first region also holds the control block (free-list heads, bitmaps,
/// the region table); the allocator itself uses no Swift heap memory.
///
/// ## Size classes
/// Blocks below 256 bytes have exact 16-byte classes (first level 0). Larger sizes use first level
/// `floor(log2(size)) - 7` and 16 second-level subdivisions of each power of two. Searching rounds the request up
/// to the next class boundary, so any block in the list found is large enough (a "good fit").
public final class TLSFHeap: HeapAllocator {
    static let alignment = 16
    static let headerSize = 16
    static let minimumBlock = 32
    static let secondLevelLog2 = 4
    static let secondLevelCount = 1 << secondLevelLog2
    static let smallLimit = 256
    static let firstLevelCount = 41
    static let maxRegions = 64
    static let freeBit: UInt64 = 1
    static let prevFreeBit: UInt64 = 2
    static let flagMask: UInt64 = 15

    // Control block, carved from the first region.
    private let heads: UnsafeMutablePointer<UnsafeMutableRawPointer?>  // [firstLevelCount * secondLevelCount]
    private let secondLevelMaps: UnsafeMutablePointer<UInt32>          // [firstLevelCount]
    private var firstLevelMap: UInt64 = 0
    private let regions: UnsafeMutablePointer<(start: UInt, end: UInt)>  // [maxRegions]
    private var regionCount = 0
    private var stats = HeapStatistics()

    /// The allocator's counters.
    public var statistics: HeapStatistics { stats }

    static var controlBytes: Int {
        let heads = firstLevelCount * secondLevelCount * MemoryLayout<UnsafeMutableRawPointer?>.stride
        let maps = firstLevelCount * MemoryLayout<UInt32>.stride
        let table = maxRegions * MemoryLayout<(start: UInt, end: UInt)>.stride
        return (heads + maps + table + 15) & ~15
    }

    /// Creates a heap over `region`; nil if the region cannot hold the control block plus one minimum block.
    public init?(region: UnsafeMutableRawBufferPointer) {
        guard let start = region.baseAddress else { return nil }
        let alignedStart = (UInt(bitPattern: start) + 15) & ~15
        let end = UInt(bitPattern: start) + UInt(region.count)
        let control = Self.controlBytes
        guard end > alignedStart, Int(end - alignedStart) >= control + Self.minimumBlock + 2 * Self.headerSize else {
            return nil
        }
        let base = UnsafeMutableRawPointer(bitPattern: alignedStart)!
        let headCount = Self.firstLevelCount * Self.secondLevelCount
        heads = base.bindMemory(to: UnsafeMutableRawPointer?.self, capacity: headCount)
        heads.initialize(repeating: nil, count: headCount)
        let mapsAddress = base + headCount * MemoryLayout<UnsafeMutableRawPointer?>.stride
        secondLevelMaps = mapsAddress.bindMemory(to: UInt32.self, capacity: Self.firstLevelCount)
        secondLevelMaps.initialize(repeating: 0, count: Self.firstLevelCount)
        let tableAddress = mapsAddress + Self.firstLevelCount * MemoryLayout<UInt32>.stride
        let alignedTable = UnsafeMutableRawPointer(bitPattern: (UInt(bitPattern: tableAddress) + 15) & ~15)!
        regions = alignedTable.bindMemory(to: (start: UInt, end: UInt).self, capacity: Self.maxRegions)
        let rest = UnsafeMutableRawBufferPointer(start: base + control, count: Int(end - alignedStart) - control)
        stats.capacity = Int(end - alignedStart) - rest.count
        guard addRegion(rest) else { return nil }
    }

    // MARK: Block header access

    @inline(__always) private static func size(_ b: UnsafeMutableRawPointer) -> Int {
        Int(b.load(fromByteOffset: 8, as: UInt64.self) & ~flagMask)
    }
    @inline(__always) private static func flags(_ b: UnsafeMutableRawPointer) -> UInt64 {
        b.load(fromByteOffset: 8, as: UInt64.self) & flagMask
    }
    @inline(__always) private static func setHeader(_ b: UnsafeMutableRawPointer, size: Int, flags: UInt64) {
        b.storeBytes(of: UInt64(size) | flags, toByteOffset: 8, as: UInt64.self)
    }
    @inline(__always) private static func isFree(_ b: UnsafeMutableRawPointer) -> Bool { flags(b) & freeBit != 0 }
    @inline(__always) private static func next(_ b: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer { b + size(b) }
    @inline(__always) private static func previous(_ b: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
        b - Int(b.load(as: UInt64.self))
    }
    /// Records in the block after `b` that `b` has size `size(b)` and whether it is free.
    @inline(__always) private static func linkNext(_ b: UnsafeMutableRawPointer) {
        let n = next(b)
        n.storeBytes(of: UInt64(size(b)), as: UInt64.self)
        let f = flags(n)
        setHeader(n, size: size(n), flags: isFree(b) ? f | prevFreeBit : f & ~prevFreeBit)
    }
    @inline(__always) private static func nextFree(_ b: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        b.load(fromByteOffset: 16, as: UnsafeMutableRawPointer?.self)
    }
    @inline(__always) private static func previousFree(_ b: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        b.load(fromByteOffset: 24, as: UnsafeMutableRawPointer?.self)
    }
    @inline(__always) private static func setLinks(_ b: UnsafeMutableRawPointer, next: UnsafeMutableRawPointer?,
                                                   previous: UnsafeMutableRawPointer?) {
        b.storeBytes(of: next, toByteOffset: 16, as: UnsafeMutableRawPointer?.self)
        b.storeBytes(of: previous, toByteOffset: 24, as: UnsafeMutableRawPointer?.self)
    }

    // MARK: Size classes

    /// The (first, second) level list a free block of `size` bytes belongs to.
    static func mapping(_ size: Int) -> (Int, Int) {
        if size < smallLimit { return (0, size / (smallLimit / secondLevelCount)) }
        let f = Int.bitWidth - 1 - size.leadingZeroBitCount
        let first = f - 7
        let second = (size >> (f - secondLevelLog2)) & (secondLevelCount - 1)
        return (min(first, firstLevelCount - 1), second)
    }

    /// The first list whose every block is at least `size` bytes.
    static func searchMapping(_ size: Int) -> (Int, Int) {
        if size < smallLimit { return mapping(size) }
        let f = Int.bitWidth - 1 - size.leadingZeroBitCount
        let rounded = size + (1 << (f - secondLevelLog2)) - 1
        return mapping(rounded)
    }

    private func insert(_ b: UnsafeMutableRawPointer) {
        let (fl, sl) = Self.mapping(Self.size(b))
        let index = fl * Self.secondLevelCount + sl
        let head = heads[index]
        Self.setLinks(b, next: head, previous: nil)
        if let head { head.storeBytes(of: b, toByteOffset: 24, as: UnsafeMutableRawPointer?.self) }
        heads[index] = b
        firstLevelMap |= 1 << UInt64(fl)
        secondLevelMaps[fl] |= 1 << UInt32(sl)
    }

    private func remove(_ b: UnsafeMutableRawPointer) {
        let (fl, sl) = Self.mapping(Self.size(b))
        let index = fl * Self.secondLevelCount + sl
        let n = Self.nextFree(b)
        let p = Self.previousFree(b)
        if let n { n.storeBytes(of: p, toByteOffset: 24, as: UnsafeMutableRawPointer?.self) }
        if let p { p.storeBytes(of: n, toByteOffset: 16, as: UnsafeMutableRawPointer?.self) } else { heads[index] = n }
        if heads[index] == nil {
            secondLevelMaps[fl] &= ~(1 << UInt32(sl))
            if secondLevelMaps[fl] == 0 { firstLevelMap &= ~(1 << UInt64(fl)) }
        }
    }

    /// A free block of at least `size` bytes, removed from its list, or nil.
    ///
    /// First the O(1) good fit: the first non-empty list whose every block is large enough. If there is none,
    /// the request's own list may still hold a block that happens to be large enough (its blocks span one class
    /// step); a short first-fit scan of it avoids growing the heap for, say, a 1 MiB request when a 1 MiB + 4 KiB
    /// block is free.
    private func takeFreeBlock(_ size: Int) -> UnsafeMutableRawPointer? {
        var (fl, sl) = Self.searchMapping(size)
        if fl < Self.firstLevelCount {
            var secondMap = secondLevelMaps[fl] & (UInt32.max << UInt32(sl))
            if secondMap == 0 && fl + 1 < Self.firstLevelCount {
                let firstMap = firstLevelMap & (UInt64.max << UInt64(fl + 1))
                if firstMap != 0 {
                    fl = firstMap.trailingZeroBitCount
                    secondMap = secondLevelMaps[fl]
                }
            }
            if secondMap != 0 {
                sl = secondMap.trailingZeroBitCount
                if let block = heads[fl * Self.secondLevelCount + sl],
                   fl < Self.firstLevelCount - 1 || Self.size(block) >= size {
                    remove(block)
                    return block
                }
            }
        }
        let (exactFirst, exactSecond) = Self.mapping(size)
        var node = heads[exactFirst * Self.secondLevelCount + exactSecond]
        var scanned = 0
        while let block = node, scanned < 16 {
            if Self.size(block) >= size {
                remove(block)
                return block
            }
            node = Self.nextFree(block)
            scanned += 1
        }
        return nil
    }

    /// Splits the tail of `b` beyond `size` bytes into a new free block when it is big enough to stand alone.
    private func trim(_ b: UnsafeMutableRawPointer, to size: Int) {
        let total = Self.size(b)
        guard total - size >= Self.minimumBlock else { return }
        let tail = b + size
        Self.setHeader(b, size: size, flags: Self.flags(b))
        Self.setHeader(tail, size: total - size, flags: Self.freeBit)
        Self.linkNext(b)
        Self.linkNext(tail)
        insert(tail)
    }

    // MARK: HeapAllocator

    public func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= 0, byteCount <= Int.max / 2, alignment >= 0, alignment.nonzeroBitCount <= 1 else {
            stats.failedAllocations += 1
            return nil
        }
        let align = max(alignment, Self.alignment)
        let needed = max((byteCount + 15) & ~15, 16) + Self.headerSize
        let searchSize = align > Self.alignment ? needed + align + Self.minimumBlock : needed
        guard var block = takeFreeBlock(searchSize) else {
            stats.failedAllocations += 1
            return nil
        }
        if align > Self.alignment {
            let payload = UInt(bitPattern: block + Self.headerSize)
            var gap = Int(((payload + UInt(align) - 1) & ~(UInt(align) - 1)) - payload)
            if gap != 0 && gap < Self.minimumBlock { gap += align }
            if gap > 0 {
                // The leading gap becomes a free block of its own. Its physical predecessor is in use (free blocks
                // are always coalesced), so it needs no merging.
                let total = Self.size(block)
                let flags = Self.flags(block) & Self.prevFreeBit
                Self.setHeader(block, size: gap, flags: flags | Self.freeBit)
                let aligned = block + gap
                Self.setHeader(aligned, size: total - gap, flags: Self.prevFreeBit)
                Self.linkNext(block)
                insert(block)
                block = aligned
            }
        }
        // Mark used before trimming, so the split-off tail records a used predecessor.
        Self.setHeader(block, size: Self.size(block), flags: Self.flags(block) & Self.prevFreeBit)
        trim(block, to: needed)
        Self.linkNext(block)
        stats.recordAllocation(Self.size(block) - Self.headerSize)
        return block + Self.headerSize
    }

    private func regionIndex(of address: UInt) -> Int? {
        for i in 0..<regionCount where regions[i].start <= address && address < regions[i].end { return i }
        return nil
    }

    /// The block header for `pointer` if it is a plausible live block: inside a region, aligned, and its
    /// neighbours' boundary fields agree with its size.
    private func validatedBlock(_ pointer: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        let address = UInt(bitPattern: pointer)
        guard address & 15 == 0, address >= UInt(Self.headerSize), let r = regionIndex(of: address) else { return nil }
        let block = pointer - Self.headerSize
        guard UInt(bitPattern: block) >= regions[r].start else { return nil }
        // The header of a pointer we did not hand out is arbitrary bytes: check the raw value against the region
        // before using it as a size, so nothing below can overflow.
        let raw = block.load(fromByteOffset: 8, as: UInt64.self) & ~Self.flagMask
        let room = UInt64(regions[r].end - UInt(bitPattern: block))
        guard raw >= UInt64(Self.minimumBlock), raw <= room, raw + UInt64(Self.headerSize) <= room else { return nil }
        guard Self.next(block).load(as: UInt64.self) == raw else { return nil }
        return block
    }

    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(HeapError) {
        guard var block = validatedBlock(pointer) else { throw .invalidPointer(UInt(bitPattern: pointer)) }
        guard !Self.isFree(block) else { throw .doubleFree(UInt(bitPattern: pointer)) }
        stats.recordFree(Self.size(block) - Self.headerSize)
        Self.setHeader(block, size: Self.size(block), flags: Self.flags(block) | Self.freeBit)
        let n = Self.next(block)
        if Self.isFree(n) {
            remove(n)
            Self.setHeader(block, size: Self.size(block) + Self.size(n), flags: Self.flags(block))
        }
        if Self.flags(block) & Self.prevFreeBit != 0 {
            let p = Self.previous(block)
            remove(p)
            Self.setHeader(p, size: Self.size(p) + Self.size(block), flags: Self.flags(p))
            block = p
        }
        Self.linkNext(block)
        insert(block)
    }

    public func usableSize(of pointer: UnsafeMutableRawPointer) -> Int? {
        guard let block = validatedBlock(pointer), !Self.isFree(block) else { return nil }
        return Self.size(block) - Self.headerSize
    }

    public func addRegion(_ region: UnsafeMutableRawBufferPointer) -> Bool {
        guard regionCount < Self.maxRegions, let start = region.baseAddress else { return false }
        let first = (UInt(bitPattern: start) + 15) & ~15
        let end = (UInt(bitPattern: start) + UInt(region.count)) & ~15
        guard end > first, Int(end - first) >= Self.minimumBlock + Self.headerSize else { return false }
        for i in 0..<regionCount where first < regions[i].end && regions[i].start < end { return false }
        let block = UnsafeMutableRawPointer(bitPattern: first)!
        let size = Int(end - first) - Self.headerSize
        block.storeBytes(of: 0, as: UInt64.self)
        Self.setHeader(block, size: size, flags: Self.freeBit)
        let sentinel = block + size
        Self.setHeader(sentinel, size: 0, flags: 0)
        Self.linkNext(block)
        regions[regionCount] = (first, end)
        regionCount += 1
        stats.capacity += region.count
        insert(block)
        return true
    }

    public func owns(_ pointer: UnsafeRawPointer) -> Bool {
        regionIndex(of: UInt(bitPattern: pointer)) != nil
    }

    /// Walks every block of every region and checks the invariants: sizes add up to the region, boundary sizes
    /// agree, no two free blocks are adjacent, every free block is in the list of its size class, and the usable
    /// bytes of used blocks equal `statistics.bytesInUse`. Returns the first violation found, or nil. For tests.
    public func checkConsistency() -> String? {
        var usedBytes = 0
        var usedCount = 0
        var freeCount = 0
        for r in 0..<regionCount {
            var block = UnsafeMutableRawPointer(bitPattern: regions[r].start)!
            var previousFree = false
            var previousSize = 0
            while Self.size(block) != 0 {
                let size = Self.size(block)
                if size < Self.minimumBlock || size & 15 != 0 { return "bad block size \(size)" }
                if UInt(bitPattern: block) + UInt(size) > regions[r].end { return "block runs past its region" }
                if previousSize != 0 && Int(block.load(as: UInt64.self)) != previousSize {
                    return "boundary size mismatch"
                }
                if (Self.flags(block) & Self.prevFreeBit != 0) != previousFree { return "stale PREV_FREE flag" }
                if Self.isFree(block) {
                    if previousFree { return "two adjacent free blocks" }
                    freeCount += 1
                    let (fl, sl) = Self.mapping(size)
                    var node = heads[fl * Self.secondLevelCount + sl]
                    var found = false
                    while let n = node {
                        if n == block { found = true; break }
                        node = Self.nextFree(n)
                    }
                    if !found { return "free block missing from its list" }
                } else {
                    usedBytes += size - Self.headerSize
                    usedCount += 1
                }
                previousFree = Self.isFree(block)
                previousSize = size
                block = block + size
            }
            if UInt(bitPattern: block) + UInt(Self.headerSize) != regions[r].end { return "sentinel misplaced" }
        }
        var listed = 0
        for i in 0..<(Self.firstLevelCount * Self.secondLevelCount) {
            var node = heads[i]
            while let n = node {
                listed += 1
                node = Self.nextFree(n)
            }
        }
        if listed != freeCount { return "free lists hold \(listed) blocks, regions \(freeCount)" }
        if usedBytes != stats.bytesInUse { return "bytesInUse \(stats.bytesInUse) but blocks hold \(usedBytes)" }
        if usedCount != stats.liveAllocations { return "liveAllocations mismatch" }
        return nil
    }
}
