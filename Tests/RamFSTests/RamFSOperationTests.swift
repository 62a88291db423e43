import Interfaces
import Testing
@testable import RamFS

/// Every operation, its success path and each of its errors.
@Suite struct RamFSOperationTests {
    // MARK: open / read / write / close

    @Test func createWriteSeekRead() throws {
        let fs = makeFS()
        let fd = try fs.open("/hello.txt", [.read, .write, .create])
        #expect(try fs.write(fd, bytes("hello, world")) == 12)
        #expect(try fs.seek(fd, to: 0, from: .current) == 12)
        #expect(try fs.read(fd, count: 10) == [])                       // at the end
        #expect(try fs.seek(fd, to: 7, from: .start) == 7)
        #expect(try fs.read(fd, count: 100) == bytes("world"))
        #expect(try fs.seek(fd, to: -5, from: .end) == 7)
        #expect(try fs.read(fd, count: 3) == bytes("wor"))
        #expect(try fs.seek(fd, to: 0, from: .current) == 10)
        try fs.close(fd)
        #expect(try fs.contentsOfFile("/hello.txt") == bytes("hello, world"))
        let status = try fs.stat("/hello.txt")
        #expect(status.kind == .regularFile)
        #expect(status.size == 12)
        #expect(status.linkCount == 1)
    }

