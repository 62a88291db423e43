import Interfaces

/// Counters every heap allocator keeps. "Bytes" are usable bytes handed to callers (the rounded-up sizes),
/// not counting allocator headers.
public struct HeapStatistics: Equatable, Sendable {
    /// Usable bytes of all live allocations.
    public var bytesInUse = 0
    /// The largest `bytesInUse` ever reached.
    public var peakBytesInUse = 0
    /// Allocations not yet freed.
    public var liveAllocations = 0
    /// Successful allocations since creation.
    public var totalAllocations = 0
    /// Frees since creation.
    public var totalFrees = 0
    /// Allocation requests that could not be satisfied from the current regions.
    public var failedAllocations = 0
    /// Bytes of memory given to the allocator (all regions, its own bookkeeping included).
    public var capacity = 0

    public init() {}

    mutating func recordAllocation(_ bytes: Int) {
        bytesInUse += bytes
        if bytesInUse > peakBytesInUse { peakBytesInUse = bytesInUse }
        liveAllocations += 1
        totalAllocations += 1
    }

    mutating func recordFree(_ bytes: Int) {
        bytesInUse -= bytes
        liveAllocations -= 1
        totalFrees += 1
    }
}

/// Why a pointer given back to a heap was refused.
public enum HeapError: Error, Equatable, CustomStringConvertible {
    /// The pointer was not returned by this heap (or is misaligned, or points into the middle of a block).
    case invalidPointer(UInt)
    /// The block is already free.
    case doubleFree(UInt)

    public var description: String {
        switch self {
        case .invalidPointer(let a): return "\(hex(UInt64(a))) was not handed out by this heap"
        case .doubleFree(let a): return "\(hex(UInt64(a))) is already free"
        }
    }
}

/// A heap allocator: what `malloc`, `posix_memalign`, `free` and therefore every Swift object allocation use.
///
/// Implementations (`TLSFHeap`, the default; `BumpHeap` for minimal images) manage one or more regions of raw
/// memory. The Runtime adds regions from the frame allocator when an allocation fails, and panics with the
/// statistics when no memory is left.
///
/// Contract: implementations must not allocate from the Swift heap themselves (no arrays, strings or classes
/// created inside these methods), since they *are* the Swift heap. They are not thread-safe; the Runtime calls
/// them with interrupts disabled. Every returned pointer is aligned to at least 16 bytes.
public protocol HeapAllocator: AnyObject {
    /// Creates an allocator managing `region`, or nil if the region is too small for its bookkeeping.
    init?(region: UnsafeMutableRawBufferPointer)
    /// `byteCount` bytes aligned to `alignment` (a power of two; values below 16 mean 16), or nil if no region
    /// has room. `byteCount` 0 returns a unique minimum-size block.
    func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer?
    /// Frees a block returned by `allocate`. Refuses pointers it did not hand out, and double frees.
    func deallocate(_ pointer: UnsafeMutableRawPointer) throws(HeapError)
    /// The usable size of the live block at `pointer` (at least the size requested), or nil if it is not one.
    func usableSize(of pointer: UnsafeMutableRawPointer) -> Int?
    /// Adds memory to allocate from; returns false if it was not taken (too small, or too many regions).
    func addRegion(_ region: UnsafeMutableRawBufferPointer) -> Bool
    /// Whether `pointer` lies inside one of this allocator's regions.
    func owns(_ pointer: UnsafeRawPointer) -> Bool
    /// The allocator's counters.
    var statistics: HeapStatistics { get }
}
