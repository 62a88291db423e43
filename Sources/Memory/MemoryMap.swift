import Interfaces

/// # Physical memory of a guest
///
/// Everything is identity-mapped: a physical address is also the virtual address of the same byte.
///
/// ```
///  0x0000_0000 +---------------------------+  page 0: never mapped (null dereferences fault)
///              | low memory (BIOS, PVH     |  start info, memory map and command line live here;
///              | start info, EBDA)         |  read once at boot, never handed out
///  0x0010_0000 +---------------------------+  1 MiB: load address (Linker/unikernel.ld)
///              | .note.Xen  .rodata        |  read-only, no-execute
///              | .text                     |  read-only, executable
///              | .data  .bss               |  writable, no-execute; .bss holds the boot page tables,
///              |   boot stack (+guard)     |  the 64 KiB boot stack with an unmapped guard page below,
///              |   IST stacks (+guards)    |  and the four 16 KiB interrupt stacks, each with a guard
///  __kernel_end+---------------------------+  = __embedded_start: content packed by `unikernel embed`
///              | embedded archive          |  (read-only; its length is in its own header)
///              +---------------------------+
///              | frame bitmap              |  1 bit per 4 KiB frame of usable RAM
///              | free frames ...           |  handed out by FrameAllocator: page tables, the heap's
///              |   heap pools (TLSF/bump)  |  pools (grown on demand), thread stacks (guard page
///              |   thread stacks           |  unmapped), device buffers
///  top of RAM  +---------------------------+
///              | (hole)                    |
///  0xC000_0000 +---------------------------+  3-4 GiB device hole: mapped uncached, no-execute:
///              | PCI BARs, 0xfeb00000      |  virtio-mmio slots (microvm), IOAPIC 0xfec00000,
///              | virtio-mmio, IOAPIC, LAPIC|  LAPIC 0xfee00000
///  0x1_0000_0000 ------------------------------  RAM above 4 GiB (large guests), 64-bit BARs on demand
/// ```
///
/// `MemoryMap` turns the hypervisor's list of regions into the page-aligned usable ranges the frame allocator
/// may hand out, with the kernel image and anything else the boot still needs carved out.
public struct MemoryMap: Equatable {
    /// Page size used throughout: 4 KiB.
    public static let pageSize: UInt64 = 4096

    /// The regions as reported, sorted by start address.
    public private(set) var regions: [MemoryRegion]

    /// Sorts `regions` by start address. Overlaps are resolved in `usableRanges`: where a usable region
    /// overlaps any non-usable one, the non-usable kind wins.
    public init(regions: [MemoryRegion]) {
        var sorted = regions.filter { $0.length > 0 }
        sorted.insertionSort { $0.start < $1.start }
        self.regions = sorted
    }

    /// Total bytes reported as usable RAM (before exclusions).
    public var usableBytes: UInt64 {
        regions.filter { $0.kind == .usable }.reduce(0) { $0 + $1.length }
    }

    /// The highest address covered by a usable region (exclusive).
    public var usableEnd: PhysicalAddress {
        regions.filter { $0.kind == .usable }.map { $0.end }.max() ?? PhysicalAddress(0)
    }

    /// Usable RAM as sorted, disjoint, page-aligned ranges with `exclusions` (and everything reported as
    /// non-usable) removed. Partial pages at the edges are dropped: a page is usable only if all of it is.
    public func usableRanges(excluding exclusions: [Range<UInt64>]) -> [Range<UInt64>] {
        var blocked = exclusions
        for region in regions where region.kind != .usable {
            blocked.append(region.start.value..<region.end.value)
        }
        var result: [Range<UInt64>] = []
        for region in regions where region.kind == .usable {
            var pieces = [region.start.value..<region.end.value]
            for b in blocked where !b.isEmpty {
                var next: [Range<UInt64>] = []
                for piece in pieces {
                    if b.upperBound <= piece.lowerBound || b.lowerBound >= piece.upperBound {
                        next.append(piece)
                        continue
                    }
                    if b.lowerBound > piece.lowerBound { next.append(piece.lowerBound..<b.lowerBound) }
                    if b.upperBound < piece.upperBound { next.append(b.upperBound..<piece.upperBound) }
                }
                pieces = next
            }
            for piece in pieces {
                let start = PhysicalAddress(piece.lowerBound).alignedUp(to: Self.pageSize).value
                let end = PhysicalAddress(piece.upperBound).alignedDown(to: Self.pageSize).value
                if start < end { result.append(start..<end) }
            }
        }
        result.insertionSort { $0.lowerBound < $1.lowerBound }
        // Merge ranges that touch or overlap (two usable regions may be reported adjacent or overlapping).
        var merged: [Range<UInt64>] = []
        for r in result {
            if let last = merged.last, r.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }
}
