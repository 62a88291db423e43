// KernelCheck: the boot-test image for the foundation. The first command-line argument names a scenario; the
// boot tests (Tests/GuestTests) run each one in QEMU and check the console and the exit status.
import Boot
import Hardware
import Interfaces
import Memory
import Runtime

/// A source of pseudo-random numbers that needs no entropy (reproducible runs).
struct XorShift {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}

/// Stores through a pointer the optimizer cannot see into, so the frame holding it must exist.
@inline(never)
func touch(_ p: UnsafeMutableRawPointer, _ value: Int) { p.storeBytes(of: value, as: Int.self) }

/// Recursion that cannot be turned into a loop: each frame's buffer is written after the recursive call returns.
@inline(never)
func recurse(_ depth: Int) -> Int {
    var frame = (depth, depth &+ 1, depth &+ 2, depth &+ 3)
    let below = depth < Int.max ? recurse(depth &+ 1) : 0
    withUnsafeMutableBytes(of: &frame) { touch($0.baseAddress!, below) }
    return frame.0
}

/// 1,000,000 random allocations and frees (1 B ... 64 KiB), every block filled with a pattern and checked
/// before it is freed; heap bytes in use must end where they started.
func heapStress(operations: Int) {
    let slots = 2048
    var live = [UnsafeMutableRawPointer?](repeating: nil, count: slots)
    var sizes = [Int](repeating: 0, count: slots)
    var rng = XorShift(state: 0x1234_5678_9abc_def1)
    let start = System.now  // first use brings up the clock (one permanent allocation): before the baseline
    let before = System.heapStatistics!
    var corrupt = 0
    for _ in 0..<operations {
        let slot = Int(rng.next() % UInt64(slots))
        if let p = live[slot] {
            let size = sizes[slot]
            let tag = UInt8(truncatingIfNeeded: slot)
            if p.load(as: UInt8.self) != tag || p.load(fromByteOffset: size - 1, as: UInt8.self) != tag
                || p.load(fromByteOffset: size / 2, as: UInt8.self) != tag {
                corrupt += 1
            }
            p.deallocate()
            live[slot] = nil
        } else {
            // Mostly small sizes, some large: 1 B ... 64 KiB.
            let r = rng.next()
            let size = r % 8 == 0 ? Int(r >> 8) % 65536 + 1 : Int(r >> 8) % 512 + 1
            let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1 << Int((r >> 40) % 5))
            p.initializeMemory(as: UInt8.self, repeating: UInt8(truncatingIfNeeded: slot), count: size)
            live[slot] = p
            sizes[slot] = size
        }
    }
    let peak = System.heapStatistics!.peakBytesInUse
    for slot in 0..<slots { live[slot]?.deallocate() }
    let after = System.heapStatistics!
    let elapsed = System.now - start
    print("heap stress: \(operations) operations in \(elapsed.millisecondsClamped) ms, corrupt blocks \(corrupt)")
    print("heap stress: bytes in use before \(before.bytesInUse) after \(after.bytesInUse) peak \(peak) live \(after.liveAllocations - before.liveAllocations) allocations \(after.totalAllocations - before.totalAllocations)")
    if corrupt == 0 && after.bytesInUse == before.bytesInUse && after.liveAllocations == before.liveAllocations {
        print("heap stress: ok")
    } else {
        print("heap stress: FAILED")
        System.exit(.failure)
    }
}

/// Checks the shim's memcpy, memmove and memset (Boot/libc.c) against byte-by-byte reference copies: every length
/// 0...80 and a few large ones, every source and destination alignment 0...7, copies that do not overlap and
/// copies that overlap in both directions by 1...17 bytes. The standard library reaches memmove through
/// `initializeMemory(as:from:count:)` and `copyMemory(from:byteCount:)`, and memset through
/// `initializeMemory(as:repeating:count:)`; memcpy is not called from Swift here, but it is memmove's forward path
/// (`copy_forward` in libc.c), which the disjoint copies and the downward overlapping moves exercise.
func memoryOperations() {
    let size = 20_000
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    let expected = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    defer { buffer.deallocate(); expected.deallocate() }
    var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
    func fill() {
        for i in 0..<size {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let byte = UInt8(truncatingIfNeeded: seed >> 56)
            buffer.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
            expected.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
        }
    }
    func matches() -> Bool {
        for i in 0..<size where buffer.load(fromByteOffset: i, as: UInt8.self) != expected.load(fromByteOffset: i, as: UInt8.self) {
            return false
        }
        return true
    }
    // Reference: a byte loop in the direction that is correct for the overlap.
    func referenceMove(to d: Int, from s: Int, count n: Int) {
        if d < s {
            for i in 0..<n { expected.storeBytes(of: expected.load(fromByteOffset: s + i, as: UInt8.self), toByteOffset: d + i, as: UInt8.self) }
        } else {
            for i in stride(from: n - 1, through: 0, by: -1) {
                expected.storeBytes(of: expected.load(fromByteOffset: s + i, as: UInt8.self), toByteOffset: d + i, as: UInt8.self)
            }
        }
    }
    var cases = 0
    var failures = 0
    func check(_ what: StaticString, _ n: Int, _ d: Int, _ s: Int) {
        cases += 1
        if !matches() {
            failures += 1
            if failures <= 5 { print("memops: FAILED \(what) count \(n) destination \(d) source \(s)") }
            expected.copyMemory(from: buffer, byteCount: size)  // judge the next case on its own
        }
    }
    let lengths = Array(0...80) + [255, 256, 1460, 1514, 4093, 4096, 8191]
    fill()
    for n in lengths {
        for da in 0..<8 {
            for sa in 0..<8 {
                // Disjoint copy (the forward path memcpy shares).
                let d = 64 + da, s = 10_000 + sa
                buffer.advanced(by: d).initializeMemory(as: UInt8.self, from: buffer.advanced(by: s).assumingMemoryBound(to: UInt8.self), count: n)
                referenceMove(to: d, from: s, count: n)
                check("disjoint copy", n, d, s)
                // memset, with a value that has the high bit set and one that does not.
                let value: UInt8 = n & 1 == 0 ? 0xA5 : 0x3C
                buffer.advanced(by: d).initializeMemory(as: UInt8.self, repeating: value, count: n)
                for i in 0..<n { expected.storeBytes(of: value, toByteOffset: d + i, as: UInt8.self) }
                check("memset", n, d, d)
            }
        }
        // memmove with overlap in both directions, at every alignment of the destination.
        for shift in 1...17 {
            for da in 0..<8 {
                let low = 2_000 + da
                buffer.advanced(by: low).copyMemory(from: buffer.advanced(by: low + shift), byteCount: n)
                referenceMove(to: low, from: low + shift, count: n)
                check("memmove down", n, low, low + shift)
                buffer.advanced(by: low + shift).copyMemory(from: buffer.advanced(by: low), byteCount: n)
                referenceMove(to: low + shift, from: low, count: n)
                check("memmove up", n, low + shift, low)
            }
        }
    }
    print("memops: \(cases) cases, \(failures) failed")
    if failures > 0 { System.exit(.failure) }
    print("memops: ok")
}

