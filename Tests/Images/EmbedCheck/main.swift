// EmbedCheck: boot-test image for build-time content embedded with `unikernel embed`.
//
// Mounts the embedded archive into a RamFS (files borrowed in place), walks the tree through the FileSystem API,
// and prints one line per regular file, then a total line:
//
//   EMBEDDED <entries> entries, <bytes> bytes
//   FILE <sha256-hex> <size> <path>   (path bytes outside printable ASCII, and %, as %XX: the console stays ASCII)
//   ...
//   TOTAL <files> files <bytes> bytes
//   COPY-ON-WRITE ok                  (a write to an embedded file changed the file, not the archive)
//
// Exit status 0 if everything matched; on any error it prints `EmbedCheck: error: ...` and exits 1.
//
// Before hashing, it allocates and fills most of free memory (heap growth takes frames from the frame allocator):
// if the allocator handed out the archive's pages, the write would fault (they are mapped read-only) or the
// digests would differ.
//
// Arguments: `verify` also checks every file against the digest recorded in the archive before mounting.
import Interfaces
import RamFS
import Runtime

/// `path` with every byte outside 0x20...0x7E, and `%` itself, written as `%XX` (uppercase hex).
func escaped(_ path: String) -> String {
    let hex: StaticString = "0123456789ABCDEF"
    var out: [UInt8] = []
    for byte in path.utf8 {
        if byte >= 0x20, byte <= 0x7E, byte != 0x25 {
            out.append(byte)
        } else {
            out.append(0x25)
            out.append(hex.utf8Start[Int(byte >> 4)])
            out.append(hex.utf8Start[Int(byte & 0xF)])
        }
    }
    return String(decoding: out, as: UTF8.self)
}

func fail(_ message: String) -> Never {
    print("EmbedCheck: error: " + message)
    System.exit(.failure)
}

var verify = false
for argument in System.arguments where argument.utf8.elementsEqual("verify".utf8) { verify = true }

let archive: EmbeddedArchive
do throws(EmbeddedFilesError) { archive = try System.embeddedArchive } catch { fail(error.description) }
print("EMBEDDED \(archive.count) entries, \(archive.totalLength) bytes")

// Push the heap through most of free memory, touching every page, then give it back.
if let memory = System.memory {
    var blocks: [[UInt8]] = []
    var budget = Int(memory.freeBytes) / 2
    while budget >= 1 << 20 {
        blocks.append([UInt8](repeating: 0xA5, count: 1 << 20))
        budget -= 1 << 20
    }
    var sum = 0
    for block in blocks { sum &+= Int(block[block.count - 1]) }
    print("STRESS \(blocks.count) MiB allocated and filled (check \(sum))")
}

let fs = RamFS(configuration: .init(memoryLimit: 64 << 20))
do throws(EmbeddedFilesError) {
    let summary = try System.mountEmbeddedFiles(into: fs, verifyingContents: verify)
    print("MOUNTED \(summary)")
} catch {
    fail(error.description)
}

var buffer = [UInt8](repeating: 0, count: 65_536)
var files = 0
var bytes = 0
var firstFile: String? = nil

/// Hashes the file at `path` through the FileSystem API, reading 64 KiB at a time.
func digest(_ path: String) throws(FileSystemError) -> (SHA256.Digest, Int) {
    let fd = try fs.open(FilePath(path), .read)
    defer { try? fs.close(fd) }
    var hasher = SHA256()
    var size = 0
    while true {
        let result: Result<Int, FileSystemError> = buffer.withUnsafeMutableBytes { raw in
            do throws(FileSystemError) { return .success(try fs.read(fd, into: raw)) } catch { return .failure(error) }
        }
        let n = try result.get()
        if n == 0 { break }
        buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        size += n
    }
    return (hasher.finalize(), size)
}

/// Walks the directory at `path` depth first.
func walk(_ path: String) throws(FileSystemError) {
    for entry in try fs.readDirectory(FilePath(path.isEmpty ? "/" : path)) {
        let child = path + "/" + entry.name
        switch entry.kind {
        case .directory:
            try walk(child)
        case .regularFile:
            let (hash, size) = try digest(child)
            let status = try fs.stat(FilePath(child))
            guard status.size == Int64(size) else { fail("\(child): stat says \(status.size) bytes, read \(size)") }
            // The digest the host recorded when it packed the file must match what the guest read.
            guard let recorded = archive.entry(named: String(decoding: child.utf8.dropFirst(), as: UTF8.self))?.recordedDigest,
                  recorded == hash else { fail("\(child): digest \(hash) differs from the archive's record") }
            print("FILE \(hash) \(size) \(escaped(child))")
            files += 1
            bytes += size
            if firstFile == nil, size > 0 { firstFile = child }
        }
    }
}

do throws(FileSystemError) { try walk("") } catch { fail("walking the tree: \(error)") }
guard files == archive.fileCount else { fail("walked \(files) files, the archive holds \(archive.fileCount)") }
print("TOTAL \(files) files \(bytes) bytes")

// Copy-on-write: change the first non-empty file; the RamFS file changes, the archive's bytes do not (a write into
// the archive's read-only pages would fault).
if let path = firstFile {
    do throws(FileSystemError) {
        let fd = try fs.open(FilePath(path), .readWrite)
        let original = try fs.read(fd, count: 1)
        let changed: [UInt8] = [original[0] ^ 0xFF]
        let written: Result<Int, FileSystemError> = changed.withUnsafeBytes { raw in
            do throws(FileSystemError) { return .success(try fs.write(fd, from: raw, at: 0)) } catch { return .failure(error) }
        }
        _ = try written.get()
        try fs.close(fd)
        let after = try fs.contentsOfFile(FilePath(path))
        guard after[0] == changed[0] else { fail("\(path): the write did not change the file") }
        guard let entry = archive.entry(named: String(decoding: path.utf8.dropFirst(), as: UTF8.self)) else { fail("\(path) not in archive") }
        guard entry.contents[0] == original[0] else { fail("\(path): the write changed the archive") }
        do throws(ArchiveError) { try archive.verifyContents(of: entry) } catch { fail(error.description) }
        print("COPY-ON-WRITE ok")
    } catch {
        fail("copy-on-write check on \(path): \(error)")
    }
}
System.exit(.success)
