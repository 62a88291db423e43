import Interfaces
import Testing
@testable import RamFS

/// The bulk import API and the directory hash table.
@Suite struct ImportTests {
    @Test func importCreatesTheTreeWithParents() throws {
        let clock = TestWallClock()
        let fs = makeFS(clock: clock)
        try fs.createDirectory("/existing")
        let summary = try fs.importTree([
            .file("/www/index.html", bytes("<h1>home</h1>")),
            .file("/www/css/site.css", bytes("body{}")),
            .file("/www/css/print.css", []),
            .directory("/www/empty"),
            .directory("/existing"),
            .file("/existing/./a/../b", bytes("B")),
            .file("top", bytes("T")),
        ])
        #expect(summary.files == 5)
        #expect(summary.directories == 4)                          // www, css, empty, a
        #expect(summary.bytesCopied == 13 + 6 + 1 + 1)
        #expect(summary.bytesBorrowed == 0)
        #expect(try fs.listing("/") == ["www/", "existing/", "top"])
        #expect(try fs.listing("/www") == ["index.html", "css/", "empty/"])
        #expect(try fs.listing("/www/css") == ["site.css", "print.css"])
        #expect(try fs.listing("/existing") == ["a/", "b"])
        #expect(try fs.contentsOfFile("/www/index.html") == bytes("<h1>home</h1>"))
        #expect(try fs.contentsOfFile("/existing/b") == bytes("B"))
        #expect(try fs.stat("/www/css/print.css").size == 0)
        #expect(try fs.stat("/www/index.html").creationTime == clock.now)
        #expect(summary.description == "5 files, 4 directories, 21 bytes copied, 0 borrowed")
    }

