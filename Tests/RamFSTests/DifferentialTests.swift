import Foundation
import Glibc
import Interfaces
import Testing
@testable import RamFS

/// RamFS against the host's real file system: the same seeded random sequence of operations runs on both, and every
/// result is compared (success or error class, bytes read, sizes, kinds, link counts, listings as sets), then the
/// final trees.
///
/// The host side is a fresh directory on tmpfs (`/dev/shm`, or `/tmp`), so RamFS's root is that directory. The
/// generator stays inside the documented common ground:
/// - no `pwrite` on descriptors opened with `.append` (Linux appends; RamFS writes at the offset, as POSIX says);
/// - no `.truncate` without write access and no `.exclusive` without `.create` (RamFS refuses them);
/// - no `seek` on directory descriptors (tmpfs directory offsets count entries) and no comparison of directory sizes;
/// - no `rmdir`/`rename` of the bare root (`/`), which on the host is an ordinary directory with a parent;
/// - `..` only after a component (so the host walk never leaves the test directory), no empty paths;
/// - at most 12 descriptors: when 12 are open RamFS must answer `tooManyOpenFiles` and the host is not asked.
/// Everything else, including trailing slashes, `.` and `..` as last components, and every error, is compared.
@Suite struct DifferentialTests {
    static let operationCount = 100_000
    static let maxOpen = 12

    @Test func hundredThousandRandomOperationsMatchTheHost() throws {
        var run = try DifferentialRun(seed: 0x5EED_F00D)
        defer { run.cleanUp() }
        for step in 0..<DifferentialTests.operationCount {
            run.step()
            if let mismatch = run.mismatch {
                Issue.record("operation \(step): \(mismatch)")
                return
            }
            if step % 10_000 == 9_999 {
                let differences = run.compareTrees()
                #expect(differences.isEmpty, "after \(step + 1) operations: \(differences.prefix(5))")
                if !differences.isEmpty { return }
            }
        }
        run.closeAll()
        let differences = run.compareTrees()
        #expect(differences.isEmpty, "final tree: \(differences.prefix(5))")
        #expect(run.fs.usage.openDescriptors == 0)
        print("differential: \(run.successes) successes, errors \(run.errorsSeen.map { "\($0.key.posixName) \($0.value)" }.sorted()), by operation \(run.successesByOperation.sorted { $0.key < $1.key })")
        // The sequence reached every error class it can produce, and plenty of successes.
        let expectedErrors: Set<FileSystemError> = [
            .noSuchFileOrDirectory, .notADirectory, .isADirectory, .fileExists, .directoryNotEmpty, .invalidArgument,
            .tooManyOpenFiles, .badFileDescriptor, .busy,
        ]
        #expect(expectedErrors.isSubset(of: Set(run.errorsSeen.keys)), "errors seen: \(run.errorsSeen)")
        #expect(run.successes > DifferentialTests.operationCount / 3, "successes: \(run.successes)")
        for name in ["open", "read", "write", "pread", "pwrite", "seek", "ftruncate", "truncate", "stat", "fstat",
                     "mkdir", "rmdir", "readdir", "unlink", "rename", "close"] {
            #expect((run.successesByOperation[name] ?? 0) > 100, "\(name) succeeded \(run.successesByOperation[name] ?? 0) times")
        }
    }
}

/// One side-by-side run.
struct DifferentialRun {
    struct Pair {
        var ram: FileDescriptor
        var host: Int32
        var append: Bool
        var isDirectory: Bool
    }

    let fs: RamFS
    let base: String
    let random: SeededEntropy
    let pool: [UInt8]
    var open: [Pair] = []
    var mismatch: String?
    /// The last few operations, for the report of a mismatch.
    var recent: [String] = []
    var errorsSeen: [FileSystemError: Int] = [:]
    var successes = 0
    var successesByOperation: [String: Int] = [:]
    static let names = ["a", "b", "c", "d", "e"]

