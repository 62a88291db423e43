#if os(none)
import Boot
import BootShim
import Hardware
import Interfaces
import Memory

/// The guest implementation of `System`.
enum Platform {
    static var commandLine: CommandLineParser { Kernel.memory.commandLine }

    static func now() -> Instant { Kernel.clock.now }

    nonisolated(unsafe) static var wallClockAtBoot: (wall: WallTime, instant: Instant)? = nil

    static func wallTime() -> WallTime {
        if wallClockAtBoot == nil {
            let t = CMOS.readTime()
            let instant = now()
            let wall = WallTime(year: t.year, month: t.month, day: t.day, hour: t.hour, minute: t.minute,
                                second: t.second) ?? WallTime(secondsSinceEpoch: 0)
            wallClockAtBoot = (wall, instant)
        }
        let (wall, instant) = wallClockAtBoot!
        let elapsed = UInt64(clamping: (now() - instant).nanosecondsClamped)
        let nanos = UInt64(wall.nanoseconds) + elapsed % 1_000_000_000
        return WallTime(secondsSinceEpoch: wall.secondsSinceEpoch + Int64(elapsed / 1_000_000_000 + nanos / 1_000_000_000),
                        nanoseconds: UInt32(nanos % 1_000_000_000))
    }

    static var entropy: any EntropySource { Kernel.entropy }

    static func exit(_ status: ExitStatus) -> Never { Machine.exit(status) }

    static func panic(_ message: String) -> Never { Fatal.panic(message) }

    static func use<Heap: HeapAllocator>(heap: Heap.Type) {
        CPU.withInterruptsDisabled {
            if HeapBroker.heap != nil {
                Fatal.panic("System.use(heap:) called after the heap was already in use; call it first in main")
            }
            HeapBroker.install(heap)
        }
    }

    static var heapStatistics: HeapStatistics? {
        CPU.withInterruptsDisabled { HeapBroker.heap?.statistics }
    }

    static var memoryInfo: MemoryInfo? {
        let frames = Kernel.memory.physical.frames
        return MemoryInfo(managedBytes: UInt64(frames.usableFrames) * 4096, freeBytes: UInt64(frames.freeFrames) * 4096)
    }

    static var bootDuration: Duration? {
        Kernel.clock.duration(ticks: BootRecord.mainStartTSC &- Kernel.clock.origin)
    }

    static var tscFrequency: UInt64? { Kernel.clock.currentScale.hz }

    static var bootTimeline: [(milestone: StaticString, sinceEntry: Duration)] {
        var result: [(milestone: StaticString, sinceEntry: Duration)] = []
        let names = bootMilestones.names
        let ticks = bootMilestones.ticks
        for i in 0..<bootMilestones.count {
            let name = withUnsafeBytes(of: names) { $0.load(fromByteOffset: i * MemoryLayout<StaticString>.stride, as: StaticString.self) }
            let t = withUnsafeBytes(of: ticks) { $0.load(fromByteOffset: i * 8, as: UInt64.self) }
            result.append((name, Kernel.clock.duration(ticks: t &- Kernel.clock.origin)))
        }
        return result
    }
}

/// Entropy from the CPU: RDSEED when present, else RDRAND, else a weak generator seeded from TSC jitter.
final class CPUEntropy: EntropySource {
    let hasSeed: Bool
    let hasRand: Bool
    private var fallbackState: UInt64

    init(features: CPUFeatures) {
        hasSeed = features.rdseed
        hasRand = features.rdrand
        // Jitter: the low bits of TSC differences around port I/O, folded together.
        var seed = CPU.readTSC()
        for _ in 0..<64 {
            let a = CPU.readTSC()
            _ = IOPort(0x80).read8()
            let b = CPU.readTSC()
            seed = (seed ^ (b &- a)) &* 0x9E37_79B9_7F4A_7C15
            seed ^= seed >> 29
        }
        fallbackState = seed
    }

    var quality: EntropyQuality { hasSeed || hasRand ? .hardware : .weak }

    private func next() -> UInt64 {
        if hasSeed, let v = CPU.rdseed() { return v }
        if hasRand, let v = CPU.rdrand() { return v }
        // SplitMix64 step mixed with the current TSC.
        fallbackState &+= 0x9E37_79B9_7F4A_7C15 ^ CPU.readTSC()
        var z = fallbackState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var index = 0
        while index < buffer.count {
            var word = next()
            for _ in 0..<8 where index < buffer.count {
                buffer[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
    }
}

/// Console output for `putchar` (Boot/libc.c), which `print` uses.
@_cdecl("unikernel_console_write")
public func unikernelConsoleWrite(_ c: UInt8) {
    SerialPort.com1.write(c)
}

/// Random bytes for `arc4random_buf` (Boot/libc.c), which seeds Swift's hashing.
@_cdecl("unikernel_random_fill")
public func unikernelRandomFill(_ buffer: UnsafeMutableRawPointer?, _ count: Int) {
    guard let buffer, count > 0 else { return }
    let target = UnsafeMutableRawBufferPointer(start: buffer, count: count)
    if HeapBroker.mainStarted {
        Kernel.entropy.fill(target)
    } else {
        // Before the runtime is up (nothing should hash this early): TSC-derived bytes.
        var v = CPU.readTSC()
        for i in 0..<count {
            v = (v ^ (v >> 31)) &* 0xBF58_476D_1CE4_E5B9 &+ CPU.readTSC()
            target[i] = UInt8(truncatingIfNeeded: v >> 32)
        }
    }
}
#endif
