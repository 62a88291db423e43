import Interfaces

/// Where page tables live: a source of zeroed 4 KiB table frames and a way to reach a table by its physical
/// address. The guest uses the frame allocator and the identity map; host tests use a buffer.
public protocol PageTableMemory {
    /// A new, zero-filled, 4 KiB-aligned frame for a paging structure, or nil if memory is exhausted.
    mutating func allocateTable() -> PhysicalAddress?
    /// The 512 entries of the table at `address`.
    func entries(at address: PhysicalAddress) -> UnsafeMutablePointer<UInt64>
}

/// Access rights and caching of a mapping.
public struct PageFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Writes allowed (R/W bit).
    public static let writable = PageFlags(rawValue: 1 << 1)
    /// Instruction fetches allowed (the NX bit is clear).
    public static let executable = PageFlags(rawValue: 1 << 63)
    /// Caching disabled (PCD): device registers.
    public static let uncached = PageFlags(rawValue: 1 << 4)

    /// Code: read-only, executable.
    public static let code: PageFlags = [.executable]
    /// Read-only data.
    public static let readOnly: PageFlags = []
    /// Ordinary data: writable, no-execute.
    public static let data: PageFlags = [.writable]
    /// Device registers: writable, uncached, no-execute.
    public static let device: PageFlags = [.writable, .uncached]
}

/// Why a mapping could not be made.
public enum PagingError: Error, Equatable, CustomStringConvertible {
    /// An address or length is not 4 KiB-aligned.
    case misaligned(UInt64)
    /// The virtual address is beyond the 48-bit canonical lower half.
    case nonCanonical(UInt64)
    /// No frame was left for a new paging structure.
    case outOfTableMemory

    /// The failure's kind and its key number, printable without allocating.
    public var brief: (what: StaticString, value: UInt64) {
        switch self {
        case .misaligned(let a): return ("address not 4 KiB-aligned:", a)
        case .nonCanonical(let a): return ("address beyond the 48-bit address space:", a)
        case .outOfTableMemory: return ("no frame left for a page table", 0)
        }
    }

    public var description: String {
        switch self {
        case .misaligned(let a): return "\(hex(a)) is not 4 KiB-aligned"
        case .nonCanonical(let a): return "\(hex(a)) is beyond the 48-bit address space"
        case .outOfTableMemory: return "no frame left for a page table"
        }
    }
}

/// A 4-level x86-64 page table (Intel SDM Vol. 3A, 4.5): PML4 -> PDPT -> PD -> PT, with 4 KiB pages and 2 MiB
/// pages (PS bit in a PD entry).
///
/// `map` uses 2 MiB pages wherever the virtual and physical addresses and the remaining length allow, and 4 KiB
/// pages elsewhere; mapping or unmapping a 4 KiB page inside an existing 2 MiB page first splits it into a page
/// table with the same flags. Intermediate entries are always present+writable with NX clear, so the leaf entry
/// alone decides the rights. Callers flush the TLB (reload CR3 or `invlpg`) after changing a live table.
public struct PageTable<Memory: PageTableMemory> {
    static var present: UInt64 { 1 }
    static var huge: UInt64 { 1 << 7 }
    static var addressMask: UInt64 { 0x000F_FFFF_FFFF_F000 }
    static var flagMask: UInt64 { (1 << 1) | (1 << 4) | (1 << 63) }
    static var twoMiB: UInt64 { 0x20_0000 }

    /// Where the tables live.
    public var memory: Memory
    /// Physical address of the PML4 (the value for CR3).
    public let root: PhysicalAddress
    /// Paging-structure frames allocated so far, the PML4 included.
    public private(set) var tableCount = 1

    /// Creates an empty table (nothing mapped).
    public init(memory: Memory) throws(PagingError) {
        var m = memory
        guard let root = m.allocateTable() else { throw .outOfTableMemory }
        self.memory = m
        self.root = root
    }

    private static func index(_ virtual: UInt64, level: Int) -> Int {
        Int((virtual >> UInt64(12 + 9 * level)) & 511)
    }

    /// The next-level table under `entry`, created if absent. Fails for a huge-page entry (callers split first).
    private mutating func child(of table: UnsafeMutablePointer<UInt64>, _ i: Int) throws(PagingError) -> UnsafeMutablePointer<UInt64> {
        let entry = table[i]
        if entry & Self.present != 0 {
            return memory.entries(at: PhysicalAddress(entry & Self.addressMask))
        }
        guard let frame = memory.allocateTable() else { throw .outOfTableMemory }
        tableCount += 1
        table[i] = frame.value | Self.present | PageFlags.writable.rawValue
        return memory.entries(at: frame)
    }

    private static func leaf(_ physical: UInt64, _ flags: PageFlags) -> UInt64 {
        // The NX bit is set unless the mapping is executable.
        let nx: UInt64 = flags.contains(.executable) ? 0 : 1 << 63
        return physical | present | (flags.rawValue & ((1 << 1) | (1 << 4))) | nx
    }

