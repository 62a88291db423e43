/// The smallest heap: allocation moves a pointer up; only the most recent block can be given back.
///
/// For tiny images that allocate at startup and then run steady-state (or never free). Each block has a
/// 16-byte header holding its size, so `usableSize` and `realloc` work. `deallocate` of the newest live block
/// (of each region) moves the top back down, so strictly LIFO use reuses memory; any other free is accepted and
/// counted but the memory is not reused. Choose `TLSFHeap` for anything that frees in arbitrary order.
public final class BumpHeap: HeapAllocator {
    static let headerSize = 16
    static let maxRegions = 16
    static let freedMark: UInt64 = 1 << 63

    /// Region table (start, end, top), carved from the front of the first region: no Swift heap use.
    private let table: UnsafeMutablePointer<(start: UInt, end: UInt, top: UInt)>
    private var regionCount = 0
    private var stats = HeapStatistics()

    /// The allocator's counters. `bytesInUse` counts live blocks; memory of blocks freed out of order is lost.
    public var statistics: HeapStatistics { stats }

    /// Creates a bump heap over `region`; nil if it cannot hold the region table and one block.
    public init?(region: UnsafeMutableRawBufferPointer) {
        let tableBytes = Self.maxRegions * MemoryLayout<(start: UInt, end: UInt, top: UInt)>.stride
        guard let start = region.baseAddress, region.count >= tableBytes + 64 + 16 else { return nil }
        let aligned = (UInt(bitPattern: start) + 15) & ~15
        table = UnsafeMutableRawPointer(bitPattern: aligned)!
            .bindMemory(to: (start: UInt, end: UInt, top: UInt).self, capacity: Self.maxRegions)
        let used = Int(aligned - UInt(bitPattern: start)) + tableBytes
        stats.capacity = used
        guard addRegion(UnsafeMutableRawBufferPointer(start: start + used, count: region.count - used)) else {
            return nil
        }
    }

    public func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= 0, byteCount <= Int.max / 2, alignment >= 0, alignment.nonzeroBitCount <= 1 else {
            stats.failedAllocations += 1
            return nil
        }
        let align = UInt(max(alignment, 16))
        let size = UInt(max((byteCount + 15) & ~15, 16))
        for i in 0..<regionCount {
            let top = table[i].top
            let payload = (top + UInt(Self.headerSize) + align - 1) & ~(align - 1)
            let (end, overflow) = payload.addingReportingOverflow(size)
            guard !overflow, end <= table[i].end else { continue }
            let header = UnsafeMutableRawPointer(bitPattern: payload - UInt(Self.headerSize))!
            header.storeBytes(of: UInt64(size), toByteOffset: 8, as: UInt64.self)
            header.storeBytes(of: UInt64(top), as: UInt64.self)  // where the top was, for LIFO release
            table[i].top = end
            stats.recordAllocation(Int(size))
            return UnsafeMutableRawPointer(bitPattern: payload)
        }
        stats.failedAllocations += 1
        return nil
    }

    private func region(of address: UInt) -> Int? {
        for i in 0..<regionCount where table[i].start <= address && address < table[i].end { return i }
        return nil
    }

    public func deallocate(_ pointer: UnsafeMutableRawPointer) throws(HeapError) {
        let address = UInt(bitPattern: pointer)
        guard address & 15 == 0, let r = region(of: address), address >= table[r].start + UInt(Self.headerSize)
        else { throw .invalidPointer(address) }
        let header = pointer - Self.headerSize
        let word = header.load(fromByteOffset: 8, as: UInt64.self)
        guard word & Self.freedMark == 0 else { throw .doubleFree(address) }
        let size = UInt(word)
        guard size >= 16, size & 15 == 0, address <= table[r].top, size <= table[r].top - address else {
            throw .invalidPointer(address)
        }
        header.storeBytes(of: word | Self.freedMark, toByteOffset: 8, as: UInt64.self)
        stats.recordFree(Int(size))
        if address + size == table[r].top {
            table[r].top = UInt(header.load(as: UInt64.self))
        }
    }

    public func usableSize(of pointer: UnsafeMutableRawPointer) -> Int? {
        let address = UInt(bitPattern: pointer)
        guard address & 15 == 0, let r = region(of: address), address >= table[r].start + UInt(Self.headerSize)
        else { return nil }
        let word = (pointer - Self.headerSize).load(fromByteOffset: 8, as: UInt64.self)
        guard word & Self.freedMark == 0, address <= table[r].top, UInt(word) <= table[r].top - address else { return nil }
        return Int(word)
    }

    public func addRegion(_ region: UnsafeMutableRawBufferPointer) -> Bool {
        guard regionCount < Self.maxRegions, let start = region.baseAddress, region.count >= 64 else { return false }
        let s = UInt(bitPattern: start)
        let e = s + UInt(region.count)
        for i in 0..<regionCount where s < table[i].end && table[i].start < e { return false }
        table[regionCount] = (s, e, s)
        regionCount += 1
        stats.capacity += region.count
        return true
    }

    public func owns(_ pointer: UnsafeRawPointer) -> Bool { region(of: UInt(bitPattern: pointer)) != nil }
}
