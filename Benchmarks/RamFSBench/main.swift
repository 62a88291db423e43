// RamFSBench: RamFS in-process against the same operation sequence through system calls on the host's tmpfs.
//
//   swift run -c release RamFSBench [runs]
//
// Workloads (each run does all of them on a fresh file system / directory):
//   small files: create+write+close, open+read+close and unlink of 2,000 files of 1 KiB in one directory;
//   large file:  sequential write of a new 64 MiB file, overwrite of it, and sequential read, in 64 KiB requests.
// On the host, RamFS's new pages come from malloc, whose fresh memory costs a page fault per 4 KiB (as tmpfs pays
// for page allocation in the kernel); the guest heap is mapped up front, so "overwrite" is closer to what the copy
// itself costs there.
// RamFS runs twice: with the default NoLock, and with a pthread mutex as its Lock (what a threaded guest pays).
// Prints the median of the runs and the ratio RamFS / host. Numbers only; nothing is asserted.

import Foundation
import Glibc
import Interfaces
import RamFS
import RamFSWorkload

let smallFiles = 2_000
let smallSize = 1_024
let largeSize = 64 << 20
let chunk = 64 << 10
let runs = CommandLine.arguments.count > 1 ? max(1, Int(CommandLine.arguments[1]) ?? 5) : 5

/// A Lock over a pthread mutex.
final class MutexLock: Lock {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    deinit { pthread_mutex_destroy(mutex); mutex.deallocate() }
    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
}

/// Seconds taken by `body`.
func time(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let elapsed = clock.now - start
    let (seconds, attoseconds) = elapsed.components
    return Double(seconds) + Double(attoseconds) / 1e18
}

/// Seconds per phase of one run.
struct Timings {
    var create = 0.0, read = 0.0, unlink = 0.0, largeWrite = 0.0, largeOverwrite = 0.0, largeRead = 0.0
}

let payload = [UInt8](repeating: 0x5a, count: smallSize)
let bigChunk = (0..<chunk).map { UInt8(truncatingIfNeeded: $0 &* 131) }

