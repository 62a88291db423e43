import Foundation
import Glibc
import Interfaces
import Testing
@testable import RamFS

/// A `Lock` over a pthread mutex that also checks mutual exclusion and counts acquisitions.
final class PthreadLock: Lock {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// Times the lock was taken (written only while held).
    private(set) var acquisitions = 0
    /// Set while some thread holds the lock; finding it set on entry would mean two holders.
    private var held = false
    /// Times a thread found the lock already held after acquiring it (must stay 0).
    private(set) var violations = 0

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() {
        pthread_mutex_lock(mutex)
        if held { violations += 1 }
        held = true
        acquisitions += 1
    }

    func unlock() {
        held = false
        pthread_mutex_unlock(mutex)
    }
}

/// RamFS shared by real threads, with a real mutex.
@Suite struct ConcurrencyTests {
    static let threads = 4
    static let iterations = 800
    static let recordSize = 64

    @Test func threadsHammeringOneFileSystemKeepItConsistent() throws {
        let lock = PthreadLock()
        let fs = RamFS(configuration: .init(memoryLimit: 256 << 20, maxOpenFiles: 64), lock: lock)
        try fs.createDirectory("/shared")
        let log = try fs.open("/log", [.write, .create])
        try fs.close(log)
        let baseline = fs.usage

        let collected = Collected()
        let group = DispatchGroup()
        for t in 0..<ConcurrencyTests.threads {
            group.enter()
            let thread = Thread {
                var worker = Worker(fs: fs, thread: t)
                worker.run()
                collected.add(worker)
                group.leave()
            }
            thread.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)

        let workers = collected.workers
        #expect(workers.count == ConcurrencyTests.threads)
        for worker in workers { #expect(worker.failures.isEmpty, "thread \(worker.thread): \(worker.failures.prefix(5))") }
        #expect(lock.violations == 0)
        let operations = workers.map(\.operations).reduce(0, +)
        #expect(lock.acquisitions >= operations)

        // Shared directory: creations minus removals is what is left.
        let left = try fs.readDirectory("/shared").count
        let created = workers.map(\.exclusiveCreates).reduce(0, +)
        let removed = workers.map(\.unlinks).reduce(0, +)
        #expect(left == created - removed)
        #expect(created > 100 && removed > 100)

        // The appended log: every record whole and present exactly once.
        let contents = try fs.contentsOfFile("/log")
        #expect(contents.count == ConcurrencyTests.threads * ConcurrencyTests.iterations * ConcurrencyTests.recordSize)
        var seen = Set<Int>()
        for start in stride(from: 0, to: contents.count, by: ConcurrencyTests.recordSize) {
            let record = Array(contents[start..<(start + ConcurrencyTests.recordSize)])
            let t = Int(record[0])
            let j = Int(record[1]) | Int(record[2]) << 8
            if record != Worker.record(thread: t, iteration: j) {
                Issue.record("torn record at \(start)")
                break
            }
            seen.insert(t << 16 | j)
        }
        #expect(seen.count == ConcurrencyTests.threads * ConcurrencyTests.iterations)

        // Removing everything returns the budget to where it started: no accounting was lost in the races.
        for entry in try fs.readDirectory("/shared") { try fs.unlink(FilePath("/shared/" + entry.name)) }
        for t in 0..<ConcurrencyTests.threads {
            for entry in try fs.readDirectory(FilePath("/t\(t)")) { try fs.unlink(FilePath("/t\(t)/" + entry.name)) }
            try fs.removeDirectory(FilePath("/t\(t)"))
        }
        try fs.truncate("/log", to: 0)
        #expect(fs.usage == baseline)
    }
}

/// Finished workers, handed over from their threads.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var finished: [Worker] = []

    func add(_ worker: Worker) {
        lock.lock()
        finished.append(worker)
        lock.unlock()
    }

    var workers: [Worker] {
        lock.lock()
        defer { lock.unlock() }
        return finished
    }
}

/// What one thread does; every result it can predict is checked.
struct Worker {
    let fs: RamFS
    let thread: Int
    var failures: [String] = []
    var exclusiveCreates = 0
    var unlinks = 0
    var operations = 0

    init(fs: RamFS, thread: Int) {
        self.fs = fs
        self.thread = thread
    }

    /// The 64-byte record thread `thread` appends in iteration `iteration`.
    static func record(thread: Int, iteration: Int) -> [UInt8] {
        var bytes = [UInt8(thread), UInt8(iteration & 0xff), UInt8(iteration >> 8)]
        while bytes.count < ConcurrencyTests.recordSize { bytes.append(UInt8(truncatingIfNeeded: thread &* 31 &+ iteration &+ bytes.count)) }
        return bytes
    }

    mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { failures.append(message()) }
    }

    mutating func run() {
        let random = SeededEntropy(seed: UInt64(thread) + 1)
        let home = "/t\(thread)"
        do {
            try fs.createDirectory(FilePath(home))
            let log = try fs.open("/log", .append)
            operations += 2
            for j in 0..<ConcurrencyTests.iterations {
                // Private files: write, read back, rename, sometimes remove.
                let name = FilePath("\(home)/f\(j % 7)")
                let data = (0..<(Int(random.next64() % 9000) + 1)).map { UInt8(truncatingIfNeeded: $0 &+ j &+ thread) }
                let fd = try fs.open(name, [.read, .write, .create, .truncate])
                try fs.write(fd, data)
                check(try fs.pread(fd, count: data.count + 10, at: 0) == data, "read back \(name) at \(j)")
                check(try fs.stat(fd).size == Int64(data.count), "size of \(name) at \(j)")
                try fs.close(fd)
                operations += 5
                if j % 3 == 0 {
                    try fs.rename(name, to: FilePath("\(home)/renamed"))
                    check(try fs.contentsOfFile(FilePath("\(home)/renamed")) == data, "renamed contents at \(j)")
                    operations += 2
                }
                // Shared log: one whole record per append.
                try fs.write(log, Worker.record(thread: thread, iteration: j))
                operations += 1
                // Shared directory: race for the same few names.
                let shared = FilePath("/shared/s\(random.next64() % 5)")
                if random.next64() % 2 == 0 {
                    do {
                        let created = try fs.open(shared, [.write, .create, .exclusive])
                        exclusiveCreates += 1
                        try fs.close(created)
                    } catch {
                        check(error == .fileExists, "exclusive create: \(error)")
                    }
                } else {
                    do {
                        try fs.unlink(shared)
                        unlinks += 1
                    } catch {
                        check(error == .noSuchFileOrDirectory, "shared unlink: \(error)")
                    }
                }
                operations += 1
                // Everyone lists the shared directory; it never shows anything but files named s0...s4.
                let listing = try fs.readDirectory("/shared")
                check(listing.count <= 5 && listing.allSatisfy { $0.kind == .regularFile }, "shared listing \(listing)")
                operations += 1
            }
            try fs.close(log)
        } catch {
            failures.append("thread \(thread): unexpected \(error)")
        }
    }
}
