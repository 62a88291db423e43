import Interfaces
import Testing

@testable import RamFS

// MARK: - Helpers

/// Validates `bytes` as an archive and passes the view to `body` (the view is valid only inside).
func withArchive<R>(_ bytes: [UInt8], _ body: (EmbeddedArchive) throws -> R) throws -> R {
    try bytes.withUnsafeBytes { raw in
        let archive: EmbeddedArchive
        do throws(ArchiveError) { archive = try EmbeddedArchive(validating: raw) } catch { throw error }
        return try body(archive)
    }
}

/// The error validating `bytes` produces, or nil if they are a valid archive.
func validationError(_ bytes: [UInt8]) -> ArchiveError? {
    bytes.withUnsafeBytes { raw in
        do throws(ArchiveError) {
            _ = try EmbeddedArchive(validating: raw)
            return nil
        } catch { return error }
    }
}

/// Stores `value` little-endian in `width` bytes at `offset`.
func put(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64, width: Int) {
    for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
}

/// Reads `width` bytes little-endian at `offset`.
func get(_ bytes: [UInt8], _ offset: Int, width: Int) -> UInt64 {
    (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
}

/// Recomputes the header checksum so that a structural change is what the reader sees (D is taken from the header,
/// clamped to the buffer).
func reseal(_ bytes: inout [UInt8]) {
    let d = Int(clamping: min(get(bytes, 24, width: 8), UInt64(bytes.count)))
    var hasher = SHA256()
    hasher.update(Array(bytes[0..<48]))
    if d > 80 { hasher.update(Array(bytes[80..<d])) }
    let digest = hasher.finalize().bytes
    for i in 0..<32 { bytes[48 + i] = digest[i] }
}

/// A small archive: a/, a/b.txt (5 bytes), a/c/ (empty dir), a/c/d (0 bytes), z (40 bytes).
func sampleArchive() throws -> [UInt8] {
    var writer = EmbeddedArchiveWriter()
    try writer.addFile("z", contents: Array(0..<40))
    try writer.addFile("a/b.txt", contents: bytes("hello"))
    try writer.addFile("a/c/d", contents: [])
    return writer.bytes()
}

/// Offset of entry `i`'s table slot.
func entry(_ i: Int) -> Int { 80 + 64 * i }

// MARK: - Round trips

@Suite struct ArchiveRoundTripTests {
    @Test func emptyArchiveIsEightyBytesAndValid() throws {
        let empty = EmbeddedArchiveWriter.emptyArchive
        #expect(empty.count == 80)
        #expect(Array(empty.prefix(8)) == [0x7F, 0x55, 0x4B, 0x45, 0x4D, 0x42, 0x45, 0x44])
        #expect(get(empty, 24, width: 8) == 80 && get(empty, 32, width: 8) == 80)
        try withArchive(empty) { archive in
            #expect(archive.isEmpty && archive.totalLength == 80 && archive.fileBytes == 0)
        }
        #expect(empty.withUnsafeBytes { EmbeddedArchive.declaredLength($0) } == 80)
        // A longer buffer (the section padded, or memory after it) holds the same archive.
        try withArchive(empty + [UInt8](repeating: 0xFF, count: 100)) { #expect($0.totalLength == 80) }
    }

    @Test func sampleHasSortedEntriesImpliedParentsAndAlignedData() throws {
        let bytes = try sampleArchive()
        try withArchive(bytes) { archive in
            #expect(archive.map(\.pathString) == ["a", "a/b.txt", "a/c", "a/c/d", "z"])
            #expect(archive.map(\.kind) == [.directory, .regularFile, .directory, .regularFile, .regularFile])
            #expect(archive.fileCount == 3 && archive.directoryCount == 2 && archive.fileBytes == 45)
            let b = try #require(archive.entry(named: "a/b.txt"))
            #expect(Array(b.contents) == Array("hello".utf8))
            #expect(b.recordedDigest == SHA256.hash(Array("hello".utf8)))
            let z = try #require(archive.entry(named: "z"))
            #expect(Array(z.contents) == Array(0..<40))
            for e in archive where e.kind == .regularFile && e.size > 0 {
                let offset = UnsafeRawPointer(e.contents.baseAddress!) - UnsafeRawPointer(archive.bytes.baseAddress!)
                #expect(offset % 16 == 0)
            }
            #expect(archive.entry(named: "a/c")?.kind == .directory)
            #expect(archive.entry(named: "a/x") == nil && archive.entry(named: "") == nil)
            try archive.verifyAllContents()
        }
        #expect(bytes.count % 16 == 0)
        #expect(bytes.withUnsafeBytes { EmbeddedArchive.declaredLength($0) } == bytes.count)
    }

    /// Random trees (seeded) against a model: every file's bytes, every directory, nothing else.
    @Test func randomTreesRoundTrip() throws {
        let random = SeededEntropy(seed: 0xA2C4)
        for round in 0..<40 {
            var writer = EmbeddedArchiveWriter()
            var files: [String: [UInt8]] = [:]
            var directories: Set<String> = []
            let names = ["a", "b", "é", "dir", "x.txt", "long-name-\(round)", "Z", "a b"]
            for _ in 0..<Int(random.next64() % 30) {
                let depth = Int(random.next64() % 4) + 1
                var parts: [String] = []
                for _ in 0..<depth { parts.append(names[Int(random.next64() % UInt64(names.count))]) }
                let path = parts.joined(separator: "/")
                let prefixes = (1..<parts.count).map { parts[0..<$0].joined(separator: "/") }
                let asDirectory = random.next64() % 4 == 0
                let blocked = files[path] != nil || prefixes.contains { files[$0] != nil }
                    || (!asDirectory && directories.contains(path))
                do {
                    if asDirectory { try writer.addDirectory(path) } else {
                        var data = [UInt8](repeating: 0, count: Int(random.next64() % 3000))
                        data.withUnsafeMutableBytes { random.fill($0) }
                        try writer.addFile(path, contents: data)
                        files[path] = data
                    }
                    #expect(!blocked, "\(path) should have been refused")
                    directories.formUnion(prefixes)
                    if asDirectory { directories.insert(path) }
                } catch {
                    #expect(blocked, "\(path): \(error)")
                    #expect(error == .conflict(path: Array(path.utf8)) || prefixes.contains { error == .conflict(path: Array($0.utf8)) })
                }
            }
            let bytes = writer.bytes()
            try withArchive(bytes) { archive in
                #expect(archive.count == files.count + directories.count)
                for e in archive {
                    switch e.kind {
                    case .regularFile: #expect(files[e.pathString] == Array(e.contents))
                    case .directory: #expect(directories.contains(e.pathString))
                    }
                    #expect(archive.index(ofPath: e.path) == e.index)
                }
                try archive.verifyAllContents()
            }
        }
    }

    @Test func writerRefusesBadNames() {
        var writer = EmbeddedArchiveWriter()
        func problem(_ path: [UInt8]) -> ArchivePathProblem? {
            do throws(ArchiveWriteError) {
                try writer.addFile(path, contents: [1])
                return nil
            } catch {
                if case .invalidPath(let p, let problem) = error, p == path { return problem }
                return nil
            }
        }
        #expect(problem([]) == .empty)
        #expect(problem(bytes("a\u{0}b")) == .containsNUL)
        #expect(problem(bytes("/a")) == .emptyComponent)
        #expect(problem(bytes("a/")) == .emptyComponent)
        #expect(problem(bytes("a//b")) == .emptyComponent)
        #expect(problem(bytes(".")) == .dotComponent)
        #expect(problem(bytes("a/../b")) == .dotComponent)
        #expect(problem(bytes("a/./b")) == .dotComponent)
        #expect(problem(bytes("..")) == .dotComponent)
        #expect(problem(bytes("...")) == nil, "three dots are an ordinary name")
        #expect(problem(bytes(".hidden")) == nil)
        #expect(problem([UInt8](repeating: 0x61, count: 256)) == .componentTooLong(bytes: 256, limit: 255))
        #expect(problem([UInt8](repeating: 0x62, count: 255)) == nil)
        // 4094 bytes relative is 4095 absolute: the longest path RamFS holds.
        let component = [UInt8](repeating: 0x63, count: 200)
        var long: [UInt8] = []
        while long.count + 201 <= 4094 { long += (long.isEmpty ? [] : [0x2F]) + component }
        long += [0x2F] + [UInt8](repeating: 0x64, count: 4094 - long.count - 1)
        #expect(long.count == 4094 && problem(long) == nil)
        #expect(problem(long + [0x65]) == .pathTooLong(bytes: 4096, limit: 4095))
        #expect(problem([0xC0, 0x80]) == .invalidUTF8, "overlong NUL")
        #expect(problem([0xED, 0xA0, 0x80]) == .invalidUTF8, "surrogate")
        #expect(problem([0xF4, 0x90, 0x80, 0x80]) == .invalidUTF8, "above U+10FFFF")
        #expect(problem([0x61, 0xE2, 0x82]) == .invalidUTF8, "truncated sequence")
        #expect(problem([0xFF]) == .invalidUTF8)
        #expect(problem(bytes("€𝄞é")) == nil)
    }

    @Test func writerRefusesConflictsAndLimitsWithoutChangingAnything() throws {
        var writer = EmbeddedArchiveWriter(limits: .init(maxEntries: 4, maxTotalFileBytes: 100))
        try writer.addFile("f", contents: [1, 2, 3])
        #expect(throws: ArchiveWriteError.conflict(path: bytes("f"))) { try writer.addFile("f", contents: []) }
        #expect(throws: ArchiveWriteError.conflict(path: bytes("f"))) { try writer.addDirectory("f") }
        #expect(throws: ArchiveWriteError.conflict(path: bytes("f"))) { try writer.addFile("f/g", contents: []) }
        try writer.addDirectory("d")
        try writer.addDirectory("d")  // again: no change
        #expect(throws: ArchiveWriteError.conflict(path: bytes("d"))) { try writer.addFile("d", contents: []) }
        #expect(throws: ArchiveWriteError.tooManyBytes(limit: 100)) {
            try writer.addFile("big", contents: [UInt8](repeating: 0, count: 98))
        }
        // Three new entries (x, x/y, x/y/z) would make five: refused whole, no parent left behind.
        #expect(throws: ArchiveWriteError.tooManyEntries(limit: 4)) { try writer.addFile("x/y/z", contents: []) }
        #expect(writer.entryCount == 2 && writer.totalFileBytes == 3)
        try writer.addFile("d/e", contents: [UInt8](repeating: 7, count: 97))
        try writer.addDirectory("q")
        #expect(throws: ArchiveWriteError.tooManyEntries(limit: 4)) { try writer.addDirectory("r") }
        try withArchive(writer.bytes()) { #expect($0.map(\.pathString) == ["d", "d/e", "f", "q"]) }
    }
}

// MARK: - Hostile archives

@Suite struct HostileArchiveTests {
    @Test func everyTruncationIsRefused() throws {
        let bytes = try sampleArchive()
        for length in 0..<bytes.count {
            let error = validationError(Array(bytes[0..<length]))
            #expect(error != nil, "prefix of \(length) bytes accepted")
            if length < 80 { #expect(error == .truncated(needed: 80, available: length)) }
            else { #expect(error == .truncated(needed: bytes.count, available: length)) }
        }
    }

    @Test func everyFlippedHeaderOrTableByteIsRefused() throws {
        let bytes = try sampleArchive()
        let d = Int(get(bytes, 24, width: 8))
        for offset in 0..<d {
            for mask: UInt8 in [0x01, 0x80] {
                var copy = bytes
                copy[offset] ^= mask
                #expect(validationError(copy) != nil, "flip 0x\(String(mask, radix: 16)) at \(offset) accepted")
            }
        }
        var badMagic = bytes
        badMagic[3] = 0
        #expect(validationError(badMagic) == .badMagic)
        var checksum = bytes
        checksum[60] ^= 1
        #expect(validationError(checksum) == .headerChecksumMismatch)
        var table = bytes
        table[entry(1) + 20] ^= 1
        #expect(validationError(table) == .headerChecksumMismatch)
    }

    @Test func flippedDataBytesFailContentVerificationOfThatFileOnly() throws {
        var bytes = try sampleArchive()
        try withArchive(bytes) { archive in
            let z = try #require(archive.entry(named: "z"))
            let offset = UnsafeRawPointer(z.contents.baseAddress!) - UnsafeRawPointer(archive.bytes.baseAddress!)
            bytes[offset + 39] ^= 0x10
        }
        try withArchive(bytes) { archive in
            try archive.verifyContents(of: archive.entry(named: "a/b.txt")!)
            #expect(throws: ArchiveError.contentChecksumMismatch(index: 4)) { try archive.verifyAllContents() }
        }
    }

    @Test func headerFieldsAreChecked() throws {
        let good = try sampleArchive()
        func mutated(_ offset: Int, _ value: UInt64, width: Int) -> ArchiveError? {
            var copy = good
            put(&copy, offset, value, width: width)
            reseal(&copy)
            return validationError(copy)
        }
        #expect(mutated(8, 2, width: 2) == .unsupportedVersion(2))
        #expect(mutated(10, 96, width: 2) == .badHeaderField(.headerSize))
        #expect(mutated(12, 32, width: 2) == .badHeaderField(.entrySize))
        #expect(mutated(14, 1, width: 2) == .badHeaderField(.flags))
        #expect(mutated(40, 1, width: 8) == .badHeaderField(.reserved))
        #expect(mutated(24, get(good, 24, width: 8) + 16, width: 8) == .badHeaderField(.dataOffset))
        #expect(mutated(32, get(good, 24, width: 8) - 16, width: 8) == .badHeaderField(.totalLength))
        #expect(mutated(32, UInt64(good.count) + 8, width: 8) == .badHeaderField(.totalLength))
        #expect(mutated(32, UInt64.max - 15, width: 8) == .badHeaderField(.totalLength))
        #expect(mutated(32, UInt64(good.count) + 16, width: 8) == .truncated(needed: good.count + 16, available: good.count))
        // Huge counts: the entry count beyond the limit, or a table that cannot fit the buffer.
        #expect(mutated(16, 0xFFFF_FFFF, width: 4) == .tooManyEntries(count: 0xFFFF_FFFF, limit: EmbeddedArchive.maxEntries))
        var huge = good
        put(&huge, 16, UInt64(EmbeddedArchive.maxEntries), width: 4)
        let hugeData = UInt64(80 + 64 * EmbeddedArchive.maxEntries) + get(good, 20, width: 4)
        put(&huge, 24, (hugeData + 15) & ~15, width: 8)
        put(&huge, 32, (hugeData + 15) & ~15, width: 8)
        reseal(&huge)
        #expect(validationError(huge) == .truncated(needed: Int((hugeData + 15) & ~15), available: good.count))
        var names = good
        put(&names, 20, 0xFFFF_FFFF, width: 4)
        reseal(&names)
        #expect(validationError(names) == .badHeaderField(.dataOffset))
        // Nonzero padding between names and data.
        let namesEnd = 80 + 64 * 5 + Int(get(good, 20, width: 4))
        if namesEnd < Int(get(good, 24, width: 8)) {
            var padding = good
            padding[namesEnd] = 1
            reseal(&padding)
            #expect(validationError(padding) == .badHeaderField(.padding))
        }
        #expect(good.withUnsafeBytes { EmbeddedArchive.declaredLength(UnsafeRawBufferPointer(rebasing: $0[0..<79])) } == nil)
    }

    @Test func entryFieldsAreChecked() throws {
        let good = try sampleArchive()
        // Entries: 0 "a" dir, 1 "a/b.txt" file, 2 "a/c" dir, 3 "a/c/d" file, 4 "z" file.
        func mutated(_ change: (inout [UInt8]) -> Void) -> ArchiveError? {
            var copy = good
            change(&copy)
            reseal(&copy)
            return validationError(copy)
        }
        let namesLength = get(good, 20, width: 4)
        #expect(mutated { put(&$0, entry(1), namesLength, width: 4) } == .badEntry(index: 1, problem: .nameOutOfBounds))
        #expect(mutated { put(&$0, entry(1), 0xFFFF_FFFF, width: 4) } == .badEntry(index: 1, problem: .nameOutOfBounds))
        #expect(mutated { put(&$0, entry(1) + 4, 0, width: 2) } == .badEntry(index: 1, problem: .nameOutOfBounds))
        #expect(mutated { put(&$0, entry(4) + 4, 0xFFFF, width: 2) } == .badEntry(index: 4, problem: .nameOutOfBounds))
        // "a/b.txt" shortened to "a/" (trailing slash).
        #expect(mutated { put(&$0, entry(1) + 4, 2, width: 2) } == .badEntry(index: 1, problem: .invalidName(.emptyComponent)))
        #expect(mutated { $0[entry(1) + 6] = 3 } == .badEntry(index: 1, problem: .unknownKind(3)))
        #expect(mutated { $0[entry(1) + 7] = 1 } == .badEntry(index: 1, problem: .reservedNotZero))
        #expect(mutated { $0[entry(1) + 63] = 1 } == .badEntry(index: 1, problem: .reservedNotZero))
        // Entry 1 given entry 0's name: a duplicate.
        #expect(mutated { put(&$0, entry(1), 0, width: 4); put(&$0, entry(1) + 4, 1, width: 2) }
                == .badEntry(index: 1, problem: .notSorted))
        // Entry 4 ("z") renamed to entry 0's "a": out of order.
        #expect(mutated { put(&$0, entry(4), 0, width: 4); put(&$0, entry(4) + 4, 1, width: 2) }
                == .badEntry(index: 4, problem: .notSorted))
        // Entry 0 ("a") turned into a file: "a/b.txt" then has a file as its parent.
        #expect(mutated { $0[entry(0) + 6] = 1 } == .badEntry(index: 1, problem: .parentNotADirectory))
        // Entry 2 ("a/c") turned into a file: entry 3 "a/c/d" has a file parent.
        #expect(mutated { $0[entry(2) + 6] = 1; put(&$0, entry(2) + 8, 16, width: 8) }
                == .badEntry(index: 3, problem: .parentNotADirectory))
        // A directory with data.
        #expect(mutated { put(&$0, entry(2) + 16, 1, width: 8) } == .badEntry(index: 2, problem: .directoryWithData))
        #expect(mutated { $0[entry(2) + 30] = 1 } == .badEntry(index: 2, problem: .directoryWithData))
        // File data: misaligned, beyond the end, overflowing, overlapping the previous file.
        #expect(mutated { put(&$0, entry(4) + 8, 8, width: 8) } == .badEntry(index: 4, problem: .misalignedData))
        #expect(mutated { put(&$0, entry(4) + 16, 1 << 20, width: 8) } == .badEntry(index: 4, problem: .dataOutOfBounds))
        #expect(mutated { put(&$0, entry(4) + 8, UInt64.max & ~15, width: 8) } == .badEntry(index: 4, problem: .dataOutOfBounds))
        #expect(mutated { put(&$0, entry(4) + 16, UInt64.max, width: 8) } == .badEntry(index: 4, problem: .dataOutOfBounds))
        #expect(mutated { put(&$0, entry(4) + 8, 0, width: 8) } == .badEntry(index: 4, problem: .overlappingData))
    }

    @Test func missingParentIsRefused() throws {
        // Build "a/b" with an explicit parent, then rename the parent to "0" (sorts first, keeps order).
        var writer = EmbeddedArchiveWriter()
        try writer.addFile("a/b", contents: [1])
        var bytes = writer.bytes()
        let namesStart = 80 + 64 * 2
        #expect(bytes[namesStart] == UInt8(ascii: "a"))
        bytes[namesStart] = UInt8(ascii: "0")
        reseal(&bytes)
        #expect(validationError(bytes) == .badEntry(index: 1, problem: .missingParent))
    }

    /// Random byte mutations (seeded), resealed half of the time so that structure checks past the checksum run:
    /// validation never traps, and whatever validates can be read and mounted.
    @Test func randomMutationsNeverTrap() throws {
        var writer = EmbeddedArchiveWriter()
        for i in 0..<12 { try writer.addFile("d\(i % 3)/f\(i)", contents: [UInt8](repeating: UInt8(i), count: i * 7)) }
        let good = writer.bytes()
        let random = SeededEntropy(seed: 0xBAD_A2C)
        var accepted = 0
        for round in 0..<3000 {
            var copy = good
            for _ in 0..<(Int(random.next64() % 4) + 1) {
                let offset = Int(random.next64() % UInt64(copy.count))
                copy[offset] = UInt8(truncatingIfNeeded: random.next64())
            }
            if random.next64() % 3 == 0 { copy.removeLast(Int(random.next64() % UInt64(copy.count))) }
            if round % 2 == 0, copy.count >= 80 { reseal(&copy) }
            guard validationError(copy) == nil else { continue }
            accepted += 1
            try withArchive(copy) { archive in
                for e in archive { _ = (e.pathString, Array(e.contents), e.recordedDigest) }
                _ = try? archive.verifyAllContents()
                let fs = makeFS()
                try fs.importArchive(archive, contents: .copied)
            }
        }
        #expect(accepted > 0, "some mutations (of data bytes) leave a valid archive")
    }
}

// MARK: - Mounting

@Suite struct ArchiveMountTests {
    @Test func borrowedMountReadsInPlaceAndCopiesOnWrite() throws {
        var writer = EmbeddedArchiveWriter()
        let big = (0..<20_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try writer.addFile("www/index.html", contents: bytes("<h1>hi</h1>"))
        try writer.addFile("www/big.bin", contents: big)
        try writer.addDirectory("empty")
        let archiveBytes = writer.bytes()
        let fs = makeFS()
        try archiveBytes.withUnsafeBytes { raw in
            let archive = try EmbeddedArchive(validating: raw)
            let summary = try fs.importArchive(archive, contents: .unsafeBorrowed)
            #expect(summary.files == 2 && summary.directories == 2)
            #expect(summary.bytesBorrowed == 20_011 && summary.bytesCopied == 0)
            #expect(fs.usage.pages == 0, "nothing copied at mount")
            #expect(try fs.contentsOfFile("/www/index.html") == bytes("<h1>hi</h1>"))
            #expect(try fs.contentsOfFile("/www/big.bin") == big)
            #expect(try fs.listing("/") == ["www/", "empty/"])
            // Copy-on-write: the file changes, the archive does not.
            let fd = try fs.open("/www/big.bin", .readWrite)
            try fs.pwrite(fd, [0, 0, 0], at: 100)
            try fs.close(fd)
            #expect(fs.usage.pages > 0)
            var expected = big
            expected[100] = 0; expected[101] = 0; expected[102] = 0
            #expect(try fs.contentsOfFile("/www/big.bin") == expected)
            try archive.verifyAllContents()
            #expect(Array(archive.entry(named: "www/big.bin")!.contents) == big)
        }
    }

    @Test func copiedMountUnderAMountPointIsChargedToTheBudget() throws {
        var writer = EmbeddedArchiveWriter()
        try writer.addFile("a/b", contents: [UInt8](repeating: 9, count: 5000))
        let fs = makeFS()
        try fs.createDirectory("/srv")
        try writer.bytes().withUnsafeBytes { raw in
            let archive = try EmbeddedArchive(validating: raw)
            let summary = try fs.importArchive(archive, at: "/srv/data/", contents: .copied)
            #expect(summary.bytesCopied == 5000 && summary.directories == 2)
        }
        #expect(try fs.contentsOfFile("/srv/data/a/b") == [UInt8](repeating: 9, count: 5000))
        #expect(fs.usage.pages == 2)
    }

    @Test func mountIsAllOrNothing() throws {
        var writer = EmbeddedArchiveWriter()
        try writer.addFile("a/one", contents: [1])
        try writer.addFile("b/two", contents: [2])
        let fs = makeFS()
        try fs.createDirectory("/b")
        try fs.createFile("/b/two", contents: [9])
        let before = fs.usage
        try writer.bytes().withUnsafeBytes { raw in
            let archive = try EmbeddedArchive(validating: raw)
            #expect(throws: RamFS.ImportError.failed(index: 3, error: .fileExists)) {
                try fs.importArchive(archive, contents: .unsafeBorrowed)
            }
        }
        #expect(fs.usage == before)
        #expect(try fs.listing("/") == ["b/"])
        #expect(try fs.contentsOfFile("/b/two") == [9])
    }

    @Test func emptyArchiveMountsNothing() throws {
        let fs = makeFS()
        try EmbeddedArchiveWriter.emptyArchive.withUnsafeBytes { raw in
            let summary = try fs.importArchive(try EmbeddedArchive(validating: raw), contents: .unsafeBorrowed)
            #expect(summary == RamFS.ImportSummary())
        }
        #expect(try fs.listing("/").isEmpty)
    }
}