    @Test func borrowedContentsAreReadInPlaceAndCopiedOnWrite() throws {
        let fs = makeFS()
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: 10_000, alignment: 16)
        defer { image.deallocate() }
        for i in 0..<image.count { image[i] = UInt8(truncatingIfNeeded: i * 7) }
        let expected = Array(image)
        let before = fs.usage
        let summary = try fs.importTree([
            ImportEntryHelper.borrowed("/static/blob", UnsafeRawBufferPointer(image)),
            ImportEntryHelper.borrowed("/static/empty", UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(image)[0..<0])),
            ImportEntryHelper.borrowed("/static/cut", UnsafeRawBufferPointer(image)),
        ])
        #expect(summary.bytesBorrowed == 20_000)
        #expect(summary.bytesCopied == 0)
        // Only the nodes are charged: no pages.
        #expect(fs.usage.pages == before.pages)
        #expect(fs.usage.usedBytes == before.usedBytes + expectedUsage(nodes: 4, nameBytes: 6 + 4 + 5 + 3, pages: 0, slots: 0))
        #expect(try fs.contentsOfFile("/static/blob") == expected)
        #expect(try fs.contentsOfFile("/static/empty") == [])
        let status = try fs.stat("/static/blob")
        #expect(status.size == 10_000)
        #expect(status.allocatedBytes == 0)
        // A write copies the contents into pages (3 of them) and then applies the change.
        let fd = try fs.open("/static/blob", [.read, .write])
        try fs.pwrite(fd, bytes("XY"), at: 5000)
        #expect(fs.usage.pages == 3)
        var changed = expected
        changed[5000] = 0x58
        changed[5001] = 0x59
        #expect(try fs.pread(fd, count: 20_000, at: 0) == changed)
        #expect(image[5000] == UInt8(truncatingIfNeeded: 5000 * 7))     // the borrowed bytes are untouched
        // Writing past the borrowed range copies and extends.
        try fs.pwrite(fd, bytes("!"), at: 20_000)
        #expect(try fs.stat(fd).size == 20_001)
        #expect(try fs.pread(fd, count: 10, at: 10_000) == [UInt8](repeating: 0, count: 10))
        try fs.close(fd)
        // Truncating a borrowed file down and up exposes zeros, still without copying.
        try fs.truncate("/static/cut", to: 100)
        try fs.truncate("/static/cut", to: 200)
        #expect(try fs.contentsOfFile("/static/cut") == Array(expected[0..<100]) + [UInt8](repeating: 0, count: 100))
        #expect(fs.usage.pages == 4)
        try fs.unlink("/static/blob")
        try fs.unlink("/static/cut")
        #expect(fs.usage.pages == 0)
    }

    @Test func borrowedWriteRespectsTheBudget() throws {
        let limit = expectedUsage(nodes: 2, nameBytes: 1, pages: 2, slots: 2)
        let fs = makeFS(RamFS.Configuration(memoryLimit: limit))
        let image = [UInt8](repeating: 0x42, count: 9000)                  // needs 3 pages once copied
        try image.withUnsafeBytes { raw in
            try fs.importTree([ImportEntryHelper.borrowed("/b", raw)])
            let fd = try fs.open("/b", [.read, .write])
            #expect(throws: FileSystemError.noSpace) { try fs.pwrite(fd, bytes("x"), at: 0) }
            #expect(try fs.contentsOfFile("/b") == image)
            try fs.close(fd)
        }
    }

    @Test func importLimitsAreCheckedFirst() throws {
        let fs = makeFS()
        let limits = RamFS.ImportLimits(maxEntries: 3, maxFileSize: 10, maxTotalBytes: 15)
        #expect(throws: RamFS.ImportError.tooManyEntries(count: 4, limit: 3)) {
            try fs.importTree([.directory("/a"), .directory("/b"), .directory("/c"), .directory("/d")], limits: limits)
        }
        #expect(throws: RamFS.ImportError.fileTooLarge(index: 1, size: 11, limit: 10)) {
            try fs.importTree([.directory("/a"), .file("/a/f", [UInt8](repeating: 0, count: 11))], limits: limits)
        }
        #expect(throws: RamFS.ImportError.tooManyBytes(total: 16, limit: 15)) {
            try fs.importTree([.file("/x", [UInt8](repeating: 0, count: 8)), .file("/y", [UInt8](repeating: 0, count: 8))],
                              limits: limits)
        }
        #expect(try fs.readDirectory("/").isEmpty)
        #expect(RamFS.ImportError.tooManyEntries(count: 4, limit: 3).description == "import of 4 entries exceeds the limit of 3")
    }

    @Test func failedImportRollsBackEverything() throws {
        let fs = makeFS()
        try fs.createDirectory("/keep")
        try fs.createFile("/keep/file", contents: bytes("k"))
        let before = fs.usage
        let cases: [([RamFS.ImportEntry], RamFS.ImportError)] = [
            ([.file("/new/a", bytes("a")), .file("/new/a", bytes("again"))], .failed(index: 1, error: .fileExists)),
            ([.file("/new/a", bytes("a")), .file("/keep/file", [])], .failed(index: 1, error: .fileExists)),
            ([.directory("/new/d"), .file("/keep/file/x", [])], .failed(index: 1, error: .notADirectory)),
            ([.directory("/new/d"), .directory("/keep/file")], .failed(index: 1, error: .fileExists)),
            ([.directory("/new/d"), .file("/new/d", [])], .failed(index: 1, error: .isADirectory)),
            ([.directory("/new/d"), .file("/new/e/", [])], .failed(index: 1, error: .isADirectory)),
            ([.directory("/new/d"), .file("/", [])], .failed(index: 1, error: .isADirectory)),
            ([.directory("/new/d"), .file("/new/\u{0}", [])], .failed(index: 1, error: .invalidArgument)),
            ([.file("/new/f", []), .file("", [])], .failed(index: 1, error: .noSuchFileOrDirectory)),
            ([.file("/new/f", []), .file(FilePath(String(repeating: "n", count: 256)), [])],
             .failed(index: 1, error: .nameTooLong)),
        ]
        for (entries, expected) in cases {
            #expect(throws: expected) { try fs.importTree(entries) }
            #expect(fs.usage == before)
            #expect(try fs.listing("/") == ["keep/"])
            #expect(try fs.listing("/keep") == ["file"])
        }
        // The budget running out part-way also rolls back.
        let small = makeFS(RamFS.Configuration(memoryLimit: expectedUsage(nodes: 3, nameBytes: 2, pages: 1, slots: 1)))
        let smallBefore = small.usage
        #expect(throws: RamFS.ImportError.failed(index: 1, error: .noSpace)) {
            try small.importTree([.file("/a", bytes("a")), .file("/b", bytes("b"))])
        }
        #expect(small.usage == smallBefore)
        #expect(try small.readDirectory("/").isEmpty)
    }

    @Test func importIntoReadOnlyFileSystem() throws {
        let fs = makeFS()
        try fs.importTree([.directory("/d")])
        fs.isReadOnly = true
        try fs.importTree([.directory("/d")])                               // nothing to create: fine
        #expect(throws: RamFS.ImportError.failed(index: 0, error: .readOnly)) { try fs.importTree([.file("/d/f", [])]) }
        #expect(throws: RamFS.ImportError.failed(index: 0, error: .readOnly)) { try fs.importTree([.file("/e/f", [])]) }
    }

    @Test func largeSortedImport() throws {
        let fs = makeFS()
        var entries: [RamFS.ImportEntry] = []
        for d in 0..<20 {
            for f in 0..<500 { entries.append(.file(FilePath("/site/dir\(d)/file\(f).txt"), bytes("\(d)/\(f)"))) }
        }
        let summary = try fs.importTree(entries)
        #expect(summary.files == 10_000)
        #expect(summary.directories == 21)
        #expect(try fs.readDirectory("/site/dir7").count == 500)
        #expect(try fs.contentsOfFile("/site/dir19/file499.txt") == bytes("19/499"))
    }
}