    @Test func openOptionErrors() throws {
        let fs = makeFS()
        try fs.createDirectory("/d")
        try fs.createFile("/f", contents: bytes("x"))
        #expect(throws: FileSystemError.invalidArgument) { try fs.open("/f", []) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.open("/f", [.read, .exclusive]) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.open("/f", [.read, .truncate]) }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.open("/missing", .read) }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.open("/missing/x", [.write, .create]) }
        #expect(throws: FileSystemError.fileExists) { try fs.open("/f", [.write, .create, .exclusive]) }
        #expect(throws: FileSystemError.fileExists) { try fs.open("/d", [.write, .create, .exclusive]) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/d", .write) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/d", [.read, .append]) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/d", [.read, .create]) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/", [.write, .create]) }
        #expect(throws: FileSystemError.fileExists) { try fs.open("/", [.write, .create, .exclusive]) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/d/.", [.read, .create]) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/new/", [.write, .create]) }
        #expect(throws: FileSystemError.isADirectory) { try fs.open("/f/", [.write, .create]) }
        #expect(throws: FileSystemError.notADirectory) { try fs.open("/f/", .read) }
        #expect(throws: FileSystemError.notADirectory) { try fs.open("/f/x", [.write, .create]) }
        // Nothing was created by the failures.
        #expect(try fs.listing("/") == ["d/", "f"])
        // Directories open read-only, for stat.
        let dirFD = try fs.open("/d/", .read)
        #expect(try fs.stat(dirFD).kind == .directory)
        #expect(throws: FileSystemError.isADirectory) { try fs.read(dirFD, count: 1) }
        #expect(throws: FileSystemError.isADirectory) { try fs.pread(dirFD, count: 1, at: 0) }
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.write(dirFD, bytes("x")) }
        try fs.close(dirFD)
        // Opening the root and the dot names works too.
        try fs.close(try fs.open("/", .read))
        try fs.close(try fs.open("/d/..", .read))
    }

    @Test func createExistingWithoutExclusiveOpensIt() throws {
        let fs = makeFS()
        try fs.createFile("/f", contents: bytes("abc"))
        let fd = try fs.open("/f", [.read, .create])
        #expect(try fs.read(fd, count: 10) == bytes("abc"))
        try fs.close(fd)
    }

    @Test func truncateOnOpenEmptiesTheFile() throws {
        let clock = TestWallClock()
        let fs = makeFS(clock: clock)
        try fs.createFile("/f", contents: [UInt8](repeating: 7, count: 10_000))
        #expect(fs.usage.pages == 3)
        clock.advance()
        let fd = try fs.open("/f", [.write, .truncate])
        let status = try fs.stat(fd)
        #expect(status.size == 0)
        #expect(status.allocatedBytes == 0)
        #expect(status.modificationTime == clock.now)
        #expect(fs.usage.pages == 0)
        try fs.close(fd)
    }

    @Test func accessModesAreEnforced() throws {
        let fs = makeFS()
        try fs.createFile("/f", contents: bytes("data"))
        let readOnly = try fs.open("/f", .read)
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.write(readOnly, bytes("x")) }
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.pwrite(readOnly, bytes("x"), at: 0) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.truncate(readOnly, to: 0) }
        let writeOnly = try fs.open("/f", .write)
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.read(writeOnly, count: 1) }
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.pread(writeOnly, count: 1, at: 0) }
        #expect(try fs.write(writeOnly, bytes("D")) == 1)
        #expect(try fs.read(readOnly, count: 10) == bytes("Data"))
        try fs.close(readOnly)
        try fs.close(writeOnly)
    }

    @Test func appendWritesAtTheEnd() throws {
        let fs = makeFS()
        try fs.createFile("/log", contents: bytes("one\n"))
        let fd = try fs.open("/log", [.read, .append])
        _ = try fs.seek(fd, to: 0, from: .start)
        try fs.write(fd, bytes("two\n"))
        #expect(try fs.seek(fd, to: 0, from: .current) == 8)
        _ = try fs.seek(fd, to: 1, from: .start)
        try fs.write(fd, bytes("three\n"))
        // pwrite writes where it is told (POSIX; Linux would append).
        try fs.pwrite(fd, bytes("ONE"), at: 0)
        #expect(try fs.contentsOfFile("/log") == bytes("ONE\ntwo\nthree\n"))
        try fs.close(fd)
    }

    @Test func positionalReadAndWriteKeepTheOffset() throws {
        let fs = makeFS()
        let fd = try fs.open("/p", [.read, .write, .create])
        try fs.write(fd, bytes("0123456789"))
        _ = try fs.seek(fd, to: 2, from: .start)
        #expect(try fs.pread(fd, count: 3, at: 5) == bytes("567"))
        #expect(try fs.pwrite(fd, bytes("xy"), at: 8) == 2)
        #expect(try fs.pwrite(fd, bytes("Z"), at: 12) == 1)             // leaves a one-byte hole at 10..<12
        #expect(try fs.seek(fd, to: 0, from: .current) == 2)
        #expect(try fs.pread(fd, count: 20, at: 0) == bytes("01234567xy") + [0, 0] + bytes("Z"))
        #expect(try fs.pread(fd, count: 4, at: 100) == [])
        #expect(try fs.pread(fd, count: 0, at: 0) == [])
        #expect(throws: FileSystemError.invalidArgument) { try fs.pread(fd, count: 1, at: -1) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.pwrite(fd, bytes("x"), at: -1) }
        // An empty pwrite past the end does not extend the file.
        #expect(try fs.pwrite(fd, [], at: 1000) == 0)
        #expect(try fs.stat(fd).size == 13)
        try fs.close(fd)
    }

    @Test func sparseFilesReadZerosAndCostOnlyWrittenPages() throws {
        let fs = makeFS()
        let fd = try fs.open("/sparse", [.read, .write, .create])
        let before = fs.usage.usedBytes
        try fs.pwrite(fd, bytes("end"), at: 1 << 20)                 // page 256
        let status = try fs.stat(fd)
        #expect(status.size == (1 << 20) + 3)
        #expect(status.allocatedBytes == 4096)
        #expect(fs.usage.pages == 1)
        #expect(fs.usage.usedBytes - before == 4096 + 257 * RamFS.pageSlotOverhead)
        let hole = try fs.pread(fd, count: 10_000, at: 12_345)
        #expect(hole == [UInt8](repeating: 0, count: 10_000))
        #expect(try fs.pread(fd, count: 10, at: (1 << 20) - 2) == [0, 0] + bytes("end"))
        // Growing by truncation allocates nothing.
        try fs.truncate(fd, to: 1 << 30)
        #expect(fs.usage.pages == 1)
        #expect(try fs.stat(fd).size == 1 << 30)
        try fs.close(fd)
    }

    @Test func writesSpanningPagesRoundTrip() throws {
        let fs = makeFS()
        let generator = SeededEntropy(seed: 42)
        let data = (0..<50_000).map { _ in UInt8(truncatingIfNeeded: generator.next64()) }
        let fd = try fs.open("/big", [.read, .write, .create])
        #expect(try fs.pwrite(fd, data, at: 1000) == data.count)
        #expect(try fs.pread(fd, count: 60_000, at: 1000) == data)
        #expect(try fs.pread(fd, count: 1000, at: 0) == [UInt8](repeating: 0, count: 1000))
        // Overwrite a range crossing two page boundaries.
        let patch = [UInt8](repeating: 0xEE, count: 5000)
        try fs.pwrite(fd, patch, at: 4000)
        var expected = [UInt8](repeating: 0, count: 1000) + data
        expected.replaceSubrange(4000..<9000, with: patch)
        #expect(try fs.pread(fd, count: 60_000, at: 0) == expected)
        try fs.close(fd)
    }

    // MARK: seek

    @Test func seekOrigins() throws {
        let fs = makeFS()
        let fd = try fs.open("/s", [.read, .write, .create])
        try fs.write(fd, bytes("abcdef"))
        #expect(try fs.seek(fd, to: 2, from: .start) == 2)
        #expect(try fs.seek(fd, to: 2, from: .current) == 4)
        #expect(try fs.seek(fd, to: -1, from: .current) == 3)
        #expect(try fs.seek(fd, to: 0, from: .end) == 6)
        #expect(try fs.seek(fd, to: 10, from: .end) == 16)                // past the end is allowed
        #expect(try fs.read(fd, count: 4) == [])
        try fs.write(fd, bytes("!"))                                       // fills 6..<16 with zeros
        #expect(try fs.contentsOfFile("/s") == bytes("abcdef") + [UInt8](repeating: 0, count: 10) + bytes("!"))
        #expect(throws: FileSystemError.invalidArgument) { try fs.seek(fd, to: -1, from: .start) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.seek(fd, to: -100, from: .end) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.seek(fd, to: .max, from: .end) }
        #expect(try fs.seek(fd, to: 0, from: .current) == 17)             // unchanged by the failures
        try fs.close(fd)
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.seek(fd, to: 0, from: .start) }
    }

    // MARK: truncate

    @Test func truncateShrinksAndGrowsWithZeros() throws {
        let clock = TestWallClock()
        let fs = makeFS(clock: clock)
        try fs.createFile("/t", contents: [UInt8](repeating: 0x55, count: 9000))
        #expect(fs.usage.pages == 3)
        clock.advance()
        try fs.truncate("/t", to: 4100)
        #expect(fs.usage.pages == 2)
        #expect(try fs.stat("/t").modificationTime == clock.now)
        try fs.truncate("/t", to: 9000)
        let contents = try fs.contentsOfFile("/t")
        #expect(contents == [UInt8](repeating: 0x55, count: 4100) + [UInt8](repeating: 0, count: 4900))
        let fd = try fs.open("/t", .write)
        try fs.truncate(fd, to: 0)
        #expect(fs.usage.pages == 0)
        #expect(try fs.stat(fd).size == 0)
        try fs.close(fd)
    }

    @Test func truncateErrors() throws {
        let fs = makeFS(RamFS.Configuration(maxFileSize: 1 << 20))
        try fs.createDirectory("/d")
        try fs.createFile("/f", contents: [])
        #expect(throws: FileSystemError.invalidArgument) { try fs.truncate("/f", to: -1) }
        #expect(throws: FileSystemError.isADirectory) { try fs.truncate("/d", to: 0) }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.truncate("/nope", to: 0) }
        #expect(throws: FileSystemError.notADirectory) { try fs.truncate("/f/", to: 0) }
        #expect(throws: FileSystemError.fileTooLarge) { try fs.truncate("/f", to: (1 << 20) + 1) }
        try fs.truncate("/f", to: 1 << 20)
        let fd = try fs.open("/f", .write)
        #expect(throws: FileSystemError.invalidArgument) { try fs.truncate(fd, to: -5) }
        #expect(throws: FileSystemError.fileTooLarge) { try fs.pwrite(fd, bytes("x"), at: 1 << 20) }
        #expect(throws: FileSystemError.fileTooLarge) { try fs.pwrite(fd, bytes("xy"), at: (1 << 20) - 1) }
        try fs.pwrite(fd, bytes("x"), at: (1 << 20) - 1)
        let dirFD = try fs.open("/d", .read)
        #expect(throws: FileSystemError.invalidArgument) { try fs.truncate(dirFD, to: 0) }
        try fs.close(dirFD)
        try fs.close(fd)
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.truncate(fd, to: 0) }
    }

    // MARK: stat

    @Test func statReportsKindsSizesLinksAndIdentifiers() throws {
        let fs = makeFS()
        try fs.createDirectory("/a")
        try fs.createDirectory("/a/b")
        try fs.createDirectory("/a/c")
        try fs.createFile("/a/f", contents: bytes("12345"))
        let root = try fs.stat("/")
        let a = try fs.stat("/a")
        let f = try fs.stat("/a/f")
        #expect(root.kind == .directory)
        #expect(root.linkCount == 3)
        #expect(a.linkCount == 4)
        #expect(a.size == 0)
        #expect(f.kind == .regularFile)
        #expect(f.size == 5)
        #expect(f.allocatedBytes == 4096)
        #expect(Set([root.identifier, a.identifier, f.identifier, try fs.stat("/a/b").identifier]).count == 4)
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("/a/g") }
        #expect(throws: FileSystemError.notADirectory) { try fs.stat("/a/f/") }
        #expect(throws: FileSystemError.notADirectory) { try fs.stat("/a/f/x") }
        #expect(throws: FileSystemError.badFileDescriptor) { try fs.stat(FileDescriptor(rawValue: 3)) }
    }

    // MARK: mkdir / rmdir / readdir

    @Test func createDirectoryErrors() throws {
        let fs = makeFS()
        try fs.createDirectory("/a")
        try fs.createDirectory("/a/b/")
        try fs.createFile("/f", contents: [])
        #expect(throws: FileSystemError.fileExists) { try fs.createDirectory("/a") }
        #expect(throws: FileSystemError.fileExists) { try fs.createDirectory("/f") }
        #expect(throws: FileSystemError.fileExists) { try fs.createDirectory("/") }
        #expect(throws: FileSystemError.fileExists) { try fs.createDirectory("/a/.") }
        #expect(throws: FileSystemError.fileExists) { try fs.createDirectory("/a/b/..") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.createDirectory("/x/y") }
        #expect(throws: FileSystemError.notADirectory) { try fs.createDirectory("/f/y") }
        #expect(try fs.listing("/a") == ["b/"])
    }

    @Test func removeDirectoryRules() throws {
        let clock = TestWallClock()
        let fs = makeFS(clock: clock)
        try fs.createDirectory("/a")
        try fs.createDirectory("/a/b")
        try fs.createFile("/f", contents: [])
        #expect(throws: FileSystemError.directoryNotEmpty) { try fs.removeDirectory("/a") }
        #expect(throws: FileSystemError.notADirectory) { try fs.removeDirectory("/f") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.removeDirectory("/zz") }
        #expect(throws: FileSystemError.busy) { try fs.removeDirectory("/") }
        #expect(throws: FileSystemError.invalidArgument) { try fs.removeDirectory("/a/b/.") }
        #expect(throws: FileSystemError.directoryNotEmpty) { try fs.removeDirectory("/a/b/..") }
        clock.advance()
        try fs.removeDirectory("/a/b/")
        #expect(try fs.stat("/a").linkCount == 2)
        #expect(try fs.stat("/a").modificationTime == clock.now)
        try fs.removeDirectory("/a")
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("/a") }
        #expect(try fs.listing("/") == ["f"])
        #expect(fs.usage.nodes == 2)
    }

    @Test func readDirectoryListsNamesAndKinds() throws {
        let fs = makeFS()
        #expect(try fs.readDirectory("/").isEmpty)
        try fs.createDirectory("/d")
        try fs.createFile("/d/one", contents: [])
        try fs.createFile("/d/two", contents: bytes("2"))
        try fs.createDirectory("/d/sub")
        #expect(try fs.listing("/d") == ["one", "two", "sub/"])
        #expect(try fs.listing("//d/./sub/..") == ["one", "two", "sub/"])
        #expect(throws: FileSystemError.notADirectory) { try fs.readDirectory("/d/one") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.readDirectory("/e") }
        let entries = try fs.readDirectory("/d")
        #expect(entries.contains(DirectoryEntry(name: "sub", kind: .directory)))
        #expect(!entries.contains(DirectoryEntry(name: "sub", kind: .regularFile)))
    }

    @Test func manyEntriesInOneDirectory() throws {
        let fs = makeFS()
        try fs.createDirectory("/many")
        for i in 0..<2000 { try fs.createFile(FilePath("/many/file\(i)"), contents: []) }
        #expect(try fs.readDirectory("/many").count == 2000)
        for i in stride(from: 0, to: 2000, by: 2) { try fs.unlink(FilePath("/many/file\(i)")) }
        let names = try fs.listing("/many")
        #expect(names == Set(stride(from: 1, to: 2000, by: 2).map { "file\($0)" }))
        for i in 0..<2000 {
            if i % 2 == 0 {
                #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat(FilePath("/many/file\(i)")) }
            } else {
                #expect(try fs.stat(FilePath("/many/file\(i)")).kind == .regularFile)
            }
        }
    }

    // MARK: unlink

    @Test func unlinkRules() throws {
        let fs = makeFS()
        try fs.createDirectory("/d")
        try fs.createFile("/d/f", contents: bytes("x"))
        #expect(throws: FileSystemError.isADirectory) { try fs.unlink("/d") }
        #expect(throws: FileSystemError.isADirectory) { try fs.unlink("/d/") }
        #expect(throws: FileSystemError.isADirectory) { try fs.unlink("/") }
        #expect(throws: FileSystemError.isADirectory) { try fs.unlink("/d/.") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.unlink("/d/g") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.unlink("/d/g/") }
        #expect(throws: FileSystemError.notADirectory) { try fs.unlink("/d/f/") }
        try fs.unlink("/d/f")
        #expect(try fs.readDirectory("/d").isEmpty)
        #expect(fs.usage.pages == 0)
        #expect(fs.usage.nodes == 2)
    }

    @Test func unlinkedOpenFileStaysUsableUntilClosed() throws {
        let fs = makeFS()
        let baseline = fs.usage.usedBytes
        try fs.createFile("/f", contents: bytes("keep me"))
        let reader = try fs.open("/f", .read)
        let writer = try fs.open("/f", .write)
        try fs.unlink("/f")
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("/f") }
        #expect(try fs.read(reader, count: 100) == bytes("keep me"))
        try fs.pwrite(writer, bytes("KEEP"), at: 0)
        #expect(try fs.pread(reader, count: 100, at: 0) == bytes("KEEP me"))
        #expect(try fs.stat(reader).linkCount == 0)
        // A new file of the same name is a different file.
        try fs.createFile("/f", contents: bytes("new"))
        #expect(try fs.pread(reader, count: 100, at: 0) == bytes("KEEP me"))
        try fs.unlink("/f")
        #expect(fs.usage.pages == 1)
        try fs.close(reader)
        #expect(fs.usage.pages == 1)
        try fs.close(writer)
        #expect(fs.usage.pages == 0)
        #expect(fs.usage.nodes == 1)
        #expect(fs.usage.usedBytes == baseline)
    }

    @Test func removedOpenDirectoryCanStillBeStatted() throws {
        let fs = makeFS()
        try fs.createDirectory("/d")
        let fd = try fs.open("/d", .read)
        try fs.removeDirectory("/d")
        #expect(try fs.stat(fd).linkCount == 0)
        #expect(try fs.stat(fd).kind == .directory)
        #expect(fs.usage.nodes == 2)
        try fs.close(fd)
        #expect(fs.usage.nodes == 1)
    }

    // MARK: rename

    @Test func renameMovesAndReplacesFiles() throws {
        let clock = TestWallClock()
        let fs = makeFS(clock: clock)
        try fs.createDirectory("/a")
        try fs.createDirectory("/b")
        try fs.createFile("/a/x", contents: bytes("X"))
        try fs.createFile("/b/y", contents: bytes("Y"))
        let oldY = try fs.open("/b/y", .read)
        clock.advance()
        try fs.rename("/a/x", to: "/b/y")                                 // replaces y
        #expect(try fs.contentsOfFile("/b/y") == bytes("X"))
        #expect(try fs.listing("/a").isEmpty)
        #expect(try fs.listing("/b") == ["y"])
        #expect(try fs.read(oldY, count: 10) == bytes("Y"))               // the replaced file lives on while open
        #expect(try fs.stat(oldY).linkCount == 0)
        #expect(try fs.stat("/b/y").statusChangeTime == clock.now)
        #expect(try fs.stat("/a").modificationTime == clock.now)
        try fs.close(oldY)
        try fs.rename("/b/y", to: "/b/a-much-longer-name")
        #expect(try fs.listing("/b") == ["a-much-longer-name"])
        // Renaming to itself changes nothing.
        try fs.rename("/b/a-much-longer-name", to: "/b/./a-much-longer-name")
        #expect(try fs.listing("/b") == ["a-much-longer-name"])
        #expect(fs.usage.usedBytes == expectedUsage(
            nodes: 4, nameBytes: 1 + 1 + "a-much-longer-name".utf8.count, pages: 1, slots: 1))
    }

    @Test func renameDirectories() throws {
        let fs = makeFS()
        try fs.createDirectory("/a")
        try fs.createDirectory("/a/b")
        try fs.createDirectory("/a/b/c")
        try fs.createDirectory("/empty")
        try fs.createDirectory("/full")
        try fs.createFile("/full/f", contents: [])
        try fs.createFile("/file", contents: [])
        #expect(throws: FileSystemError.invalidArgument) { try fs.rename("/a", to: "/a/b/c/d") }
        #expect(throws: FileSystemError.invalidArgument) { try fs.rename("/a", to: "/a/z") }
        #expect(throws: FileSystemError.invalidArgument) { try fs.rename("/a/b", to: "/a/b/c/z") }
        #expect(throws: FileSystemError.directoryNotEmpty) { try fs.rename("/a/b/c", to: "/a") }
        #expect(throws: FileSystemError.directoryNotEmpty) { try fs.rename("/a", to: "/full") }
        #expect(throws: FileSystemError.notADirectory) { try fs.rename("/a", to: "/file") }
        #expect(throws: FileSystemError.isADirectory) { try fs.rename("/file", to: "/empty") }
        #expect(throws: FileSystemError.notADirectory) { try fs.rename("/file/", to: "/file2") }
        #expect(throws: FileSystemError.notADirectory) { try fs.rename("/file", to: "/file2/") }
        #expect(throws: FileSystemError.busy) { try fs.rename("/", to: "/x") }
        #expect(throws: FileSystemError.busy) { try fs.rename("/a/.", to: "/x") }
        #expect(throws: FileSystemError.busy) { try fs.rename("/a", to: "/empty/..") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.rename("/nothing", to: "/x") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.rename("/a", to: "/nothing/x") }
        #expect(throws: FileSystemError.notADirectory) { try fs.rename("/file/x", to: "/y") }
        // Over an empty directory, with a trailing slash.
        try fs.rename("/a/", to: "/empty/")
        #expect(try fs.listing("/") == ["empty/", "full/", "file"])
        #expect(try fs.stat("/empty/b/c").kind == .directory)
        // ".." follows the moved directory.
        try fs.createDirectory("/full/sub")
        try fs.rename("/empty/b", to: "/full/sub/b")
        #expect(try fs.listing("/full/sub/b/c/../..") == ["b/"])
        #expect(try fs.stat("/full").linkCount == 3)
        #expect(try fs.stat("/empty").linkCount == 2)
        #expect(try fs.stat("/full/sub").linkCount == 3)
    }

    // MARK: descriptors

    @Test func descriptorLimitAndReuse() throws {
        let fs = makeFS(RamFS.Configuration(maxOpenFiles: 4))
        try fs.createFile("/f", contents: [])
        var fds: [FileDescriptor] = []
        for _ in 0..<4 { fds.append(try fs.open("/f", .read)) }
        #expect(fds.map(\.rawValue) == [0, 1, 2, 3])
        #expect(throws: FileSystemError.tooManyOpenFiles) { try fs.open("/f", .read) }
        // The limit is checked before the path (as Linux reserves the descriptor first).
        #expect(throws: FileSystemError.tooManyOpenFiles) { try fs.open("/missing", .read) }
        #expect(throws: FileSystemError.tooManyOpenFiles) { try fs.open("/new", [.write, .create]) }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("/new") }
        try fs.close(fds[2])
        try fs.close(fds[0])
        #expect(try fs.open("/f", .read).rawValue == 0)                     // lowest free first
        #expect(try fs.open("/f", .read).rawValue == 2)
        #expect(fs.usage.openDescriptors == 4)
    }

    @Test func badDescriptors() throws {
        let fs = makeFS()
        let fd = try fs.open("/f", [.read, .write, .create])
        try fs.close(fd)
        for bad in [fd, FileDescriptor(rawValue: -1), FileDescriptor(rawValue: 99), FileDescriptor(rawValue: .max)] {
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.close(bad) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.read(bad, count: 1) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.write(bad, bytes("x")) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.pread(bad, count: 1, at: 0) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.pwrite(bad, bytes("x"), at: 0) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.seek(bad, to: 0, from: .end) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.stat(bad) }
            #expect(throws: FileSystemError.badFileDescriptor) { try fs.truncate(bad, to: 0) }
        }
    }

    // MARK: paths

    @Test func pathNormalization() throws {
        let fs = makeFS()
        try fs.createDirectory("/a")
        try fs.createDirectory("/a/b")
        try fs.createFile("/a/b/f", contents: bytes("F"))
        let id = try fs.stat("/a/b/f").identifier
        for spelling: FilePath in [
            "//a///b//f", "/./a/./b/./f", "/a/b/../b/f", "/../../a/b/f", "/a/../../a/b/f", "a/b/f", "./a/b/f",
            "/a/b/../../a/b/../b/f",
        ] {
            #expect(try fs.stat(spelling).identifier == id, "\(spelling)")
        }
        #expect(try fs.stat("/..").identifier == 1)
        #expect(try fs.stat("///").identifier == 1)
        #expect(try fs.stat("/a/b/../..").identifier == 1)
        #expect(try fs.stat(".").identifier == 1)
        // Components before ".." must exist and be directories (the walk is physical, as on Linux).
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("/a/missing/../b/f") }
        #expect(throws: FileSystemError.notADirectory) { try fs.stat("/a/b/f/../f") }
        #expect(throws: FileSystemError.notADirectory) { try fs.stat("/a/b/f/.") }
        // Creation through a normalized path puts the entry in the right place.
        try fs.createFile("//a/./b/../new", contents: bytes("N"))
        #expect(try fs.listing("/a") == ["b/", "new"])
    }

    @Test func pathValidation() throws {
        let fs = makeFS()
        try fs.createDirectory("/d")
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("") }
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.open("", [.write, .create]) }
        #expect(throws: FileSystemError.invalidArgument) { try fs.stat("/d\u{0}/x") }
        #expect(throws: FileSystemError.invalidArgument) { try fs.createDirectory("/d/x\u{0}") }
        #expect(throws: FileSystemError.invalidArgument) { try fs.stat(FilePath(decoding: [0x2f, 0x64, 0x00])) }
        let longest = String(repeating: "n", count: 255)
        try fs.createFile(FilePath("/d/" + longest), contents: [])
        #expect(try fs.listing("/d") == [longest])
        #expect(throws: FileSystemError.nameTooLong) { try fs.createFile(FilePath("/d/" + longest + "n"), contents: []) }
        // Checked for the whole path before walking: the missing directory is not reported.
        #expect(throws: FileSystemError.nameTooLong) { try fs.stat(FilePath("/missing/" + longest + "n")) }
        // Total length: 4095 bytes is the longest path.
        let component = String(repeating: "c", count: 200)
        var deep = ""
        while deep.utf8.count + 201 <= 4095 { deep += "/" + component }
        deep += "/" + String(repeating: "x", count: 4095 - deep.utf8.count - 1)
        #expect(deep.utf8.count == 4095)
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat(FilePath(deep)) }
        #expect(throws: FileSystemError.nameTooLong) { try fs.stat(FilePath(deep + "x")) }
        // Configurable limits.
        let small = makeFS(RamFS.Configuration(maxNameLength: 4, maxPathLength: 10))
        try small.createDirectory("/abcd")
        #expect(throws: FileSystemError.nameTooLong) { try small.createDirectory("/abcde") }
        try small.createDirectory("/abcd/efg")
        #expect(throws: FileSystemError.nameTooLong) { try small.createDirectory("/abcd/efghi") }
        #expect(throws: FileSystemError.nameTooLong) { try small.createDirectory("/abcd/efg/h") }
        // Names are bytes: a decomposed "é" is not a precomposed "é".
        try fs.createFile("/d/caf\u{E9}", contents: [])
        #expect(throws: FileSystemError.noSuchFileOrDirectory) { try fs.stat("/d/cafe\u{301}") }
        #expect(try fs.stat("/d/caf\u{E9}").kind == .regularFile)
    }

    // MARK: memory budget

    @Test func budgetAccountingIsExact() throws {
        let fs = makeFS()
        #expect(fs.usage.usedBytes == expectedUsage(nodes: 1, nameBytes: 0, pages: 0, slots: 0))
        try fs.createDirectory("/dir")
        try fs.createFile("/dir/file", contents: [UInt8](repeating: 1, count: 5000))
        #expect(fs.usage.usedBytes == expectedUsage(nodes: 3, nameBytes: 7, pages: 2, slots: 2))
        let fd = try fs.open("/dir/file", .write)
        try fs.pwrite(fd, bytes("z"), at: 40_000)                          // page 9: slots 2...9, one page
        #expect(fs.usage.usedBytes == expectedUsage(nodes: 3, nameBytes: 7, pages: 3, slots: 10))
        try fs.truncate(fd, to: 4097)
        #expect(fs.usage.usedBytes == expectedUsage(nodes: 3, nameBytes: 7, pages: 2, slots: 2))
        try fs.close(fd)
        try fs.unlink("/dir/file")
        try fs.removeDirectory("/dir")
        #expect(fs.usage.usedBytes == expectedUsage(nodes: 1, nameBytes: 0, pages: 0, slots: 0))
    }

    @Test func fullFileSystemAnswersNoSpaceAndLosesNothing() throws {
        // Room for the root, one file and three pages (with their slots).
        let limit = expectedUsage(nodes: 2, nameBytes: 1, pages: 3, slots: 3)
        let fs = makeFS(RamFS.Configuration(memoryLimit: limit))
        let fd = try fs.open("/f", [.read, .write, .create])
        let original = [UInt8](repeating: 0x31, count: 6000)
        try fs.write(fd, original)                                         // two pages
        let before = fs.usage
        // Needs two more pages: refused whole, the file is unchanged.
        #expect(throws: FileSystemError.noSpace) { try fs.pwrite(fd, [UInt8](repeating: 9, count: 9000), at: 5000) }
        #expect(throws: FileSystemError.noSpace) { try fs.write(fd, [UInt8](repeating: 9, count: 8192)) }
        #expect(fs.usage == before)
        #expect(try fs.pread(fd, count: 10_000, at: 0) == original)
        #expect(try fs.seek(fd, to: 0, from: .current) == 6000)
        // Overwriting allocated pages needs no space; the third page still fits.
        try fs.pwrite(fd, [UInt8](repeating: 2, count: 8192), at: 0)
        try fs.pwrite(fd, bytes("3"), at: 8192)
        #expect(throws: FileSystemError.noSpace) { try fs.pwrite(fd, bytes("4"), at: 12_288) }
        // No room for another node either.
        #expect(throws: FileSystemError.noSpace) { try fs.createDirectory("/g") }
        #expect(throws: FileSystemError.noSpace) { try fs.open("/g", [.write, .create]) }
        #expect(try fs.listing("/") == ["f"])
        // Freeing space makes it usable again.
        try fs.truncate(fd, to: 0)
        try fs.createDirectory("/g")
        #expect(fs.usage.usedBytes <= limit)
        try fs.close(fd)
    }

    @Test func renameToALongerNameIsCharged() throws {
        let limit = expectedUsage(nodes: 2, nameBytes: 3, pages: 0, slots: 0)
        let fs = makeFS(RamFS.Configuration(memoryLimit: limit))
        try fs.createFile("/ab", contents: [])
        try fs.rename("/ab", to: "/abc")
        #expect(throws: FileSystemError.noSpace) { try fs.rename("/abc", to: "/abcd") }
        #expect(try fs.listing("/") == ["abc"])
        #expect(fs.usage.usedBytes == limit)
    }

    // MARK: times

    @Test func timestampsFollowTheClock() throws {
        let clock = TestWallClock()
        let fs = makeFS(clock: clock)
        let t0 = clock.now
        let fd = try fs.open("/f", [.read, .write, .create])
        var status = try fs.stat(fd)
        #expect(status.creationTime == t0)
        #expect(status.modificationTime == t0)
        #expect(status.accessTime == t0)
        #expect(status.statusChangeTime == t0)
        #expect(try fs.stat("/").modificationTime == t0)
        clock.advance()
        let t1 = clock.now
        try fs.write(fd, bytes("abc"))
        status = try fs.stat(fd)
        #expect(status.creationTime == t0)
        #expect(status.modificationTime == t1)
        #expect(status.statusChangeTime == t1)
        #expect(status.accessTime == t0)
        clock.advance()
        let t2 = clock.now
        _ = try fs.pread(fd, count: 3, at: 0)
        status = try fs.stat(fd)
        #expect(status.accessTime == t2)
        #expect(status.modificationTime == t1)
        clock.advance()
        let t3 = clock.now
        try fs.createDirectory("/d")
        #expect(try fs.stat("/").modificationTime == t3)
        #expect(try fs.stat("/d").creationTime == t3)
        clock.advance()
        _ = try fs.readDirectory("/d")
        #expect(try fs.stat("/d").accessTime == clock.now)
        #expect(try fs.stat("/d").modificationTime == t3)
        try fs.close(fd)
    }

    // MARK: read-only

    @Test func readOnlyRefusesModifications() throws {
        let fs = makeFS()
        try fs.createDirectory("/d")
        try fs.createFile("/d/f", contents: bytes("ro"))
        let writer = try fs.open("/d/f", .write)
        fs.isReadOnly = true
        #expect(fs.isReadOnly)
        #expect(throws: FileSystemError.readOnly) { try fs.open("/d/f", .write) }
        #expect(throws: FileSystemError.readOnly) { try fs.open("/d/new", [.write, .create]) }
        #expect(throws: FileSystemError.readOnly) { try fs.createDirectory("/e") }
        #expect(throws: FileSystemError.readOnly) { try fs.removeDirectory("/d") }
        #expect(throws: FileSystemError.readOnly) { try fs.unlink("/d/f") }
        #expect(throws: FileSystemError.readOnly) { try fs.rename("/d/f", to: "/d/g") }
        #expect(throws: FileSystemError.readOnly) { try fs.truncate("/d/f", to: 0) }
        #expect(throws: FileSystemError.readOnly) { try fs.write(writer, bytes("x")) }
        #expect(throws: FileSystemError.readOnly) { try fs.truncate(writer, to: 0) }
        #expect(try fs.contentsOfFile("/d/f") == bytes("ro"))
        #expect(try fs.listing("/d") == ["f"])
        try fs.close(writer)
        fs.isReadOnly = false
        try fs.unlink("/d/f")
    }

    // MARK: the protocol and its value types

    @Test func usableThroughTheExistential() throws {
        let fs: any FileSystem = makeFS()
        try fs.createDirectory("/www")
        try fs.createFile("/www/index.html", contents: bytes("<h1>hi</h1>"))
        #expect(try fs.contentsOfFile("/www/index.html") == bytes("<h1>hi</h1>"))
        #expect(try fs.readDirectory("/www") == [DirectoryEntry(name: "index.html", kind: .regularFile)])
        #expect(throws: FileSystemError.isADirectory) { try fs.contentsOfFile("/www") }
        let fd = try fs.open("/www/index.html", .read)
        #expect(throws: FileSystemError.invalidArgument) { try fs.read(fd, count: -1) }
        try fs.close(fd)
    }

    @Test func errorNamesNumbersAndDescriptions() {
        let all: [FileSystemError] = [
            .noSuchFileOrDirectory, .notADirectory, .isADirectory, .fileExists, .directoryNotEmpty, .invalidArgument,
            .noSpace, .tooManyOpenFiles, .badFileDescriptor, .nameTooLong, .readOnly, .fileTooLarge, .busy, .ioError,
            .notSupported,
        ]
        #expect(Set(all.map(\.linuxErrorNumber)).count == all.count)
        #expect(Set(all.map(\.description)).count == all.count)
        for error in all {
            #expect(FileSystemError(linuxErrorNumber: error.linuxErrorNumber) == error)
            #expect(error.description.hasSuffix("(\(error.posixName))"))
        }
        #expect(FileSystemError(linuxErrorNumber: 1) == nil)
        #expect(FileSystemError.noSuchFileOrDirectory.description == "no such file or directory (ENOENT)")
        #expect(FileSystemError.noSuchFileOrDirectory.linuxErrorNumber == 2)
        #expect(OpenOptions([.read, .write, .create]).description == "read|write|create")
        #expect(OpenOptions().description == "none")
        #expect(FileDescriptor(rawValue: 3).description == "fd 3")
        #expect(SeekOrigin.end.description == "end")
        #expect(DirectoryEntry(name: "d", kind: .directory).description == "d/")
        #expect(FilePath("/a") == "/a")
        #expect(FilePath("/a") != "/a/")
        #expect(Set<FilePath>(["/x", "/x", "/y"]).count == 2)
    }
}
