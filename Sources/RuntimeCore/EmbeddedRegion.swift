#if os(none)
import Boot
import Interfaces
import Memory
import RamFS

/// Where the archive `unikernel embed` placed after the image lies, decided while memory comes up (`setUpMemory`
/// calls `reserve`, before the frame allocator exists). Runtime's `System.embeddedArchive` validates the bytes.
///
/// Invariant: after `reserve`, `start..<start + length` lies inside the image's own segment or inside one usable RAM
/// region, and the pages covering it are kept out of the frame allocator and mapped read-only.
package enum EmbeddedRegion {
    /// First byte of the archive (`__embedded_start`).
    package nonisolated(unsafe) static var start: UInt64 = 0
    /// Bytes to validate: the declared length when it lies in usable RAM, else the 80-byte header the linker placed.
    package nonisolated(unsafe) static var length = EmbeddedArchive.headerSize
    /// The length the header declared when that range is not usable RAM (the image was cut short, or the guest has
    /// too little memory); nil otherwise.
    package nonisolated(unsafe) static var declaredOutsideRAM: Int? = nil

    /// Reads the archive header at `layout.embeddedStart` (inside the image's own segment, identity-mapped by the
    /// shim) and returns the page-aligned range to keep out of the frame allocator and to map read-only.
    ///
    /// The whole declared length is reserved only if it lies inside one usable RAM region; otherwise just the page
    /// the linker placed is, and `declaredOutsideRAM` says so. A header without the magic gets the same one page
    /// and is reported by validation.
    static func reserve(layout: KernelLayout, map: MemoryMap) -> Range<UInt64> {
        start = layout.embeddedStart
        let header = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(start)),
                                            count: EmbeddedArchive.headerSize)
        if let declared = EmbeddedArchive.declaredLength(header) {
            let end = start &+ UInt64(declared)
            var inRAM = false
            for region in map.regions where region.kind == .usable {
                if region.start.value <= start, end <= region.end.value, start < end { inRAM = true }
            }
            if inRAM { length = declared } else { declaredOutsideRAM = declared }
        }
        let end = (start + UInt64(length) + 4095) & ~4095
        return start..<end
    }
}
#endif