let arguments = System.arguments
let scenario = arguments.first ?? "hello"

switch scenario {
case "hello":
    print("KernelCheck: hello")
case "pagefault":
    print("KernelCheck: writing to an unmapped address")
    UnsafeMutablePointer<UInt64>(bitPattern: 0x40_0000_0000)!.pointee = 42
case "nil":
    print("KernelCheck: dereferencing a null pointer")
    // The address comes from run-time data (0 here), so the load cannot be folded away as undefined behaviour.
    let address = UInt(arguments.count - 1)
    let pointer = UnsafeMutablePointer<Int>(bitPattern: address | 0x10)!.advanced(by: -2)
    print(pointer.pointee)
case "forceunwrap":
    print("KernelCheck: force-unwrapping nil")
    let value: Int? = arguments.count > 100 ? 1 : nil
    print(value!)
case "divide":
    print("KernelCheck: dividing by zero")
    print(shimDivide(UInt64(arguments.count), UInt64(arguments.count - 1)))
case "stackoverflow":
    print("KernelCheck: recursing without end")
    print(recurse(0))
case "writetext":
    print("KernelCheck: writing into the code segment")
    UnsafeMutablePointer<UInt8>(bitPattern: UInt(KernelLayout.current.textStart))!.pointee = 0xCC
case "panic":
    panic("KernelCheck asked for a panic")
case "fatal":
    fatalError("KernelCheck asked for fatalError")
case "heapstress":
    heapStress(operations: arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000)
case "memops":
    memoryOperations()
case "bump":
    System.use(heap: BumpHeap.self)
    var total = 0
    for i in 0..<1000 { total += [Int](repeating: i, count: 8).reduce(0, +) }
    print("bump heap: total \(total), bytes in use \(System.heapStatistics!.bytesInUse)")
case "oom":
    print("KernelCheck: allocating until memory runs out")
    var blocks: [UnsafeMutableRawPointer] = []
    while true {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 16)
        p.storeBytes(of: 1, as: UInt8.self)
        blocks.append(p)
    }
case "info":
    let memory = System.memory!
    print("memory: managed \(memory.managedBytes) free \(memory.freeBytes)")
    print("tsc: \(System.tscFrequency!) Hz")
    let boot = System.bootDuration!
    print("boot: entry to main \(boot.nanosecondsClamped) ns")
    let wall = System.wallTime
    print("wall clock: \(wall.secondsSinceEpoch) s since the epoch")
    print("entropy: \(System.entropy.quality == .hardware ? "hardware" : "weak") \(System.entropy.next64() != System.entropy.next64())")
    var dictionary: [String: Int] = [:]
    for i in 0..<100 { dictionary["key\(i)"] = i }
    print("dictionary: \(dictionary.count) entries, key42 = \(dictionary["key42"]!)")
case "boottime":
    // Machine-readable line for the boot benchmark.
    print("BOOT entry_to_main_ns=\(System.bootDuration!.nanosecondsClamped) tsc_hz=\(System.tscFrequency!)")
    for (name, time) in System.bootTimeline { print("BOOT milestone \(name) \(time.nanosecondsClamped) ns") }
case "probe":
    translationProbe()
case "exit":
    System.exit(ExitStatus(UInt8(arguments.count > 1 ? Int(arguments[1]) ?? 3 : 3)))
default:
    print("KernelCheck: unknown scenario '\(scenario)'")
    System.exit(.failure)
}

/// The hardware's own division (#DE on a zero divisor), which Swift's checked `/` would never reach.
func shimDivide(_ a: UInt64, _ b: UInt64) -> UInt64 { Hardware.CPU.hardwareDivide(a, b) }

/// Measures the first and second run of the same code (the first includes TCG's translation of it).
func translationProbe() {
    let regions = [MemoryRegion(start: PhysicalAddress(0), length: 0x9fc00, kind: .usable),
                   MemoryRegion(start: PhysicalAddress(0x100000), length: 0x7f00000, kind: .usable)]
    for round in 0..<3 {
        let t0 = CPU.readTSC()
        let map = MemoryMap(regions: regions)
        let ranges = map.usableRanges(excluding: [0..<0x100000, 0x100000..<0x200000])
        let t1 = CPU.readTSC()
        print("probe round \(round): \(ranges.count) ranges, \(System.clock.now.nanoseconds > 0 ? (t1 - t0) : 0) ticks")
    }
}
