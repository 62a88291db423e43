import Interfaces
import Testing

@testable import Memory

/// A host buffer to run heaps over.
final class Arena {
    let memory: UnsafeMutableRawBufferPointer
    init(bytes: Int) { memory = .allocate(byteCount: bytes, alignment: 4096) }
    deinit { memory.deallocate() }
    func slice(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: memory[range]) }
}

@Suite struct TLSFHeapTests {
    @Test func mappingPutsEverySizeInAClassNoLargerThanItself() {
        var previous = (0, 0)
        for size in stride(from: 32, through: 1 << 20, by: 16) {
            let (fl, sl) = TLSFHeap.mapping(size)
            #expect(fl < TLSFHeap.firstLevelCount && sl < TLSFHeap.secondLevelCount)
            #expect((fl, sl) >= previous)  // monotonic
            previous = (fl, sl)
            let (sfl, ssl) = TLSFHeap.searchMapping(size)
            #expect((sfl, ssl) >= (fl, sl))
        }
    }

    @Test func refusesATooSmallRegion() {
        let arena = Arena(bytes: 4096)
        #expect(TLSFHeap(region: arena.slice(0..<1024)) == nil)
    }

    @Test func allocatesAlignedBlocksAndReusesFreedMemory() throws {
        let arena = Arena(bytes: 1 << 20)
        let heap = try #require(TLSFHeap(region: arena.memory))
        for alignment in [1, 8, 16, 32, 64, 256, 4096] {
            let p = try #require(heap.allocate(byteCount: 100, alignment: alignment))
            #expect(UInt(bitPattern: p) % UInt(max(alignment, 16)) == 0)
            #expect(try #require(heap.usableSize(of: p)) >= 100)
            try heap.deallocate(p)
        }
        #expect(heap.checkConsistency() == nil)
        let a = try #require(heap.allocate(byteCount: 64 * 1024, alignment: 16))
        try heap.deallocate(a)
        let b = try #require(heap.allocate(byteCount: 64 * 1024, alignment: 16))
        #expect(a == b, "a freed block of the same size is reused")
        try heap.deallocate(b)
        #expect(heap.statistics.bytesInUse == 0 && heap.statistics.liveAllocations == 0)
        #expect(heap.checkConsistency() == nil)
    }

    @Test func detectsDoubleFreeAndForeignPointers() throws {
        let arena = Arena(bytes: 1 << 16)
        let heap = try #require(TLSFHeap(region: arena.memory))
        let p = try #require(heap.allocate(byteCount: 40, alignment: 16))
        try heap.deallocate(p)
        #expect(throws: HeapError.doubleFree(UInt(bitPattern: p))) { try heap.deallocate(p) }
        var local = 0
        let foreign = withUnsafeMutableBytes(of: &local) { $0.baseAddress! }
        #expect(throws: HeapError.invalidPointer(UInt(bitPattern: foreign))) { try heap.deallocate(foreign) }
        let q = try #require(heap.allocate(byteCount: 40, alignment: 16))
        #expect(throws: HeapError.invalidPointer(UInt(bitPattern: q + 16))) { try heap.deallocate(q + 16) }
        #expect(heap.usableSize(of: q + 32) == nil)
        #expect(heap.checkConsistency() == nil)
    }

    /// Pointers into the middle of a block whose bytes look like a huge header are refused, not trusted.
    @Test func garbageHeadersAreRefused() throws {
        let arena = Arena(bytes: 1 << 16)
        let heap = try #require(TLSFHeap(region: arena.memory))
        let p = try #require(heap.allocate(byteCount: 256, alignment: 16))
        p.initializeMemory(as: UInt8.self, repeating: 0xFF, count: 256)
        for offset in stride(from: 16, to: 256, by: 16) {
            #expect(heap.usableSize(of: p + offset) == nil)
            #expect(throws: HeapError.invalidPointer(UInt(bitPattern: p + offset))) { try heap.deallocate(p + offset) }
        }
        try heap.deallocate(p)
        #expect(heap.checkConsistency() == nil)
    }

    @Test func exhaustionReturnsNilAndGrowsWithARegion() throws {
        let arena = Arena(bytes: 1 << 20)
        let heap = try #require(TLSFHeap(region: arena.slice(0..<(256 << 10))))
        #expect(heap.allocate(byteCount: 300 << 10, alignment: 16) == nil)
        #expect(heap.statistics.failedAllocations == 1)
        #expect(heap.addRegion(arena.slice((256 << 10)..<(1 << 20))))
        #expect(!heap.addRegion(arena.slice((512 << 10)..<(600 << 10))), "overlapping regions are refused")
        let p = try #require(heap.allocate(byteCount: 300 << 10, alignment: 16))
        #expect(heap.owns(p))
        try heap.deallocate(p)
        #expect(heap.checkConsistency() == nil)
    }

    @Test func aRegionAsLargeAsTheRequestServesIt() throws {
        // The good-fit search rounds a request up to the next class; the first-fit fallback must still use a
        // block that is large enough but sits in the request's own class.
        let arena = Arena(bytes: 4 << 20)
        let heap = try #require(TLSFHeap(region: arena.slice(0..<(64 << 10))))
        #expect(heap.addRegion(arena.slice((1 << 20)..<((2 << 20) + 8192))))
        #expect(heap.allocate(byteCount: 1 << 20, alignment: 16) != nil)
    }