/// Shorthand for borrowed import entries.
enum ImportEntryHelper {
    static func borrowed(_ path: FilePath, _ buffer: UnsafeRawBufferPointer) -> RamFS.ImportEntry {
        RamFS.ImportEntry(path: path, contents: .unsafeBorrowed(buffer))
    }
}

/// The directory hash table against a dictionary model.
@Suite struct DirectoryTableTests {
    @Test func randomInsertionsAndRemovalsMatchAModel() {
        let random = SeededEntropy(seed: 7)
        var table = DirectoryTable()
        var model: [String: UInt64] = [:]
        for step in 0..<20_000 {
            // Few distinct names, so collisions and reinsertions are frequent.
            let name = "n\(random.next64() % 600)"
            let nameBytes = Array(name.utf8)
            let found = nameBytes.withUnsafeBytes { table.find($0) }
            if let existing = model[name] {
                guard let index = found else {
                    Issue.record("\(name) missing at step \(step)")
                    return
                }
                #expect(table.entries[index].node.identifier == existing)
                if random.next64() % 3 != 0 { table.remove(at: index); model[name] = nil }
            } else {
                #expect(found == nil)
                let node = Node(identifier: UInt64(step), isDirectory: false, now: WallTime(secondsSinceEpoch: 0))
                nameBytes.withUnsafeBytes { table.insert($0, node) }
                model[name] = UInt64(step)
            }
            #expect(table.count == model.count)
        }
        // Every remaining name is found, and only those.
        for i in 0..<600 {
            let name = "n\(i)"
            let index = Array(name.utf8).withUnsafeBytes { table.find($0) }
            #expect((index != nil) == (model[name] != nil))
            if let index { #expect(table.entries[index].node.identifier == model[name]) }
        }
        // Emptying the table.
        while !table.isEmpty { table.remove(at: Int(random.next64() % UInt64(table.count))) }
        #expect(Array("n1".utf8).withUnsafeBytes { table.find($0) } == nil)
    }
}
