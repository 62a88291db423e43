import Foundation
import Interfaces
import Testing
import UnikernelTool

/// Boot tests for build-time content: `unikernel embed` writes a host tree into a copy of the EmbedCheck image, the
/// guest mounts it into a RamFS and prints a SHA-256 per file, and the host compares them with `sha256sum`.
@Suite(.serialized) struct EmbedBootTests {
    /// A scratch directory removed when the value goes away.
    final class Scratch {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("embed-boot-\(UUID().uuidString)")
        var path: String { url.path }
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }

        func file(_ relative: String, _ contents: [UInt8]) throws {
            let target = url.appendingPathComponent(relative)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents).write(to: target)
        }
    }

    /// `path` with EmbedCheck's `%XX` escapes decoded.
    func unescaped(_ path: Substring) -> String {
        var bytes: [UInt8] = []
        var i = path.utf8.startIndex
        while i < path.utf8.endIndex {
            let byte = path.utf8[i]
            if byte == 0x25, let end = path.utf8.index(i, offsetBy: 3, limitedBy: path.utf8.endIndex),
               let value = UInt8(String(decoding: path.utf8[path.utf8.index(after: i)..<end], as: UTF8.self), radix: 16) {
                bytes.append(value)
                i = end
            } else {
                bytes.append(byte)
                i = path.utf8.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `FILE <sha256> <size> <path>` lines of a run: path -> (digest, size).
    func printedFiles(_ run: Guest.Run) -> [String: (String, Int)] {
        var result: [String: (String, Int)] = [:]
        for line in run.lines where line.hasPrefix("FILE ") {
            let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            guard fields.count == 4, let size = Int(fields[2]) else { continue }
            result[unescaped(fields[3])] = (String(fields[1]), size)
        }
        return result
    }

    /// `sha256sum` of every regular file under `root`: "/relative/path" -> (digest, size).
    func hostDigests(_ root: URL) throws -> [String: (String, Int)] {
        var files: [String] = []
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let url as URL in enumerator where try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
            files.append(String(url.path.dropFirst(root.path.count)))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["sha256sum", "--"] + files.map { "." + $0 }
        process.currentDirectoryURL = root
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        var result: [String: (String, Int)] = [:]
        for line in output.split(separator: "\n") {
            // "<digest>  ./<path>"
            let digest = String(line.prefix(64))
            let path = String(line.dropFirst(64 + 3))
            let size = try FileManager.default.attributesOfItem(atPath: root.path + path)[.size] as! Int
            result[path] = (digest, size)
        }
        return result
    }

    /// Builds EmbedCheck, then runs `body` holding the boot lock: packing and hashing megabytes on the host must not
    /// disturb timing-sensitive boots of other suites running in parallel. Boots inside use `lockedBoot`.
    func exclusive(_ body: () throws -> Void) throws {
        _ = try Guest.image("EmbedCheck")  // a build must not keep other suites from booting meanwhile
        try Guest.exclusively(body)
    }

    /// Boots `image` inside `exclusive`.
    func lockedBoot(_ image: String, _ arguments: String = "", machine: QEMUConfiguration.Machine = .microvm,
                    memory: Int = 128, timeout: Double = 60) throws -> Guest.Run {
        try Guest.boot(imagePath: image, arguments, machine: machine, memory: memory, timeout: timeout, bootLockHeld: true)
    }

    /// A copy of the EmbedCheck image with `tree` embedded.
    func embedded(_ tree: Scratch, in scratch: Scratch) throws -> (image: String, summary: Embedder.Summary) {
        let image = scratch.url.appendingPathComponent("EmbedCheck.elf").path
        let summary = try Embedder.embed(directory: tree.path, into: try Guest.image("EmbedCheck"), output: image)
        return (image, summary)
    }

    @Test(arguments: [QEMUConfiguration.Machine.microvm, .pc])
    func defaultImageWithTheEmptyArchiveBoots(machine: QEMUConfiguration.Machine) throws {
        let run = try Guest.boot("EmbedCheck", machine: machine)
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        #expect(run.lines.contains("EMBEDDED 0 entries, 80 bytes"))
        #expect(run.lines.contains("MOUNTED 0 files, 0 directories, 0 bytes copied, 0 borrowed"))
        #expect(run.lines.contains("TOTAL 0 files 0 bytes"))
        let report = try ImageReport(path: try Guest.image("EmbedCheck"))
        #expect(report.embedded?.entries?.isEmpty == true)
    }

    /// Hosted mode (EmbedCheck built as a Linux program by the host build): no image, so the empty archive.
    @Test func hostedModeSeesTheEmptyArchive() throws {
        let program = Guest.packageRoot.appendingPathComponent(".build/debug/EmbedCheck").path
        try #require(FileManager.default.isExecutableFile(atPath: program), "the host build makes \(program)")
        let (status, output) = try Shell.capture([program])
        #expect(status == 0, "\(output)")
        #expect(output == "EMBEDDED 0 entries, 80 bytes\nMOUNTED 0 files, 0 directories, 0 bytes copied, 0 borrowed\n"
                + "TOTAL 0 files 0 bytes\n")
    }

    /// One 10 MiB file and 1,000 small ones (0-4 KiB, 25 directories, some names with spaces, `%` and non-ASCII
    /// letters), on microvm under TCG with 256 MiB: every digest the guest prints matches `sha256sum`, and so does
    /// every digest `inspect` lists.
    @Test func largeFileAndAThousandSmallFilesMatchTheHost() throws {
        try exclusive { try largeFileAndAThousandSmallFiles() }
    }

    func largeFileAndAThousandSmallFiles() throws {
        let tree = try Scratch()
        let random = SeededEntropy(seed: 0x10_3B)
        var words = [UInt64](repeating: 0, count: (10 << 20) / 8)
        for i in words.indices { words[i] = random.next64() }
        let large = words.withUnsafeBytes { Array($0) }
        try tree.file("large/ten-mebibytes.bin", large)
        for i in 0..<1000 {
            var data = [UInt8](repeating: 0, count: Int(random.next64() % 4097))
            data.withUnsafeMutableBytes { random.fill($0) }
            let directory = i % 25 == 7 ? "dir \(i % 25) ünïcode" : "dir\(i % 25)"
            let name = i == 42 ? "file-42 at 100%.dat" : "file-\(i).dat"
            try tree.file("small/\(directory)/\(name)", data)
        }
        let scratch = try Scratch()
        let (image, summary) = try embedded(tree, in: scratch)
        #expect(summary.files == 1001 && summary.fileBytes > 10 << 20)
        let listing = try #require(try ImageReport(path: image).embedded)
        #expect(listing.files.count == 1001)

        let run = try lockedBoot(image, "verify", memory: 256, timeout: 120)
        #expect(run.status == 0, "\(run.console.suffix(2000))")
        let expected = try hostDigests(tree.url)
        let printed = printedFiles(run)
        #expect(expected.count == 1001)
        #expect(printed.count == 1001)
        for (path, (digest, size)) in expected {
            guard let got = printed[path] else { Issue.record("the guest did not print \(path)"); continue }
            #expect(got.0 == digest, "\(path)")
            #expect(got.1 == size, "\(path)")
        }
        // inspect lists the same digests the host computes.
        for file in listing.files { #expect(expected["/" + file.path]?.0 == file.sha256, "\(file.path)") }
        let total = expected.values.reduce(0) { $0 + $1.1 }
        #expect(run.lines.contains("TOTAL 1001 files \(total) bytes"))
        #expect(run.lines.contains("MOUNTED 1001 files, 27 directories, 0 bytes copied, \(total) borrowed"))
        #expect(run.lines.contains("COPY-ON-WRITE ok"))
    }

    @Test(arguments: [QEMUConfiguration.Machine.q35])
    func smallTreeOnAPCIMachine(machine: QEMUConfiguration.Machine) throws {
        try exclusive {
            let tree = try Scratch()
            try tree.file("www/index.html", Array("<h1>embedded</h1>\n".utf8))
            try tree.file("empty", [])
            let scratch = try Scratch()
            let (image, _) = try embedded(tree, in: scratch)
            let run = try lockedBoot(image, machine: machine)
            #expect(run.status == 0, "\(run.outcome): \(run.console)")
            let printed = printedFiles(run)
            let expected = try hostDigests(tree.url)
            #expect(printed.mapValues { "\($0.0) \($0.1)" } == expected.mapValues { "\($0.0) \($0.1)" })
        }
    }

    @Test func corruptArchivesAreReportedByTheGuest() throws {
        try exclusive {
            let tree = try Scratch()
            try tree.file("a.txt", Array(repeating: 0x61, count: 5000))
            try tree.file("b.txt", Array("bee".utf8))
            let scratch = try Scratch()
            let (image, summary) = try embedded(tree, in: scratch)
            let elf = try ELFImage(path: image)
            let section = try #require(elf.sections.first { $0.name == Embedder.sectionName })
            #expect(section.address == summary.archiveStart)
            let pristine = try Data(contentsOf: URL(fileURLWithPath: image))

            // A byte of the entry table: the header checksum no longer matches.
            var table = pristine
            table[Int(section.offset) + 80 + 30] ^= 0x01
            try table.write(to: URL(fileURLWithPath: image))
            let tableRun = try lockedBoot(image)
            #expect(tableRun.status == 1, "\(tableRun.console)")
            #expect(tableRun.lines.contains("EmbedCheck: error: embedded content: archive header checksum mismatch"))

            // A byte of file data (the last byte of the archive belongs to b.txt's padding, so take a.txt's first).
            var data = pristine
            let dataStart = Int(section.offset) + Int(section.size) - 5008 - 16  // a.txt (5000 -> 5008), then b.txt (16)
            #expect(data[dataStart] == 0x61)
            data[dataStart] ^= 0x01
            try data.write(to: URL(fileURLWithPath: image))
            let verifyRun = try lockedBoot(image, "verify")
            #expect(verifyRun.status == 1, "\(verifyRun.console)")
            #expect(verifyRun.lines.contains("EmbedCheck: error: embedded content: archive entry 0: contents do not match their SHA-256"))
            let plainRun = try lockedBoot(image)
            #expect(plainRun.status == 1)
            #expect(plainRun.console.contains("/a.txt: digest "), "the walk compares with the recorded digest")
        }
    }

    @Test func anArchiveBeyondRAMIsAnErrorNotACrash() throws {
        try exclusive {
            let tree = try Scratch()
            try tree.file("big.bin", [UInt8](repeating: 7, count: 12 << 20))
            let scratch = try Scratch()
            let (image, summary) = try embedded(tree, in: scratch)
            // QEMU loads the image, but the archive's end lies beyond the 12 MiB of RAM the guest is given.
            #expect(summary.archiveEnd > 12 << 20)
            let run = try lockedBoot(image, memory: 12)
            #expect(run.status == 1, "\(run.console)")
            #expect(run.console.contains("EmbedCheck: error: embedded content: \(summary.archiveBytes) bytes at 0x"
                                         + String(summary.archiveStart, radix: 16) + " do not lie in usable RAM"))
        }
    }
}