    /// One million random operations against a model: every live block keeps its contents (no overlap), the
    /// invariants hold, and freeing everything returns to zero bytes in use.
    @Test func randomizedOperationsMatchAModel() throws {
        let arena = Arena(bytes: 32 << 20)
        let heap = try #require(TLSFHeap(region: arena.memory))
        let entropy = SeededEntropy(seed: 2024)
        var live: [(pointer: UnsafeMutableRawPointer, size: Int, tag: UInt8)] = []
        var expectedBytes = 0
        for step in 0..<1_000_000 {
            let r = entropy.next64()
            if r % 2 == 0 || live.isEmpty {
                let size = r % 16 == 1 ? Int(r >> 20) % 65536 + 1 : Int(r >> 20) % 256 + 1
                let alignment = 1 << Int((r >> 8) % 7)
                guard let p = heap.allocate(byteCount: size, alignment: alignment) else { continue }
                #expect(UInt(bitPattern: p) % UInt(max(alignment, 16)) == 0)
                let tag = UInt8(truncatingIfNeeded: step)
                p.initializeMemory(as: UInt8.self, repeating: tag, count: size)
                live.append((p, size, tag))
                expectedBytes += heap.usableSize(of: p)!
            } else {
                let index = Int(r >> 32) % live.count
                let block = live.swapAt(index, live.count - 1) == () ? live.removeLast() : live.removeLast()
                let bytes = UnsafeRawBufferPointer(start: block.pointer, count: block.size)
                #expect(bytes.allSatisfy { $0 == block.tag }, "a live block was overwritten")
                expectedBytes -= heap.usableSize(of: block.pointer)!
                try heap.deallocate(block.pointer)
            }
            if step % 100_000 == 0 { #expect(heap.checkConsistency() == nil) }
        }
        #expect(heap.statistics.bytesInUse == expectedBytes)
        for block in live { try heap.deallocate(block.pointer) }
        #expect(heap.statistics.bytesInUse == 0)
        #expect(heap.statistics.liveAllocations == 0)
        #expect(heap.checkConsistency() == nil)
        // Everything coalesced back: one allocation of nearly the whole region succeeds.
        #expect(heap.allocate(byteCount: (32 << 20) * 9 / 10, alignment: 16) != nil)
    }

    /// Fragmentation stays bounded: after freeing every other small block, the holes are reused.
    @Test func holesAreReusedBySameSizeRequests() throws {
        let arena = Arena(bytes: 4 << 20)
        let heap = try #require(TLSFHeap(region: arena.memory))
        var blocks = (0..<10_000).map { _ in heap.allocate(byteCount: 48, alignment: 16)! }
        let peak = heap.statistics.bytesInUse
        for i in stride(from: 0, to: blocks.count, by: 2) { try heap.deallocate(blocks[i]) }
        for i in stride(from: 0, to: blocks.count, by: 2) { blocks[i] = heap.allocate(byteCount: 48, alignment: 16)! }
        #expect(heap.statistics.bytesInUse == peak)
        let highest = blocks.map { UInt(bitPattern: $0) }.max()!
        #expect(highest < UInt(bitPattern: arena.memory.baseAddress!) + UInt(10_000 * 64 + 16384), "no growth past the first layout")
    }
}

@Suite struct BumpHeapTests {
    @Test func allocatesUpwardAndReleasesOnlyLIFO() throws {
        let arena = Arena(bytes: 1 << 16)
        let heap = try #require(BumpHeap(region: arena.memory))
        let a = try #require(heap.allocate(byteCount: 100, alignment: 16))
        let b = try #require(heap.allocate(byteCount: 100, alignment: 64))
        #expect(UInt(bitPattern: b) > UInt(bitPattern: a))
        #expect(UInt(bitPattern: b) % 64 == 0)
        #expect(heap.usableSize(of: a) == 112)
        try heap.deallocate(b)  // newest: the top moves back
        let c = try #require(heap.allocate(byteCount: 100, alignment: 64))
        #expect(c == b)
        try heap.deallocate(a)  // not the newest: counted, not reused
        #expect(throws: HeapError.doubleFree(UInt(bitPattern: a))) { try heap.deallocate(a) }
        #expect(heap.statistics.liveAllocations == 1)
        #expect(heap.usableSize(of: a) == nil)
    }

    @Test func exhaustsAndAcceptsMoreRegions() throws {
        let arena = Arena(bytes: 1 << 16)
        let heap = try #require(BumpHeap(region: arena.slice(0..<4096)))
        var count = 0
        while heap.allocate(byteCount: 256, alignment: 16) != nil { count += 1 }
        #expect(count > 5 && count < 16)
        #expect(heap.addRegion(arena.slice(8192..<16384)))
        #expect(heap.allocate(byteCount: 256, alignment: 16) != nil)
    }

    @Test func refusesForeignPointers() throws {
        let arena = Arena(bytes: 1 << 16)
        let heap = try #require(BumpHeap(region: arena.slice(0..<8192)))
        let outside = arena.memory.baseAddress! + 20_000
        #expect(throws: HeapError.invalidPointer(UInt(bitPattern: outside))) { try heap.deallocate(outside) }
    }
}
