import Interfaces
import RamFS

/// Nanoseconds per phase of one run of the RamFS benchmark workload.
public struct RamFSTimings: Sendable {
    public var create: UInt64 = 0, read: UInt64 = 0, unlink: UInt64 = 0
    public var largeWrite: UInt64 = 0, largeOverwrite: UInt64 = 0, largeRead: UInt64 = 0
    public init() {}
}

/// The RamFS benchmark workload, shared by the host benchmark (RamFSBench) and the guest one (RamFSGuestBench), so
/// both measure exactly the same operations:
///   small files: create+write+close, open+read+close and unlink of `smallFiles` files of `smallSize` bytes in one
///   directory; large file: sequential write of a new `largeSize`-byte file, an overwrite of it, and a sequential
///   read, in `chunk`-byte requests.
public struct RamFSWorkload: Sendable {
    public var smallFiles = 2_000
    public var smallSize = 1_024
    public var largeSize = 64 << 20
    public var chunk = 64 << 10

    public init() {}

    /// Runs every phase once on `fs` (which must have room for the large file), timing each with `now`
    /// (nanoseconds from any origin). Leaves `fs` as it found it.
    public func run(on fs: RamFS, now: () -> UInt64) throws(FileSystemError) -> RamFSTimings {
        let payload = [UInt8](repeating: 0x5a, count: smallSize)
        var big = [UInt8](repeating: 0, count: chunk)
        for i in 0..<chunk { big[i] = UInt8(truncatingIfNeeded: i &* 131) }
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(smallSize, chunk), alignment: 16)
        defer { readBuffer.deallocate() }
        try fs.createDirectory("/bench")
        var names: [FilePath] = []
        for i in 0..<smallFiles { names.append(FilePath("/bench/file" + String(i))) }
        var t = RamFSTimings()

        var start = now()
        for name in names {
            let fd = try fs.open(name, [.write, .create, .truncate])
            _ = try fs.write(fd, payload)
            try fs.close(fd)
        }
        t.create = now() - start

        start = now()
        for name in names {
            let fd = try fs.open(name, .read)
            let n = try fs.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<smallSize]))
            if n != smallSize { throw .ioError }
            try fs.close(fd)
        }
        t.read = now() - start

        start = now()
        for name in names { try fs.unlink(name) }
        t.unlink = now() - start
        try fs.removeDirectory("/bench")

        for phase in 0..<2 {
            start = now()
            let fd = try fs.open("/big", phase == 0 ? [.write, .create, .truncate] : .write)
            for _ in 0..<(largeSize / chunk) { _ = try fs.write(fd, big) }
            try fs.close(fd)
            if phase == 0 { t.largeWrite = now() - start } else { t.largeOverwrite = now() - start }
        }

        start = now()
        let fd = try fs.open("/big", .read)
        var total = 0
        while true {
            let n = try fs.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<chunk]))
            if n == 0 { break }
            total += n
        }
        try fs.close(fd)
        t.largeRead = now() - start
        if total != largeSize { throw .ioError }
        try fs.unlink("/big")
        return t
    }
}
