import Foundation
import Interfaces
import RamFS
import Testing

@testable import UnikernelTool

// MARK: - Fixtures

/// A scratch directory removed when the value goes away.
final class ScratchDirectory {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("embed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        // Make everything removable again (tests take permissions away).
        _ = try? Process.run(URL(fileURLWithPath: "/bin/chmod"), arguments: ["-R", "u+rwx", url.path]).waitUntilExit()
        try? FileManager.default.removeItem(at: url)
    }

    /// Writes a file (creating parents).
    func file(_ relative: String, _ contents: [UInt8]) throws {
        let target = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents).write(to: target)
    }

    /// Creates a directory (and parents).
    func directory(_ relative: String) throws {
        try FileManager.default.createDirectory(at: url.appendingPathComponent(relative), withIntermediateDirectories: true)
    }
}

/// A tiny guest image linked with the real `Linker/unikernel.ld` (PVH note, code, data, .bss, the embedded section
/// with the default empty archive, a 64-byte-aligned non-loaded section and debug information after it). Built
/// once with the toolchain's clang and lld.
enum Fixture {
    static let image: Result<String, Error> = Result {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("embed-fixture-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let source = scratch.appendingPathComponent("fixture.S")
        try """
                .section .note.Xen, "a", @note
                .balign 4
                .long 4, 4, 18
                .asciz "Xen"
                .long pvh_start32
                .section .text.boot32, "ax", @progbits
                .code32
                .globl pvh_start32
            pvh_start32:
                hlt
                jmp pvh_start32
                .section .rodata, "a"
                .asciz "fixture"
                .data
                .quad 1
                .bss
                .skip 8192
                .section .fixture.trailing, "", @progbits
                .balign 64
                .ascii "trailing bytes that must move intact"

            """.write(to: source, atomically: true, encoding: .utf8)
        let output = scratch.appendingPathComponent("fixture.elf")
        let toolchain = try Toolchain.find()
        let script = try UnikernelPackage.current().linkerScript
        let (status, log) = try Shell.capture([
            toolchain.usr.appendingPathComponent("bin/clang").path, "--target=x86_64-unknown-none-elf", "-g",
            "-nostdlib", "-static", "-fuse-ld=lld", "-Wl,-T,\(script.path)", "-Wl,-z,max-page-size=16",
            source.path, "-o", output.path,
        ])
        guard status == 0 else { throw ToolError.commandFailed("linking the fixture", status: status, output: log) }
        return output.path
    }

    /// A fresh copy of the fixture image in `directory`.
    static func copy(in directory: ScratchDirectory, name: String = "image.elf") throws -> String {
        let target = directory.url.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: try image.get(), toPath: target)
        return target
    }
}

/// Reads the ELF header fields, program headers and section headers of a file (by hand, independently of libelf).
struct RawELF {
    struct SectionHeader: Equatable { var name: UInt32, type: UInt32, flags: UInt64, address: UInt64, offset: UInt64, size: UInt64, link: UInt32, info: UInt32, alignment: UInt64, entrySize: UInt64 }
    var bytes: [UInt8]
    var sectionHeaderOffset: Int { Int(read(0x28, 8)) }
    var programHeaders: [[UInt8]] {
        let offset = Int(read(0x20, 8))
        return (0..<Int(read(0x38, 2))).map { Array(bytes[(offset + 56 * $0)..<(offset + 56 * $0 + 56)]) }
    }
    var sections: [SectionHeader] {
        let offset = sectionHeaderOffset
        return (0..<Int(read(0x3c, 2))).map { i in
            let b = offset + 64 * i
            return SectionHeader(name: UInt32(read(b, 4)), type: UInt32(read(b + 4, 4)), flags: read(b + 8, 8),
                                 address: read(b + 16, 8), offset: read(b + 24, 8), size: read(b + 32, 8),
                                 link: UInt32(read(b + 40, 4)), info: UInt32(read(b + 44, 4)),
                                 alignment: read(b + 48, 8), entrySize: read(b + 56, 8))
        }
    }

