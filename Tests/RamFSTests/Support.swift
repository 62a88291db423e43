import Interfaces
@testable import RamFS

/// A wall clock that moves only when told to.
final class TestWallClock {
    var now = WallTime(secondsSinceEpoch: 1_700_000_000)
    func advance(seconds: Int64 = 1) { now = WallTime(secondsSinceEpoch: now.secondsSinceEpoch + seconds) }
}

/// UTF-8 bytes of `text`.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A RamFS with a test clock.
func makeFS(_ configuration: RamFS.Configuration = .init(), clock: TestWallClock = TestWallClock(),
            lock: any Lock = NoLock()) -> RamFS {
    RamFS(configuration: configuration, lock: lock, clock: { clock.now })
}

extension FileSystem {
    /// Reads `count` bytes at `offset` with pread.
    func pread(_ fd: FileDescriptor, count: Int, at offset: Int64) throws(FileSystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0xAA, count: count)
        let result: Result<Int, FileSystemError> = buffer.withUnsafeMutableBytes { raw in
            do throws(FileSystemError) { return .success(try self.read(fd, into: raw, at: offset)) } catch {
                return .failure(error)
            }
        }
        buffer.removeLast(count - (try result.get()))
        return buffer
    }

    /// Writes `data` at `offset` with pwrite.
    @discardableResult
    func pwrite(_ fd: FileDescriptor, _ data: [UInt8], at offset: Int64) throws(FileSystemError) -> Int {
        let result: Result<Int, FileSystemError> = data.withUnsafeBytes { raw in
            do throws(FileSystemError) { return .success(try self.write(fd, from: raw, at: offset)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Listing of `path` as a set of descriptions (`name` or `name/`).
    func listing(_ path: FilePath) throws(FileSystemError) -> Set<String> {
        Set(try readDirectory(path).map { $0.description })
    }
}

/// The usage RamFS should report for `nodes` nodes with `nameBytes` bytes of names, `pages` pages and `slots`
/// page-table slots.
func expectedUsage(nodes: Int, nameBytes: Int, pages: Int, slots: Int) -> Int {
    nodes * RamFS.nodeOverhead + nameBytes + pages * RamFS.pageSize + slots * RamFS.pageSlotOverhead
}