    /// Replaces the 2 MiB page in `pd[i]` by a page table of 512 4 KiB pages with the same address and rights.
    private mutating func split(_ pdIndex: Int, table: UnsafeMutablePointer<UInt64>) throws(PagingError) {
        let entry = table[pdIndex]
        guard let frame = memory.allocateTable() else { throw .outOfTableMemory }
        tableCount += 1
        let pt = memory.entries(at: frame)
        let physical = entry & Self.addressMask & ~(Self.twoMiB - 1)
        let rights = entry & Self.flagMask
        for k in 0..<512 { pt[k] = (physical + UInt64(k) * 4096) | Self.present | rights }
        table[pdIndex] = frame.value | Self.present | PageFlags.writable.rawValue
    }

    private static func check(_ virtual: UInt64, _ physical: UInt64, _ length: UInt64) throws(PagingError) {
        if virtual % 4096 != 0 { throw .misaligned(virtual) }
        if physical % 4096 != 0 { throw .misaligned(physical) }
        if length % 4096 != 0 { throw .misaligned(length) }
        let (end, overflow) = virtual.addingReportingOverflow(length)
        guard !overflow, end <= 1 << 47 else { throw .nonCanonical(virtual) }
    }

    /// Maps `[virtual, virtual + length)` to `[physical, ...)` with `flags`, replacing existing mappings.
    public mutating func map(virtual: UInt64, physical: UInt64, length: UInt64, flags: PageFlags) throws(PagingError) {
        try Self.check(virtual, physical, length)
        var offset: UInt64 = 0
        while offset < length {
            let v = virtual + offset
            let p = physical + offset
            let pdpt = try child(of: memory.entries(at: root), Self.index(v, level: 3))
            let pd = try child(of: pdpt, Self.index(v, level: 2))
            let pdIndex = Self.index(v, level: 1)
            if v % Self.twoMiB == 0 && p % Self.twoMiB == 0 && length - offset >= Self.twoMiB {
                pd[pdIndex] = Self.leaf(p, flags) | Self.huge  // any page table below is dropped (leaked)
                offset += Self.twoMiB
                continue
            }
            if pd[pdIndex] & Self.present != 0 && pd[pdIndex] & Self.huge != 0 {
                try split(pdIndex, table: pd)
            }
            // Fill this page table's run of entries without walking again from the root.
            let pt = try child(of: pd, pdIndex)
            var i = Self.index(v, level: 0)
            var address = p
            let leafFlags = Self.leaf(0, flags)
            while i < 512 && offset < length {
                pt[i] = address | leafFlags
                address += 4096
                offset += 4096
                i += 1
            }
        }
    }

    /// Removes the mappings of `[virtual, virtual + length)` (splitting 2 MiB pages where needed).
    public mutating func unmap(virtual: UInt64, length: UInt64) throws(PagingError) {
        try Self.check(virtual, 0, length)
        var offset: UInt64 = 0
        while offset < length {
            let v = virtual + offset
            let pml4 = memory.entries(at: root)
            guard pml4[Self.index(v, level: 3)] & Self.present != 0 else { offset += 4096; continue }
            let pdpt = memory.entries(at: PhysicalAddress(pml4[Self.index(v, level: 3)] & Self.addressMask))
            guard pdpt[Self.index(v, level: 2)] & Self.present != 0 else { offset += 4096; continue }
            let pd = memory.entries(at: PhysicalAddress(pdpt[Self.index(v, level: 2)] & Self.addressMask))
            let pdIndex = Self.index(v, level: 1)
            guard pd[pdIndex] & Self.present != 0 else { offset += 4096; continue }
            if pd[pdIndex] & Self.huge != 0 {
                if v % Self.twoMiB == 0 && length - offset >= Self.twoMiB {
                    pd[pdIndex] = 0
                    offset += Self.twoMiB
                    continue
                }
                try split(pdIndex, table: pd)
            }
            let pt = memory.entries(at: PhysicalAddress(pd[pdIndex] & Self.addressMask))
            pt[Self.index(v, level: 0)] = 0
            offset += 4096
        }
    }

    /// The physical address and rights `virtual` maps to, and whether a 2 MiB page maps it; nil if unmapped.
    public func translate(_ virtual: UInt64) -> (physical: UInt64, flags: PageFlags, hugePage: Bool)? {
        var table = memory.entries(at: root)
        for level in stride(from: 3, to: 0, by: -1) {
            let entry = table[Self.index(virtual, level: level)]
            guard entry & Self.present != 0 else { return nil }
            if level == 1 && entry & Self.huge != 0 {
                let physical = (entry & Self.addressMask & ~(Self.twoMiB - 1)) + virtual % Self.twoMiB
                return (physical, Self.flags(of: entry), true)
            }
            table = memory.entries(at: PhysicalAddress(entry & Self.addressMask))
        }
        let entry = table[Self.index(virtual, level: 0)]
        guard entry & Self.present != 0 else { return nil }
        return ((entry & Self.addressMask) + virtual % 4096, Self.flags(of: entry), false)
    }

    private static func flags(of entry: UInt64) -> PageFlags {
        var f = PageFlags(rawValue: entry & ((1 << 1) | (1 << 4)))
        if entry & (1 << 63) == 0 { f.insert(.executable) }
        return f
    }
}
