#if !os(none)
// Hosted mode: the application runs as an ordinary Linux process (host builds, `swift build`, tests).
#if canImport(Glibc)
import Glibc
#endif
import Interfaces
import Memory

enum Platform {
    static let commandLine: CommandLineParser = {
        var bytes: [UInt8] = []
        for (i, a) in CommandLine.arguments.dropFirst().enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: " ")) }
            bytes.append(UInt8(ascii: "\""))
            for b in a.utf8 {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
                bytes.append(b)
            }
            bytes.append(UInt8(ascii: "\""))
        }
        return CommandLineParser(bytes)
    }()

    static let origin: UInt64 = monotonicNanoseconds()

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func now() -> Instant {
        let start = origin  // initialized on first use: read it before the current time
        return Instant(nanoseconds: monotonicNanoseconds() - start)
    }

    static func wallTime() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallTime(secondsSinceEpoch: Int64(ts.tv_sec), nanoseconds: UInt32(ts.tv_nsec))
    }

    static let entropy: any EntropySource = HostEntropy()

    static func exit(_ status: ExitStatus) -> Never {
        fflush(stdout)
        Glibc.exit(Int32(status.rawValue))
    }

    static func panic(_ message: String) -> Never {
        fflush(stdout)
        fputs("*** PANIC: \(message)\n", stderr)
        Glibc.exit(Int32(ExitStatus.panic.rawValue))
    }

    static func use<Heap: HeapAllocator>(heap: Heap.Type) {
        // The C library's malloc serves the process; the guest-only allocators are exercised by the tests.
    }

    static var heapStatistics: HeapStatistics? { nil }
    static var memoryInfo: MemoryInfo? { nil }
    static var bootDuration: Duration? { nil }
    static var tscFrequency: UInt64? { nil }
    static var bootTimeline: [(milestone: StaticString, sinceEntry: Duration)] { [] }
}

/// Random bytes from the C library's `arc4random_buf` (glibc >= 2.36 draws them from the kernel's getrandom).
final class HostEntropy: EntropySource {
    var quality: EntropyQuality { .hardware }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        arc4random_buf(base, buffer.count)
    }
}
#endif