    init(path: String) throws { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    func read(_ offset: Int, _ width: Int) -> UInt64 {
        (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    func contents(_ s: SectionHeader) -> [UInt8] {
        s.type == 8 ? [] : Array(bytes[Int(s.offset)..<Int(s.offset + s.size)])
    }
}

/// The host tree as the archive should hold it: relative path -> contents (nil for a directory).
func hostTree(_ root: URL) throws -> [String: [UInt8]?] {
    var result: [String: [UInt8]?] = [:]
    let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isDirectoryKey])!
    for case let url as URL in enumerator {
        let relative = String(url.path.dropFirst(root.path.count + 1))
        if try url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory == true {
            result[relative] = .some(nil)
        } else {
            result[relative] = .some(Array(try Data(contentsOf: url)))
        }
    }
    return result
}

/// The entries of the archive in `image`: relative path -> contents (nil for a directory).
func archiveTree(_ image: String) throws -> [String: [UInt8]?] {
    let (bytes, _) = try #require(try Embedder.archiveBytes(image: image))
    return try bytes.withUnsafeBytes { raw in
        let archive = try EmbeddedArchive(validating: raw)
        try archive.verifyAllContents()
        var result: [String: [UInt8]?] = [:]
        for e in archive { result[e.pathString] = e.kind == .directory ? .some(nil) : .some(Array(e.contents)) }
        return result
    }
}

/// The error `Embedder.embed` throws for `directory`, or nil.
func embedError(_ directory: String, image: String, limits: Embedder.Limits = .init()) -> EmbedError? {
    do throws(EmbedError) {
        try Embedder.embed(directory: directory, into: image, limits: limits)
        return nil
    } catch {
        return error
    }
}

// MARK: - Writing images

@Suite struct EmbedImageTests {
    @Test func linkedImageHoldsTheEmptyArchive() throws {
        let image = try Fixture.image.get()
        let (bytes, address) = try #require(try Embedder.archiveBytes(image: image))
        #expect(bytes == EmbeddedArchiveWriter.emptyArchive, "Linker/unikernel.ld spells out the empty archive")
        let elf = try ELFImage(path: image)
        try elf.verifyBootable()
        let kernelEnd = try #require(elf.symbols.first { $0.name == "__kernel_end" }).value
        #expect(address == kernelEnd && address % 4096 == 0)
        #expect(elf.symbols.first { $0.name == "__embedded_start" }?.value == address)
        let segment = try #require(elf.segments.last)
        #expect(segment.isLoad && !segment.isWritable && !segment.isExecutable && segment.physicalAddress == address)
        #expect(elf.segments.filter(\.isLoad).allSatisfy { $0.physicalAddress + $0.memorySize <= address || $0 == segment })
        let report = try ImageReport(path: image)
        #expect(report.embedded?.entries == [])
        #expect(report.text.contains("0 files, 0 bytes, in a 80-byte archive at 0x\(String(address, radix: 16))"))
    }

