#if os(none)
import Boot
import BootShim
import Hardware
import Interfaces
import Memory

/// Routes the C allocation symbols to the heap the application chose.
///
/// Before `main` starts, and while the chosen heap object itself is being created, allocations come from a
/// 32 KiB static bootstrap arena (never freed; frees of arena pointers are ignored). The first allocation after
/// `main` starts installs the default heap (`TLSFHeap`) unless `System.use(heap:)` installed another. When
/// the heap runs out, it grows by a contiguous run of frames; when no frames are left, the kernel panics with
/// the request and the heap statistics (`ExitStatus.outOfMemory`).
///
/// Every entry point runs with interrupts disabled, so a preempted thread can never leave the heap half-updated.
enum HeapBroker {
    nonisolated(unsafe) static var heap: (any HeapAllocator)? = nil
    nonisolated(unsafe) static var mainStarted = false
    nonisolated(unsafe) static var installing = false
    nonisolated(unsafe) static var busy = false
    nonisolated(unsafe) static var arenaUsed = 0

    /// Heap growth step: regions are at least this large, so growth is rare.
    static let growthBytes = 1 << 20

    static var arena: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: shim_bootstrap_arena(), count: shim_bootstrap_arena_size())
    }

    static func inArena(_ p: UnsafeRawPointer) -> Bool {
        let a = UInt(bitPattern: p)
        let base = UInt(bitPattern: shim_bootstrap_arena())
        return a >= base && a < base + UInt(shim_bootstrap_arena_size())
    }

    static func arenaAllocate(_ size: Int, _ alignment: Int) -> UnsafeMutableRawPointer {
        let base = UInt(bitPattern: shim_bootstrap_arena())
        let align = UInt(max(alignment, 16))
        let start = (base + UInt(arenaUsed) + align - 1) & ~(align - 1)
        let end = start + UInt(max(size, 1))
        guard end <= base + UInt(shim_bootstrap_arena_size()) else {
            Fatal.begin("OUT OF MEMORY: the 32 KiB bootstrap arena is exhausted by a request of ")
            Fatal.out.writeDecimal(UInt64(size))
            Fatal.out.write(" bytes before the heap was installed\n")
            Fatal.finish(.outOfMemory)
        }
        arenaUsed = Int(end - base)
        return UnsafeMutableRawPointer(bitPattern: start)!
    }

    /// A contiguous run of frames for `bytes` (rounded up to pages), or nil.
    static func frames(for bytes: Int) -> UnsafeMutableRawBufferPointer? {
        let kernel = Kernel.memory
        let pages = (bytes + 4095) / 4096
        guard let address = kernel.physical.frames.allocateContiguous(count: pages) else { return nil }
        return UnsafeMutableRawBufferPointer(start: PhysicalMemory.pointer(address), count: pages * 4096)
    }

    /// The first heap region: a quarter of free memory, between 256 KiB and 16 MiB.
    static func initialRegion() -> UnsafeMutableRawBufferPointer {
        let free = Kernel.memory.physical.frames.freeFrames * 4096
        var size = min(max(free / 4, 256 << 10), 16 << 20)
        while size >= 64 << 10 {
            if let region = frames(for: size) { return region }
            size /= 2
        }
        outOfMemory(size: size, alignment: 16)
    }

    static func install<Heap: HeapAllocator>(_ type: Heap.Type) {
        installing = true
        let region = initialRegion()
        guard let created = Heap(region: region) else {
            Fatal.panic("the chosen heap allocator refused its initial region")
        }
        heap = created
        installing = false
    }

    static func allocate(_ size: Int, _ alignment: Int) -> UnsafeMutableRawPointer {
        CPU.withInterruptsDisabled {
            if heap == nil && mainStarted && !installing && !Kernel.bringingUpMemory { install(TLSFHeap.self) }
            guard let heap, !installing, !Kernel.bringingUpMemory else { return arenaAllocate(size, alignment) }
            if busy { Fatal.panic("the heap was re-entered (an allocator allocated, or an interrupt handler did)") }
            busy = true
            defer { busy = false }
            if let p = heap.allocate(byteCount: size, alignment: alignment) { return p }
            // Grow by a new region. A size-class heap only takes a free block from a class whose every block
            // fits, so the region must exceed the request by a class step (1/16 for TLSF) plus headers and
            // alignment: ask for twice the request (at least 1 MiB), or the minimum that still fits.
            let minimum = size + size / 8 + alignment + 8192
            let generous = max(growthBytes, 2 * (size + alignment) + 8192)
            if let region = frames(for: generous) ?? frames(for: minimum), heap.addRegion(region),
               let p = heap.allocate(byteCount: size, alignment: alignment) {
                return p
            }
            busy = false
            outOfMemory(size: size, alignment: alignment)
        }
    }

    static func free(_ pointer: UnsafeMutableRawPointer) {
        if inArena(pointer) { return }
        CPU.withInterruptsDisabled {
            guard let heap else { badPointer("free() before any heap exists: ", pointer) }
            do throws(HeapError) { try heap.deallocate(pointer) }
            catch {
                switch error {
                case .doubleFree: badPointer("double free of ", pointer)
                case .invalidPointer: badPointer("free() of a pointer the heap never handed out: ", pointer)
                }
            }
        }
    }

    /// Reports a pointer misuse (double free, foreign pointer) without allocating, and stops.
    static func badPointer(_ what: StaticString, _ pointer: UnsafeMutableRawPointer) -> Never {
        Fatal.begin("PANIC: ")
        Fatal.out.write(what)
        Fatal.out.writeHex(UInt64(UInt(bitPattern: pointer)))
        Fatal.out.write("\n")
        Fatal.writeBacktrace(from: CPU.framePointer())
        Fatal.finish(.panic)
    }

    static func usableSize(_ pointer: UnsafeMutableRawPointer) -> Int? {
        CPU.withInterruptsDisabled { heap?.usableSize(of: pointer) }
    }

    /// Reports an allocation that cannot be satisfied, without allocating, and stops.
    static func outOfMemory(size: Int, alignment: Int) -> Never {
        let out = Fatal.out
        Fatal.begin("OUT OF MEMORY: cannot allocate ")
        out.writeDecimal(UInt64(size))
        out.write(" bytes (alignment ")
        out.writeDecimal(UInt64(alignment))
        out.write(")\n")
        if let stats = heap?.statistics {
            out.write("  heap: ")
            out.writeDecimal(UInt64(stats.bytesInUse))
            out.write(" bytes in use, peak ")
            out.writeDecimal(UInt64(stats.peakBytesInUse))
            out.write(", ")
            out.writeDecimal(UInt64(stats.liveAllocations))
            out.write(" live allocations, ")
            out.writeDecimal(UInt64(stats.totalAllocations))
            out.write(" allocations in total, capacity ")
            out.writeDecimal(UInt64(stats.capacity))
            out.write(" bytes\n")
        }
        if let kernel = guestKernel {  // only if memory is up: reporting must not bring it up
            out.write("  free physical memory: ")
            out.writeDecimal(UInt64(kernel.physical.frames.freeFrames) * 4096)
            out.write(" bytes, none of it in one run large enough\n")
        }
        Fatal.writeBacktrace(from: CPU.framePointer())
        Fatal.finish(.outOfMemory)
    }
}

