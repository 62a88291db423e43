import Interfaces
import Testing

@testable import Memory

/// Page-table memory in a host buffer: "physical" addresses are offsets from `base`.
final class BufferTableMemory: PageTableMemory {
    let buffer: UnsafeMutableRawPointer
    let base: UInt64 = 0x4000_0000
    let capacity: Int
    var used = 0

    init(tables: Int) {
        capacity = tables
        buffer = UnsafeMutableRawPointer.allocate(byteCount: tables * 4096, alignment: 4096)
    }
    deinit { buffer.deallocate() }

    func allocateTable() -> PhysicalAddress? {
        guard used < capacity else { return nil }
        let p = buffer + used * 4096
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        used += 1
        return PhysicalAddress(base + UInt64(used - 1) * 4096)
    }

    func entries(at address: PhysicalAddress) -> UnsafeMutablePointer<UInt64> {
        (buffer + Int(address.value - base)).assumingMemoryBound(to: UInt64.self)
    }
}

@Suite struct PageTableTests {
    @Test func mapsWithHugePagesWhereAlignedAndSmallPagesElsewhere() throws {
        let memory = BufferTableMemory(tables: 64)
        var table = try PageTable(memory: memory)
        try table.map(virtual: 0x1000, physical: 0x1000, length: 0x40_0000 - 0x1000, flags: .data)
        // 0x1000..0x200000 in 4 KiB pages, 0x200000..0x400000 as one 2 MiB page.
        let small = try #require(table.translate(0x1234))
        #expect(small.physical == 0x1234 && !small.hugePage && small.flags == .data)
        let huge = try #require(table.translate(0x2f_1234))
        #expect(huge.physical == 0x2f_1234 && huge.hugePage)
        #expect(table.translate(0x0) == nil)       // page 0 stays unmapped
        #expect(table.translate(0x40_0000) == nil)
    }

    @Test func appliesRightsPerRange() throws {
        var table = try PageTable(memory: BufferTableMemory(tables: 16))
        try table.map(virtual: 0x100000, physical: 0x100000, length: 0x3000, flags: .readOnly)
        try table.map(virtual: 0x103000, physical: 0x103000, length: 0x2000, flags: .code)
        try table.map(virtual: 0xfee0_0000, physical: 0xfee0_0000, length: 0x1000, flags: .device)
        #expect(table.translate(0x100010)?.flags == .readOnly)
        #expect(table.translate(0x103fff)?.flags == .code)
        #expect(table.translate(0x103fff)?.flags.contains(.executable) == true)
        #expect(table.translate(0x100010)?.flags.contains(.executable) == false)
        #expect(table.translate(0xfee0_0020)?.flags == .device)
    }

    @Test func unmappingInsideAHugePageSplitsItAndKeepsTheRest() throws {
        var table = try PageTable(memory: BufferTableMemory(tables: 16))
        try table.map(virtual: 0x20_0000, physical: 0x20_0000, length: 0x20_0000, flags: .data)
        #expect(table.translate(0x20_5000)?.hugePage == true)
        try table.unmap(virtual: 0x20_5000, length: 0x1000)
        #expect(table.translate(0x20_5000) == nil)
        #expect(table.translate(0x20_4fff)?.physical == 0x20_4fff)
        #expect(table.translate(0x20_6000)?.hugePage == false)
        #expect(table.translate(0x3f_f000)?.flags == .data)
    }

    @Test func remapsToOtherPhysicalAddresses() throws {
        var table = try PageTable(memory: BufferTableMemory(tables: 16))
        try table.map(virtual: 0x7000_0000, physical: 0x12_3000, length: 0x2000, flags: .data)
        #expect(table.translate(0x7000_1010)?.physical == 0x12_4010)
    }

    @Test func reportsMisalignmentNonCanonicalAndExhaustion() throws {
        var table = try PageTable(memory: BufferTableMemory(tables: 2))
        #expect(throws: PagingError.misaligned(0x1001)) {
            try table.map(virtual: 0x1001, physical: 0, length: 0x1000, flags: .data)
        }
        #expect(throws: PagingError.nonCanonical(0x8000_0000_0000)) {
            try table.map(virtual: 0x8000_0000_0000, physical: 0, length: 0x1000, flags: .data)
        }
        #expect(throws: PagingError.outOfTableMemory) {
            try table.map(virtual: 0x1000, physical: 0x1000, length: 0x1000, flags: .data)
        }
    }
}