    @Test func embedGrowsTheSectionAndSegmentAndKeepsEverythingElse() throws {
        let scratch = try ScratchDirectory()
        let original = try Fixture.copy(in: scratch, name: "original.elf")
        let tree = try ScratchDirectory()
        let random = SeededEntropy(seed: 0xE3BED)
        var big = [UInt8](repeating: 0, count: 300_001)
        big.withUnsafeMutableBytes { random.fill($0) }
        try tree.file("big.bin", big)
        try tree.file("www/index.html", Array("<h1>hi</h1>\n".utf8))
        try tree.file("www/css/site.css", Array("body {}\n".utf8))
        try tree.file("empty-file", [])
        try tree.file("é/ünïcödé name.txt", Array("utf-8 names".utf8))
        try tree.directory("empty-dir/nested")
        let output = scratch.url.appendingPathComponent("out.elf").path
        let summary = try Embedder.embed(directory: tree.path, into: original, output: output)
        #expect(summary.files == 5 && summary.directories == 5 && summary.fileBytes == 300_001 + 12 + 8 + 11)
        #expect(try archiveTree(output) == (try hostTree(tree.url)))
        try ELFImage(path: output).verifyBootable()

        let before = try RawELF(path: original)
        let after = try RawELF(path: output)
        #expect(before.bytes == (try RawELF(path: original)).bytes, "the input is untouched when --output is given")
        let index = try #require(before.sections.firstIndex { $0.type == 1 && $0.address == summary.archiveStart })
        let oldSection = before.sections[index]
        let newSection = after.sections[index]
        #expect(newSection.size == UInt64(summary.archiveBytes) && newSection.offset == oldSection.offset)
        // Program headers: only the last one (the embedded segment) changes, and only in its sizes.
        let oldHeaders = before.programHeaders
        let newHeaders = after.programHeaders
        #expect(Array(oldHeaders.dropLast()) == Array(newHeaders.dropLast()))
        #expect(Array(oldHeaders.last![0..<32]) == Array(newHeaders.last![0..<32]))
        #expect(Array(newHeaders.last![48..<56]) == Array(oldHeaders.last![48..<56]))
        // Every other section has the same header (apart from a moved offset) and the same bytes.
        for (i, (old, new)) in zip(before.sections, after.sections).enumerated() where i != index {
            var moved = old
            moved.offset = new.offset
            #expect(moved == new, "section \(i) header")
            #expect(before.contents(old) == after.contents(new), "section \(i) contents")
            if new.alignment > 1 { #expect(new.offset % new.alignment == 0, "section \(i) alignment") }
            if old.offset < oldSection.offset { #expect(old.offset == new.offset) }
        }
        // Every byte before the section is unchanged except e_shoff and the segment's two size fields.
        let phoff = Int(before.read(0x20, 8)) + 56 * (oldHeaders.count - 1)
        let changed = (0..<Int(oldSection.offset)).filter { before.bytes[$0] != after.bytes[$0] }
        #expect(changed.allSatisfy { (0x28..<0x30).contains($0) || ((phoff + 32)..<(phoff + 48)).contains($0) })
        #expect(after.bytes.count == Int(after.sectionHeaderOffset) + 64 * after.sections.count)
    }

    @Test func reEmbeddingReplacesTheContentAndShrinksTheFile() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        let pristine = try Fixture.copy(in: scratch, name: "pristine.elf")
        let large = try ScratchDirectory()
        try large.file("a.bin", [UInt8](repeating: 1, count: 50_000))
        let small = try ScratchDirectory()
        try small.file("b.txt", Array("small".utf8))
        try Embedder.embed(directory: large.path, into: image)  // in place
        #expect(try archiveTree(image).keys.sorted() == ["a.bin"])
        try Embedder.embed(directory: small.path, into: image)
        #expect(try archiveTree(image) == ["b.txt": Array("small".utf8)])
        try Embedder.embed(directory: small.path, into: pristine)
        #expect(try RawELF(path: image).bytes == (try RawELF(path: pristine).bytes),
                "embedding into an embedded image gives the same file as embedding into the original")
        let empty = try ScratchDirectory()
        try Embedder.embed(directory: empty.path, into: image)
        #expect(try RawELF(path: image).bytes == (try RawELF(path: Fixture.image.get()).bytes),
                "an empty directory restores the linked image byte for byte")
    }

    @Test func inspectListsEmbeddedFilesInTextAndJSON() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        let tree = try ScratchDirectory()
        try tree.file("docs/readme.txt", Array("read me".utf8))
        try tree.file("data.bin", [UInt8](repeating: 0xAB, count: 1000))
        try Embedder.embed(directory: tree.path, into: image)
        let report = try ImageReport(path: image)
        let listing = try #require(report.embedded)
        #expect(listing.files.map(\.path) == ["data.bin", "docs/readme.txt"])
        #expect(listing.files.map(\.size) == [1000, 7])
        #expect(listing.files[1].sha256 == SHA256.hash(Array("read me".utf8)).description)
        #expect(report.text.contains("2 files, 1007 bytes"))
        #expect(report.text.contains("      1000 data.bin\n"))
        #expect(report.text.contains("           docs/\n"))
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as! [String: Any]
        let embedded = try #require(json["embedded"] as? [String: Any])
        let files = try #require(embedded["files"] as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == ["data.bin", "docs/readme.txt"])
        #expect(files.map { $0["size"] as? Int } == [1000, 7])
        #expect(files[0]["sha256"] as? String == SHA256.hash([UInt8](repeating: 0xAB, count: 1000)).description)
        #expect(embedded["directories"] as? [String] == ["docs"])
        #expect(embedded["archiveBytes"] as? Int == listing.archiveBytes)