/// One run against a RamFS: the shared workload (Benchmarks/RamFSWorkload), also run inside a booted image by
/// RamFSGuestBench.
func runRamFS(lock: any Lock) throws -> Timings {
    let fs = RamFS(configuration: .init(memoryLimit: 512 << 20), lock: lock)
    var workload = RamFSWorkload()
    workload.smallFiles = smallFiles
    workload.smallSize = smallSize
    workload.largeSize = largeSize
    workload.chunk = chunk
    let clock = ContinuousClock()
    let origin = clock.now
    let ns = try workload.run(on: fs) {
        let (seconds, attoseconds) = (clock.now - origin).components
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
    func s(_ v: UInt64) -> Double { Double(v) / 1e9 }
    return Timings(create: s(ns.create), read: s(ns.read), unlink: s(ns.unlink), largeWrite: s(ns.largeWrite),
                   largeOverwrite: s(ns.largeOverwrite), largeRead: s(ns.largeRead))
}

struct HostError: Error, CustomStringConvertible {
    var description: String
}

func check(_ value: Int, _ what: String) throws {
    if value < 0 { throw HostError(description: "\(what): \(String(cString: strerror(errno)))") }
}

/// One run against a fresh directory on the host's tmpfs, through system calls.
func runHost(base: String) throws -> Timings {
    let directory = base + "/bench"
    try check(Int(mkdir(directory, 0o755)), "mkdir")
    let names = (0..<smallFiles).map { directory + "/file\($0)" }
    var t = Timings()
    var readBuffer = [UInt8](repeating: 0, count: smallSize)
    t.create = try time {
        for name in names {
            let fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try check(Int(fd), "open")
            try check(payload.withUnsafeBytes { write(fd, $0.baseAddress, smallSize) }, "write")
            close(fd)
        }
    }
    t.read = try time {
        for name in names {
            let fd = open(name, O_RDONLY)
            try check(Int(fd), "open")
            let n = readBuffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, smallSize) }
            precondition(n == smallSize)
            close(fd)
        }
    }
    t.unlink = try time {
        for name in names { try check(Int(unlink(name)), "unlink") }
    }
    let bigName = base + "/big"
    t.largeWrite = try time {
        let fd = open(bigName, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try check(Int(fd), "open")
        try bigChunk.withUnsafeBytes { buffer in
            for _ in 0..<(largeSize / chunk) { try check(write(fd, buffer.baseAddress, chunk), "write") }
        }
        close(fd)
    }
    t.largeOverwrite = try time {
        let fd = open(bigName, O_WRONLY)
        try check(Int(fd), "open")
        try bigChunk.withUnsafeBytes { buffer in
            for _ in 0..<(largeSize / chunk) { try check(write(fd, buffer.baseAddress, chunk), "write") }
        }
        close(fd)
    }
    var big = [UInt8](repeating: 0, count: chunk)
    t.largeRead = try time {
        let fd = open(bigName, O_RDONLY)
        try check(Int(fd), "open")
        big.withUnsafeMutableBytes { buffer in
            var total = 0
            while true {
                let n = read(fd, buffer.baseAddress, chunk)
                if n <= 0 { break }
                total += n
            }
            precondition(total == largeSize)
        }
        close(fd)
    }
    unlink(bigName)
    rmdir(directory)
    return t
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// MARK: Main

let parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NSTemporaryDirectory()
var template = Array("\(parent)/ramfsbench-XXXXXX".utf8CString)
guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
let base = String(cString: made)
defer { rmdir(base) }

var ram: [Timings] = []
var ramLocked: [Timings] = []
var host: [Timings] = []
do {
    // One warm-up run of each, not counted.
    _ = try runRamFS(lock: NoLock())
    _ = try runHost(base: base)
    for _ in 0..<runs {
        ram.append(try runRamFS(lock: NoLock()))
        ramLocked.append(try runRamFS(lock: MutexLock()))
        host.append(try runHost(base: base))
    }
} catch {
    print("RamFSBench failed: \(error)")
    rmdir(base + "/bench")
    exit(1)
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

func row(_ label: String, _ unit: String, _ key: KeyPath<Timings, Double>, work: Double) {
    let r = work / median(ram.map { $0[keyPath: key] })
    let l = work / median(ramLocked.map { $0[keyPath: key] })
    let h = work / median(host.map { $0[keyPath: key] })
    let format = "%.0f"
    print(label.padding(toLength: 29, withPad: " ", startingAt: 0) + pad(unit, 7)
          + pad(String(format: format, r), 14) + pad(String(format: format, l), 14) + pad(String(format: format, h), 14)
          + pad(String(format: "%.2fx", r / h), 13) + pad(String(format: "%.2fx", l / h), 13))
}

print("RamFSBench: median of \(runs) runs; host = system calls on \(parent) (\(parent == "/dev/shm" ? "tmpfs" : "temporary directory"))")
print("".padding(toLength: 36, withPad: " ", startingAt: 0) + pad("RamFS", 14) + pad("RamFS+mutex", 14) + pad("host", 14)
      + pad("RamFS/host", 13) + pad("+mutex/host", 13))
print("small files (\(smallFiles) x \(smallSize) bytes, one directory)")
row("  create+write+close", "files/s", \.create, work: Double(smallFiles))
row("  open+read+close", "files/s", \.read, work: Double(smallFiles))
row("  unlink", "files/s", \.unlink, work: Double(smallFiles))
print("large file (\(largeSize >> 20) MiB, \(chunk >> 10) KiB requests)")
row("  sequential write (new file)", "MB/s", \.largeWrite, work: Double(largeSize) / 1e6)
row("  sequential overwrite", "MB/s", \.largeOverwrite, work: Double(largeSize) / 1e6)
row("  sequential read", "MB/s", \.largeRead, work: Double(largeSize) / 1e6)
