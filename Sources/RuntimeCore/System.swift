import Interfaces
import Memory

/// The running system as an application sees it: arguments, time, randomness, the heap, and how to stop.
///
/// ## The application entry point
/// An application is an executable target whose `main.swift` imports `Runtime`. When the image boots, the
/// runtime sets up the CPU, memory (frame allocator, page tables), the console, the clock and the entropy
/// source, and then calls the application's top-level code as `main`. When `main` returns, the machine exits
/// with status 0; `System.exit(_:)` exits earlier with any status.
///
/// ## Choosing components
/// Components are picked in plain code at the top of `main`, e.g. `System.use(heap: BumpHeap.self)`. Whatever
/// is not picked explicitly gets its default (`TLSFHeap` for the heap) the first time it is needed.
///
/// The same application also builds as an ordinary Linux program (hosted mode, used by `swift build` on the
/// host): there the C library provides the heap and `System.use(heap:)` only records the choice.
public enum System {
    /// The application's command-line arguments (from `-append` / `--append`), runtime options removed.
    public static var arguments: [String] { Platform.commandLine.arguments }

    /// The runtime options given on the command line (`unikernel.<name>=<value>`).
    public static func option(_ name: String) -> String? { Platform.commandLine.option(name) }

    /// The current instant of the monotonic clock (nanoseconds since boot in the guest).
    public static var now: Instant { Platform.now() }

    /// The monotonic clock as a value to hand to components that take a `MonotonicClock`.
    public static var clock: SystemClock { SystemClock() }

    /// The wall-clock time (UTC): the RTC read once at first use, advanced by the monotonic clock.
    public static var wallTime: WallTime { Platform.wallTime() }

    /// The system's entropy source (hardware RNG when present; `quality` says which).
    public static var entropy: any EntropySource { Platform.entropy }

    /// Ends the application and the machine with `status`.
    public static func exit(_ status: ExitStatus = .success) -> Never { Platform.exit(status) }

    /// Picks the heap allocator. Call it before anything allocates: as the first statement of `main`.
    /// Picking a heap after the default one is in use is a programming error and panics.
    public static func use<Heap: HeapAllocator>(heap: Heap.Type) { Platform.use(heap: heap) }

    /// The heap's counters (nil in hosted mode, where the C library's allocator is used).
    public static var heapStatistics: HeapStatistics? { Platform.heapStatistics }

    /// Physical memory: frames managed and free (nil in hosted mode).
    public static var memory: MemoryInfo? { Platform.memoryInfo }

    /// Time from the first instruction of the image to the call of `main`, measured with the TSC
    /// (nil in hosted mode).
    public static var bootDuration: Duration? { Platform.bootDuration }

    /// Boot milestones (Swift entry, start info parsed, frames ready, memory ready, entropy ready) with the time
    /// since the image's first instruction (empty in hosted mode).
    public static var bootTimeline: [(milestone: StaticString, sinceEntry: Duration)] { Platform.bootTimeline }

    /// The calibrated time-stamp-counter frequency in Hz (nil in hosted mode).
    public static var tscFrequency: UInt64? { Platform.tscFrequency }
}

/// Physical memory as the frame allocator sees it.
public struct MemoryInfo: Equatable, Sendable {
    /// Bytes of RAM the frame allocator manages (usable RAM minus the image and boot structures).
    public var managedBytes: UInt64
    /// Bytes currently free.
    public var freeBytes: UInt64
}

/// The system's monotonic clock as a `MonotonicClock` value.
public struct SystemClock: MonotonicClock {
    public init() {}
    /// The current instant.
    public var now: Instant { Platform.now() }
}

/// Stops with a message, a backtrace and `ExitStatus.panic` (100). Use it for states the program cannot
/// continue from; bad input should produce a typed error instead.
public func panic(_ message: String) -> Never {
    Platform.panic(message)
}