        // A damaged archive is reported, not trusted.
        var raw = try RawELF(path: image)
        let section = raw.sections.first { $0.address == listing.address && $0.type == 1 }!
        raw.bytes[Int(section.offset) + 100] ^= 0xFF
        try Data(raw.bytes).write(to: URL(fileURLWithPath: image))
        let damaged = try ImageReport(path: image)
        #expect(damaged.embedded?.error == ArchiveError.headerChecksumMismatch.description)
        #expect(damaged.text.contains("INVALID archive"))
        #expect(damaged.json.contains("\"error\" : \"archive header checksum mismatch\""))
        // An image from before embedded content.
        let old = try writeTestELF(pvhEntry: 0x100010)
        #expect(try ImageReport(path: old).embedded == nil)
        #expect(try ImageReport(path: old).json.contains("\"embedded\" : null"))
    }
}

// MARK: - Errors

@Suite struct EmbedErrorTests {
    @Test func missingDirectoryOrAFileInsteadOfOne() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        let missing = scratch.url.appendingPathComponent("nope").path
        #expect(embedError(missing, image: image) == .directoryNotFound(missing))
        try scratch.file("plain", [1])
        let plain = scratch.url.appendingPathComponent("plain").path
        #expect(embedError(plain, image: image) == .notADirectory(plain))
        #expect(embedError(plain, image: image)!.description.contains("is not a directory"))
    }

    @Test func symbolicLinksAreRefusedNotFollowed() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        for (name, target) in [("to-file", "real.txt"), ("to-dir", "sub"), ("dangling", "nowhere"), ("outside", "/etc")] {
            let tree = try ScratchDirectory()
            try tree.file("real.txt", [1])
            try tree.directory("sub")
            try FileManager.default.createSymbolicLink(atPath: tree.url.appendingPathComponent(name).path,
                                                       withDestinationPath: target)
            let link = tree.path + "/" + name
            #expect(embedError(tree.path, image: image) == .symbolicLink(link))
        }
        #expect(EmbedError.symbolicLink("x").description.contains("refused, never followed"))
        #expect(try RawELF(path: image).bytes == (try RawELF(path: Fixture.image.get()).bytes), "image unchanged")
    }

    @Test func specialFilesAreRefused() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        let tree = try ScratchDirectory()
        try tree.directory("d")
        let fifo = tree.path + "/d/pipe"
        #expect(mkfifo(fifo, 0o644) == 0)
        #expect(embedError(tree.path, image: image) == .specialFile(fifo, kind: "FIFO"))
    }

    @Test func namesRamFSCannotHoldAreRefused() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        // Not UTF-8 (Linux allows any bytes but NUL and '/').
        let tree = try ScratchDirectory()
        let badName: [CChar] = [0x62, CChar(bitPattern: 0xFF), 0x2E, 0x74, 0]
        let fd = tree.path.withCString { dir in open(dir, O_RDONLY | O_DIRECTORY) }
        #expect(fd >= 0)
        let created = openat(fd, badName, O_CREAT | O_WRONLY, 0o644)
        #expect(created >= 0)
        close(created)
        close(fd)
        let error = try #require(embedError(tree.path, image: image))
        guard case .invalidName(_, .invalidUTF8) = error else { Issue.record("\(error)"); return }

        // A path over 4095 bytes: directories of 250-byte names, 17 deep (created relative to each other, since the
        // path is longer than the system's PATH_MAX).
        let deep = try ScratchDirectory()
        var parent = open(deep.path, O_RDONLY | O_DIRECTORY)
        let name = String(repeating: "n", count: 250)
        for _ in 0..<17 {
            #expect(mkdirat(parent, name, 0o755) == 0)
            let child = openat(parent, name, O_RDONLY | O_DIRECTORY)
            close(parent)
            parent = child
        }
        close(parent)
        let deepError = try #require(embedError(deep.path, image: image))
        guard case .invalidName(let path, .pathTooLong(let bytes, 4095)) = deepError else { Issue.record("\(deepError)"); return }
        #expect(bytes == 1 + 17 * 250 + 16, "the 17th level is the first beyond 4095 bytes")
        #expect(path.hasSuffix(name))

        // NUL bytes, over-long components and . or .. cannot come from a POSIX directory listing; the tool's check
        // (the one the walk uses) refuses them all the same.
        func problem(_ components: [[UInt8]]) -> ArchivePathProblem? {
            do throws(EmbedError) { _ = try Embedder.archivePath(components, display: "x"); return nil } catch {
                if case .invalidName(_, let p) = error { return p }
                return nil
            }
        }
        #expect(problem([Array("a\u{0}b".utf8)]) == .containsNUL)
        #expect(problem([[UInt8](repeating: 0x61, count: 256)]) == .componentTooLong(bytes: 256, limit: 255))
        #expect(problem([[0x2E]]) == .dotComponent)
        #expect(problem([Array("x".utf8), [0x2E, 0x2E]]) == .dotComponent)
        #expect(problem([[UInt8](repeating: 0x61, count: 255), Array("ok".utf8)]) == nil)
    }

    @Test func limitsOnEntriesAndBytes() throws {
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        let tree = try ScratchDirectory()
        for i in 0..<6 { try tree.file("d/f\(i)", [UInt8](repeating: UInt8(i), count: 30)) }
        #expect(embedError(tree.path, image: image, limits: .init(maxEntries: 7, maxTotalBytes: 1000)) == nil)
        let entries = embedError(tree.path, image: image, limits: .init(maxEntries: 6, maxTotalBytes: 1000))
        #expect(entries == .tooManyEntries(tree.path + "/d/f5", limit: 6))
        let bytes = embedError(tree.path, image: image, limits: .init(maxEntries: 100, maxTotalBytes: 179))
        #expect(bytes == .tooManyBytes(tree.path + "/d/f5", limit: 179))
        #expect(Embedder.Limits().maxEntries == 65_536 && Embedder.Limits().maxTotalBytes == 512 << 20)
    }

    @Test func imagesWithoutTheSectionOrNotELFAtAll() throws {
        let scratch = try ScratchDirectory()
        let tree = try ScratchDirectory()
        try tree.file("a", [1])
        let old = try writeTestELF(pvhEntry: 0x100010)
        let before = try RawELF(path: old).bytes
        #expect(embedError(tree.path, image: old) == .noEmbeddedSection(old))
        #expect(try RawELF(path: old).bytes == before)
        #expect(!FileManager.default.fileExists(atPath: old + ".embed-\(getpid())"), "no temporary file left behind")
        try scratch.file("text", Array("not an ELF".utf8))
        let text = scratch.url.appendingPathComponent("text").path
        #expect(embedError(tree.path, image: text) == .badImage(text, reason: "not a 64-bit ELF file"))
        let missing = scratch.url.appendingPathComponent("missing.elf").path
        #expect(embedError(tree.path, image: missing) == .badImage(missing, reason: "no such file"))
    }

    /// Unreadable files and directories, through the command-line tool run without the capability that lets root
    /// read anything (the tests run as root here); also checks the tool's exit status and message.
    @Test func unreadableFilesAndDirectoriesThroughTheCommandLine() throws {
        let tool = Guestless.packageRoot.appendingPathComponent(".build/debug/unikernel").path
        try #require(FileManager.default.isExecutableFile(atPath: tool), "build the unikernel tool first")
        let scratch = try ScratchDirectory()
        let image = try Fixture.copy(in: scratch)
        let output = scratch.url.appendingPathComponent("out.elf").path
        let tree = try ScratchDirectory()
        try tree.file("ok.txt", Array("fine".utf8))
        let run = { () throws -> (Int32, String) in
            try Shell.capture(["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                               "--bounding-set=-dac_override,-dac_read_search",
                               tool, "embed", image, tree.path, "--output", output])
        }
        let (okStatus, okText) = try run()
        #expect(okStatus == 0, "\(okText)")
        #expect(okText.contains("embedded 1 files and 0 directories"))

        try tree.file("secret.txt", [1, 2, 3])
        chmod(tree.path + "/secret.txt", 0)
        let (fileStatus, fileText) = try run()
        #expect(fileStatus == 125)
        #expect(fileText.contains("unikernel: error: cannot read \(tree.path)/secret.txt: Permission denied"), "\(fileText)")

        chmod(tree.path + "/secret.txt", 0o644)
        try tree.directory("locked")
        chmod(tree.path + "/locked", 0)
        let (dirStatus, dirText) = try run()
        #expect(dirStatus == 125)
        #expect(dirText.contains("cannot read \(tree.path)/locked: Permission denied"), "\(dirText)")
    }
}

/// Paths of this package for tests that run the command-line tool.
enum Guestless {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}