    init(seed: UInt64) throws {
        fs = RamFS(configuration: .init(memoryLimit: 512 << 20, maxOpenFiles: DifferentialTests.maxOpen))
        let parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        var template = Array("\(parent)/ramfs-diff-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        base = String(cString: made)
        let generator = SeededEntropy(seed: seed)
        var bytes = [UInt8](repeating: 0, count: 1 << 16)
        bytes.withUnsafeMutableBytes { generator.fill($0) }
        random = generator
        pool = bytes
    }

    func cleanUp() {
        for pair in open { Glibc.close(pair.host) }
        try? FileManager.default.removeItem(atPath: base)
    }

    // MARK: Random choices

    func below(_ n: Int) -> Int { Int(random.next64() % UInt64(n)) }
    func chance(_ oneIn: Int) -> Bool { below(oneIn) == 0 }

    /// A random path over a five-name namespace, three levels deep, with normalization noise.
    func randomPath(allowRoot: Bool) -> String {
        if allowRoot, chance(40) { return chance(2) ? "/" : "//" }
        let depth = 1 + below(3)
        var parts: [String] = []
        for _ in 0..<depth {
            if chance(12) { parts.append(".") }
            if chance(15) { parts.append(DifferentialRun.names[below(5)]); parts.append("..") }
            parts.append(DifferentialRun.names[below(5)])
        }
        if chance(25) { parts.append(chance(2) ? "." : "..") }
        var path = "/" + parts.joined(separator: chance(10) ? "//" : "/")
        if chance(20) { path += "/" }
        if chance(20) { path.removeFirst() }
        return path
    }

    /// The host path for a RamFS path. RamFS's root is an ordinary directory on the host, so a path of slashes
    /// alone becomes `base/.`: like the real root, `.` is not a name (`open` with create and exclusive is `EEXIST`,
    /// not the `EISDIR` a trailing slash would give).
    func hostPath(_ path: String) -> String {
        path.utf8.allSatisfy({ $0 == UInt8(ascii: "/") }) ? base + "/." : base + "/" + path
    }

    func randomOptions() -> (OpenOptions, Int32) {
        var options: OpenOptions
        var flags: Int32
        switch below(10) {
        case 0, 1, 2: options = .read; flags = O_RDONLY
        case 3, 4, 5: options = .write; flags = O_WRONLY
        default: options = .readWrite; flags = O_RDWR
        }
        let writes = options.contains(.write)
        if writes, chance(6) { options.insert(.append); flags |= O_APPEND }
        if chance(2) {
            options.insert(.create); flags |= O_CREAT
            if chance(5) { options.insert(.exclusive); flags |= O_EXCL }
        }
        if writes, chance(7) { options.insert(.truncate); flags |= O_TRUNC }
        return (options, flags)
    }

    func randomOffset() -> Int64 {
        switch below(10) {
        case 0: return Int64(below(300_000))
        case 1: return Int64(below(10)) - 3                     // sometimes negative
        default: return Int64(below(20_000))
        }
    }

    func randomData() -> [UInt8] {
        let count = chance(10) ? 0 : below(chance(4) ? 9000 : 300)
        let start = below(pool.count - count)
        return Array(pool[start..<(start + count)])
    }

    // MARK: Host calls

    static func hostError() -> FileSystemError {
        FileSystemError(linuxErrorNumber: errno) ?? .notSupported
    }

    static func host(_ value: Int) -> Result<Int, FileSystemError> {
        value < 0 ? .failure(hostError()) : .success(value)
    }

    static func ram<T>(_ body: () throws(FileSystemError) -> T) -> Result<T, FileSystemError> {
        do throws(FileSystemError) { return .success(try body()) } catch { return .failure(error) }
    }

    /// The comparable part of a status: kind, size (files only), link count.
    struct Shape: Equatable, CustomStringConvertible {
        var kind: FileKind
        var size: Int64
        var links: Int
        var description: String { "\(kind) size \(size) links \(links)" }
    }

    static func shape(_ status: FileStatus) -> Shape {
        Shape(kind: status.kind, size: status.kind == .directory ? 0 : status.size, links: status.linkCount)
    }

    static func shape(_ st: Glibc.stat) -> Shape {
        let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        return Shape(kind: isDirectory ? .directory : .regularFile, size: isDirectory ? 0 : Int64(st.st_size),
                     links: Int(st.st_nlink))
    }

    static func hostList(_ path: String) -> Result<Set<DirectoryEntry>, FileSystemError> {
        guard let dir = opendir(path) else { return .failure(hostError()) }
        defer { closedir(dir) }
        var entries = Set<DirectoryEntry>()
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if name == "." || name == ".." { continue }
            entries.insert(DirectoryEntry(name: name, kind: Int32(entry.pointee.d_type) == DT_DIR ? .directory : .regularFile))
        }
        return .success(entries)
    }

    // MARK: Steps

    /// A short description of a result (byte arrays by length and first bytes).
    static func summary<T>(_ result: Result<T, FileSystemError>) -> String {
        switch result {
        case .failure(let error): return error.posixName
        case .success(let value):
            if let bytes = value as? [UInt8] { return "\(bytes.count) bytes \(bytes.prefix(8))" }
            return "\(value)"
        }
    }