// The C library's allocation functions are defined in C (Boot/libc.c) and call these three hooks; Swift may
// not define `malloc`/`free` itself (they are reserved names of the Swift runtime).

/// Allocates `size` bytes aligned to `alignment` (a power of two); never returns null (panics when out of memory).
@_cdecl("unikernel_heap_allocate")
public func unikernelHeapAllocate(_ size: Int, _ alignment: Int) -> UnsafeMutableRawPointer {
    HeapBroker.allocate(size, alignment)
}

/// Frees a block (null is ignored). Invalid pointers and double frees panic with the address.
@_cdecl("unikernel_heap_free")
public func unikernelHeapFree(_ pointer: UnsafeMutableRawPointer?) {
    guard let pointer else { return }
    HeapBroker.free(pointer)
}

/// Resizes a block (C `realloc` semantics): grows in place when the block's usable size allows, otherwise
/// allocates, copies and frees. Bootstrap-arena blocks carry no size, so they are always moved, copying up to
/// the end of the arena (bytes past the old block are stale but harmless: the caller relies only on its own).
@_cdecl("unikernel_heap_reallocate")
public func unikernelHeapReallocate(_ pointer: UnsafeMutableRawPointer?, _ size: Int) -> UnsafeMutableRawPointer {
    guard let pointer else { return HeapBroker.allocate(size, 16) }
    let copyable: Int
    if HeapBroker.inArena(pointer) {
        let arenaEnd = UInt(bitPattern: shim_bootstrap_arena()) + UInt(shim_bootstrap_arena_size())
        copyable = min(size, Int(arenaEnd - UInt(bitPattern: pointer)))
    } else {
        guard let usable = HeapBroker.usableSize(pointer) else {
            HeapBroker.badPointer("realloc() of a pointer the heap never handed out: ", pointer)
        }
        if usable >= size { return pointer }
        copyable = usable
    }
    let fresh = HeapBroker.allocate(size, 16)
    fresh.copyMemory(from: pointer, byteCount: copyable)
    HeapBroker.free(pointer)
    return fresh
}
#endif
