import Interfaces
import Testing

@testable import Memory

@Suite struct MemoryMapTests {
    let qemuMap = MemoryMap(regions: [
        MemoryRegion(start: PhysicalAddress(0x100000), length: 0x7ee0000, kind: .usable),
        MemoryRegion(start: PhysicalAddress(0), length: 0x9fc00, kind: .usable),
        MemoryRegion(start: PhysicalAddress(0x9fc00), length: 0x400, kind: .reserved),
        MemoryRegion(start: PhysicalAddress(0xf0000), length: 0x10000, kind: .reserved),
        MemoryRegion(start: PhysicalAddress(0x7fe0000), length: 0x20000, kind: .reserved),
        MemoryRegion(start: PhysicalAddress(0xfeffc000), length: 0x4000, kind: .reserved),
    ])

    @Test func sortsRegions() {
        #expect(qemuMap.regions.map(\.start.value) == [0, 0x9fc00, 0xf0000, 0x100000, 0x7fe0000, 0xfeffc000])
        #expect(qemuMap.usableBytes == 0x7ee0000 + 0x9fc00)
        #expect(qemuMap.usableEnd == PhysicalAddress(0x7fe0000))
    }

    @Test func excludesTheImageAndLowMemoryAndRoundsInward() {
        let ranges = qemuMap.usableRanges(excluding: [0..<0x100000, 0x100000..<0x123456])
        #expect(ranges == [0x124000..<0x7fe0000])
    }

    @Test func dropsPartialPagesAndNonUsableOverlaps() {
        let map = MemoryMap(regions: [
            MemoryRegion(start: PhysicalAddress(0x1800), length: 0x3000, kind: .usable),  // 0x1800..0x4800
            MemoryRegion(start: PhysicalAddress(0x10000), length: 0x10000, kind: .usable),
            MemoryRegion(start: PhysicalAddress(0x14000), length: 0x1000, kind: .acpiReclaimable),
        ])
        #expect(map.usableRanges(excluding: []) == [0x2000..<0x4000, 0x10000..<0x14000, 0x15000..<0x20000])
    }

    @Test func mergesAdjacentAndOverlappingUsableRegions() {
        let map = MemoryMap(regions: [
            MemoryRegion(start: PhysicalAddress(0x1000), length: 0x2000, kind: .usable),
            MemoryRegion(start: PhysicalAddress(0x3000), length: 0x2000, kind: .usable),
            MemoryRegion(start: PhysicalAddress(0x4000), length: 0x4000, kind: .usable),
        ])
        #expect(map.usableRanges(excluding: []) == [0x1000..<0x8000])
    }

    @Test func emptyWhenEverythingIsExcluded() {
        #expect(qemuMap.usableRanges(excluding: [0..<UInt64.max]).isEmpty)
    }
}

@Suite struct FrameAllocatorTests {
    func makeAllocator(_ ranges: [Range<UInt64>], _ body: (inout FrameAllocator) throws -> Void) throws {
        let bytes = FrameAllocator.bitmapBytes(covering: ranges)
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes, 8), alignment: 8)
        defer { storage.deallocate() }
        var allocator = try FrameAllocator(ranges: ranges, bitmapStorage: storage)
        try body(&allocator)
    }

    @Test func handsOutOnlyUsableFramesAndEachOnce() throws {
        let ranges: [Range<UInt64>] = [0x100000..<0x108000, 0x200000..<0x203000]
        try makeAllocator(ranges) { a in
            #expect(a.usableFrames == 11)
            var seen = Set<UInt64>()
            while let f = a.allocate() {
                #expect(ranges.contains { $0.contains(f.value) })
                #expect(f.value % 4096 == 0)
                #expect(seen.insert(f.value).inserted)
            }
            #expect(seen.count == 11)
            #expect(a.freeFrames == 0)
        }
    }

    @Test func rejectsBadFrees() throws {
        try makeAllocator([0x100000..<0x110000]) { a in
            let f = try unwrap(a.allocate())
            #expect(throws: FrameError.misaligned(f.value + 1)) { try a.free(PhysicalAddress(f.value + 1)) }
            #expect(throws: FrameError.outOfRange(0x5000)) { try a.free(PhysicalAddress(0x5000)) }
            try a.free(f)
            #expect(throws: FrameError.notAllocated(f.value)) { try a.free(f) }
            #expect(a.freeFrames == a.usableFrames)
        }
    }

    @Test func contiguousRunsRespectAlignmentAndHoles() throws {
        // Two ranges with a hole: a run may never span the hole.
        try makeAllocator([0x100000..<0x140000, 0x200000..<0x400000]) { a in
            let big = try unwrap(a.allocateContiguous(count: 128, alignment: 0x200000))
            #expect(big.value == 0x200000)
            // Left: 64 frames at 0x100000 and 384 at 0x280000; no run may span the hole between the ranges.
            #expect(a.allocateContiguous(count: 400) == nil)
            let run = try unwrap(a.allocateContiguous(count: 64))
            #expect(run.value == 0x280000, "next fit: the search resumes after the previous run")
            for i in 0..<64 { #expect(a.isAllocated(PhysicalAddress(run.value + UInt64(i) * 4096))) }
            let low = try unwrap(a.allocateContiguous(count: 64))
            #expect(low.value == 0x2c0000)
            try a.free(big, count: 128)
            try a.free(run, count: 64)
            try a.free(low, count: 64)
            // Nothing fits after the hint any more: the search wraps around to the bottom.
            #expect(a.allocateContiguous(count: 512, alignment: 0x200000)?.value == 0x200000)
            #expect(a.allocateContiguous(count: 64)?.value == 0x100000)
        }
    }

    /// Random single and contiguous allocations and frees against a set-based model.
    @Test func matchesAModelUnderRandomOperations() throws {
        let ranges: [Range<UInt64>] = [0x1000..<0x21000, 0x40000..<0x80000, 0x90000..<0x91000]
        try makeAllocator(ranges) { a in
            let entropy = SeededEntropy(seed: 7)
            var owned: [(UInt64, Int)] = []
            var model = Set<UInt64>()
            for _ in 0..<20_000 {
                let r = entropy.next64()
                if r % 3 == 0, !owned.isEmpty {
                    let (addr, count) = owned.remove(at: Int(r >> 8) % owned.count)
                    try a.free(PhysicalAddress(addr), count: count)
                    for i in 0..<count { model.remove(addr + UInt64(i) * 4096) }
                } else {
                    let count = Int(r >> 16) % 5 + 1
                    if let f = (count == 1 ? a.allocate() : a.allocateContiguous(count: count)) {
                        for i in 0..<count {
                            let frame = f.value + UInt64(i) * 4096
                            #expect(ranges.contains { $0.contains(frame) })
                            #expect(model.insert(frame).inserted, "frame handed out twice")
                        }
                        owned.append((f.value, count))
                    }
                }
                #expect(a.freeFrames == a.usableFrames - model.count)
            }
        }
    }
}

struct Missing: Error {}

/// The value, or a thrown error that fails the test (for expressions #require cannot take, e.g. mutating calls).
func unwrap<T>(_ value: T?, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
    guard let value else {
        Issue.record("unexpected nil", sourceLocation: sourceLocation)
        throw Missing()
    }
    return value
}