    mutating func compare<T: Equatable>(_ operation: String, _ detail: @autoclosure () -> String,
                                        _ ram: Result<T, FileSystemError>, _ host: Result<T, FileSystemError>) {
        if ram != host {
            mismatch = "\(operation) \(detail()): RamFS \(DifferentialRun.summary(ram)), host \(DifferentialRun.summary(host)); before: \(recent.joined(separator: "; "))"
            return
        }
        recent.append("\(operation) \(detail()) -> \(DifferentialRun.summary(ram))")
        if recent.count > 40 { recent.removeFirst() }
        switch ram {
        case .success: successes += 1; successesByOperation[operation, default: 0] += 1
        case .failure(let error): errorsSeen[error, default: 0] += 1
        }
    }

    mutating func step() {
        let roll = below(100)
        if open.isEmpty || roll < 15 { return openStep() }
        if chance(100) { return badDescriptorStep() }
        let index = below(open.count)
        let pair = open[index]
        switch roll {
        case 15..<22: closeStep(index)
        case 22..<31: readStep(pair)
        case 31..<40: writeStep(pair)
        case 40..<45: preadStep(pair)
        case 45..<50: pwriteStep(pair)
        case 50..<55: seekStep(pair)
        case 55..<58: ftruncateStep(pair)
        case 58..<61: truncateStep()
        case 61..<67: statStep()
        case 67..<71: fstatStep(pair)
        case 71..<78: mkdirStep()
        case 78..<83: rmdirStep()
        case 83..<87: readdirStep()
        case 87..<92: unlinkStep()
        default: renameStep()
        }
    }

    mutating func openStep() {
        let path = randomPath(allowRoot: true)
        let (options, flags) = randomOptions()
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.open(FilePath(path), options) }
        if open.count >= DifferentialTests.maxOpen {
            compare("open", "\(path) \(options) (descriptors full)", ram.map { _ in 0 }, .failure(.tooManyOpenFiles))
            return
        }
        let hostFD = Glibc.open(hostPath(path), flags, 0o644)
        let host = DifferentialRun.host(Int(hostFD))
        compare("open", "\(path) \(options)", ram.map { _ in 0 }, host.map { _ in 0 })
        switch (ram, host) {
        case (.success(let fd), .success):
            let isDirectory = (try? fs.stat(fd).kind) == .directory
            open.append(Pair(ram: fd, host: hostFD, append: options.contains(.append), isDirectory: isDirectory))
        case (.success(let fd), .failure): try? fs.close(fd)
        case (.failure, .success): Glibc.close(hostFD)
        case (.failure, .failure): break
        }
    }

    mutating func closeStep(_ index: Int) {
        let pair = open.remove(at: index)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.close(pair.ram) }.map { 0 }
        compare("close", "\(pair.ram)", ram, DifferentialRun.host(Int(Glibc.close(pair.host))))
    }

    mutating func badDescriptorStep() {
        let bad = FileDescriptor(rawValue: 999)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.read(bad, count: 1) }.map { $0.count }
        compare("read", "bad descriptor", ram, .failure(.badFileDescriptor))
    }

    mutating func readStep(_ pair: Pair) {
        let count = below(chance(4) ? 12_000 : 400)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.read(pair.ram, count: count) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { Glibc.read(pair.host, $0.baseAddress, count) }
        let host = DifferentialRun.host(n).map { Array(buffer[0..<$0]) }
        compare("read", "\(pair.ram) \(count)", ram, host)
    }

    mutating func preadStep(_ pair: Pair) {
        let count = below(chance(4) ? 12_000 : 400)
        let offset = randomOffset()
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.pread(pair.ram, count: count, at: offset) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { Glibc.pread(pair.host, $0.baseAddress, count, off_t(offset)) }
        let host = DifferentialRun.host(n).map { Array(buffer[0..<$0]) }
        compare("pread", "\(pair.ram) \(count) at \(offset)", ram, host)
    }

    mutating func writeStep(_ pair: Pair) {
        let data = randomData()
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.write(pair.ram, data) }
        let host = DifferentialRun.host(data.withUnsafeBytes { Glibc.write(pair.host, $0.baseAddress, data.count) })
        compare("write", "\(pair.ram) \(data.count) bytes", ram, host)
    }

    mutating func pwriteStep(_ pair: Pair) {
        guard !pair.append else { return }                      // Linux appends; RamFS follows POSIX
        let data = randomData()
        let offset = randomOffset()
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.pwrite(pair.ram, data, at: offset) }
        let host = DifferentialRun.host(
            data.withUnsafeBytes { Glibc.pwrite(pair.host, $0.baseAddress, data.count, off_t(offset)) })
        compare("pwrite", "\(pair.ram) \(data.count) bytes at \(offset)", ram, host)
    }

    mutating func seekStep(_ pair: Pair) {
        guard !pair.isDirectory else { return }
        let offset = chance(3) ? Int64(below(200)) - 100 : randomOffset()
        let (origin, whence): (SeekOrigin, Int32) = [(.start, SEEK_SET), (.current, SEEK_CUR), (.end, SEEK_END)][below(3)]
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.seek(pair.ram, to: offset, from: origin) }
            .map { Int($0) }
        let host = DifferentialRun.host(Int(lseek(pair.host, off_t(offset), whence)))
        compare("seek", "\(pair.ram) \(offset) from \(origin)", ram, host)
    }

    mutating func ftruncateStep(_ pair: Pair) {
        let size = randomOffset()
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.truncate(pair.ram, to: size) }.map { 0 }
        compare("ftruncate", "\(pair.ram) \(size)", ram, DifferentialRun.host(Int(ftruncate(pair.host, off_t(size)))))
    }

    mutating func truncateStep() {
        let path = randomPath(allowRoot: true)
        let size = randomOffset()
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.truncate(FilePath(path), to: size) }.map { 0 }
        compare("truncate", "\(path) \(size)", ram, DifferentialRun.host(Int(Glibc.truncate(hostPath(path), off_t(size)))))
    }

    mutating func statStep() {
        let path = randomPath(allowRoot: true)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.stat(FilePath(path)) }.map(DifferentialRun.shape)
        var st = Glibc.stat()
        let host = DifferentialRun.host(Int(lstat(hostPath(path), &st))).map { _ in DifferentialRun.shape(st) }
        compare("stat", path, ram, host)
    }

    mutating func fstatStep(_ pair: Pair) {
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.stat(pair.ram) }.map(DifferentialRun.shape)
        var st = Glibc.stat()
        let host = DifferentialRun.host(Int(fstat(pair.host, &st))).map { _ in DifferentialRun.shape(st) }
        compare("fstat", "\(pair.ram)", ram, host)
    }

    mutating func mkdirStep() {
        let path = randomPath(allowRoot: true)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.createDirectory(FilePath(path)) }.map { 0 }
        compare("mkdir", path, ram, DifferentialRun.host(Int(mkdir(hostPath(path), 0o755))))
    }

    mutating func rmdirStep() {
        let path = randomPath(allowRoot: false)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.removeDirectory(FilePath(path)) }.map { 0 }
        compare("rmdir", path, ram, DifferentialRun.host(Int(rmdir(hostPath(path)))))
    }

    mutating func readdirStep() {
        let path = randomPath(allowRoot: true)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in Set(try fs.readDirectory(FilePath(path))) }
        compare("readdir", path, ram, DifferentialRun.hostList(hostPath(path)))
    }

    mutating func unlinkStep() {
        let path = randomPath(allowRoot: true)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in try fs.unlink(FilePath(path)) }.map { 0 }
        compare("unlink", path, ram, DifferentialRun.host(Int(Glibc.unlink(hostPath(path)))))
    }

    mutating func renameStep() {
        let source = randomPath(allowRoot: false)
        let destination = randomPath(allowRoot: false)
        let ram = DifferentialRun.ram { () throws(FileSystemError) in
            try fs.rename(FilePath(source), to: FilePath(destination))
        }.map { 0 }
        let host = DifferentialRun.host(Int(Glibc.rename(hostPath(source), hostPath(destination))))
        compare("rename", "\(source) -> \(destination)", ram, host)
    }

    mutating func closeAll() {
        while !open.isEmpty { closeStep(open.count - 1) }
    }

    // MARK: Trees

    /// Differences between the RamFS tree at `path` and the host tree, recursively (names, kinds, contents).
    func compareTrees(_ path: String = "/") -> [String] {
        let ramList: Set<DirectoryEntry>
        do { ramList = Set(try fs.readDirectory(FilePath(path))) } catch { return ["\(path): RamFS \(error)"] }
        guard case .success(let hostList) = DifferentialRun.hostList(hostPath(path)) else { return ["\(path): host"] }
        if ramList != hostList { return ["\(path): RamFS \(ramList.sorted { $0.name < $1.name }), host \(hostList.sorted { $0.name < $1.name })"] }
        var differences: [String] = []
        for entry in ramList {
            let child = path == "/" ? "/" + entry.name : path + "/" + entry.name
            if entry.kind == .directory {
                differences += compareTrees(child)
            } else {
                let ram = try? fs.contentsOfFile(FilePath(child))
                let host = FileManager.default.contents(atPath: hostPath(child)).map { [UInt8]($0) }
                if ram != host { differences.append("\(child): contents differ (\(ram?.count ?? -1) vs \(host?.count ?? -1) bytes)") }
            }
        }
        return differences
    }
}
