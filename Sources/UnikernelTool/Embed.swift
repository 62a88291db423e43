import CLibELF
import Foundation
import RamFS

#if canImport(Glibc)
import Glibc
#endif

/// Why `unikernel embed` refused. Each message names the path and what to do.
public enum EmbedError: Error, Equatable, CustomStringConvertible {
    /// The directory to embed does not exist.
    case directoryNotFound(String)
    /// The path to embed is not a directory.
    case notADirectory(String)
    /// A file or directory could not be opened or read (`reason` is the system's message).
    case unreadable(String, reason: String)
    /// A symbolic link inside the tree: refused, never followed.
    case symbolicLink(String)
    /// A FIFO, socket or device inside the tree.
    case specialFile(String, kind: String)
    /// A name RamFS cannot hold (or that is not UTF-8).
    case invalidName(String, problem: ArchivePathProblem)
    /// More files and directories than the limit.
    case tooManyEntries(String, limit: Int)
    /// More bytes of file data than the limit.
    case tooManyBytes(String, limit: Int)
    /// The image cannot be read as an ELF file.
    case badImage(String, reason: String)
    /// The image has no `.unikernel.embedded` section (linked with an older linker script).
    case noEmbeddedSection(String)
    /// The embedded section is not where embedding can grow it (alone in the last PT_LOAD segment).
    case unsupportedLayout(String, reason: String)
    /// Writing the output failed.
    case writeFailed(String, reason: String)

    /// A sentence naming the path.
    public var description: String {
        switch self {
        case .directoryNotFound(let path): return "no such directory: \(path)"
        case .notADirectory(let path): return "\(path) is not a directory; embed takes a directory"
        case .unreadable(let path, let reason): return "cannot read \(path): \(reason)"
        case .symbolicLink(let path):
            return "\(path) is a symbolic link; embedded content is a plain tree and links are refused, never "
                + "followed (replace the link by a copy of its target)"
        case .specialFile(let path, let kind):
            return "\(path) is a \(kind); only regular files and directories can be embedded"
        case .invalidName(let path, let problem): return "\(path) cannot be held by RamFS: \(problem)"
        case .tooManyEntries(let path, let limit):
            return "\(path) holds more than \(limit) files and directories, the most an image can embed"
        case .tooManyBytes(let path, let limit):
            return "\(path) holds more than \(limit) bytes of file data, the most an image can embed"
        case .badImage(let path, let reason): return "\(path) is not a readable ELF image: \(reason)"
        case .noEmbeddedSection(let path):
            return "\(path) has no \(Embedder.sectionName) section; rebuild it with the current Linker/unikernel.ld"
        case .unsupportedLayout(let path, let reason): return "cannot embed into \(path): \(reason)"
        case .writeFailed(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// `unikernel embed`: packs a host directory into an archive (`EmbeddedArchive`'s format) and writes it into a guest
/// image's `.unikernel.embedded` section.
///
/// **What is embedded.** Regular files and directories, recursively, under names relative to the directory (its
/// own name is not part of them; the guest mounts the tree where it likes). Symbolic links are refused, not
/// followed: links could point outside the tree or form cycles, and RamFS has no links. FIFOs, sockets and devices
/// are refused. Names must be valid UTF-8 with components of at most 255 bytes and paths (`/` + the relative
/// path) of at most 4095 bytes, the limits of a default RamFS. Limits: at most 65,536 files and directories together
/// and 512 MiB of file data (`Limits`).
///
/// **How the image changes.** The section is the last one in memory, alone in its own read-only PT_LOAD segment
/// (Linker/unikernel.ld), so it can grow without overlapping anything: its size and the segment's file and memory
/// sizes become the archive's length; the sections after it in the file (debug information, symbols, string
/// tables, none of them loaded) and the section header table move by the growth, rounded so each keeps its
/// alignment. All other bytes stay as they were. libelf writes the result (`ELF_F_LAYOUT`: the layout is ours).
/// The guest needs RAM up to the archive's end; `Summary.archiveEnd` says where that is.
public enum Embedder {
    /// The section that holds the archive.
    public static let sectionName = ".unikernel.embedded"

    /// Bounds checked while packing.
    public struct Limits: Sendable {
        /// Most files and directories together. Default 65,536.
        public var maxEntries: Int
        /// Most bytes of all files together. Default 512 MiB.
        public var maxTotalBytes: Int

        /// Limits with the stated defaults.
        public init(maxEntries: Int = 65_536, maxTotalBytes: Int = 512 << 20) {
            self.maxEntries = maxEntries
            self.maxTotalBytes = maxTotalBytes
        }
    }

    /// What `embed` did.
    public struct Summary: Equatable, Sendable, CustomStringConvertible {
        /// Regular files embedded.
        public var files: Int
        /// Directories embedded.
        public var directories: Int
        /// Bytes of file data.
        public var fileBytes: Int
        /// Length of the archive.
        public var archiveBytes: Int
        /// Guest-physical address of the archive's first byte.
        public var archiveStart: UInt64
        /// One past its last byte: the guest needs RAM up to here.
        public var archiveEnd: UInt64 { archiveStart + UInt64(archiveBytes) }

        /// One line.
        public var description: String {
            "embedded \(files) files and \(directories) directories (\(fileBytes) bytes of data) as a "
                + "\(archiveBytes)-byte archive at 0x\(String(archiveStart, radix: 16))-0x\(String(archiveEnd, radix: 16)) "
                + "(the guest needs at least \((archiveEnd + (1 << 20) - 1) >> 20) MiB of RAM to load it)"
        }
    }

    // MARK: Packing

    /// Packs `directory` into archive bytes. `directory` itself may be a symbolic link to a directory (it is the
    /// caller's argument); links inside it are refused.
    public static func pack(directory: String, limits: Limits = Limits()) throws(EmbedError) -> [UInt8] {
        var writer = EmbeddedArchiveWriter(limits: .init(maxEntries: limits.maxEntries, maxTotalFileBytes: limits.maxTotalBytes))
        var st = stat()
        guard stat(directory, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .directoryNotFound(directory) }
            throw .unreadable(directory, reason: String(cString: strerror(errno)))
        }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw .notADirectory(directory) }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(directory, reason: String(cString: strerror(errno))) }
        try walk(fd, relative: [], display: directory, into: &writer)
        return writer.bytes()
    }

    /// The archive name for `components` (host names, as bytes), or the reason RamFS could not hold it.
    public static func archivePath(_ components: [[UInt8]], display: String) throws(EmbedError) -> [UInt8] {
        var path: [UInt8] = []
        for (i, component) in components.enumerated() {
            if i > 0 { path.append(0x2F) }
            path += component
        }
        if let problem = path.withUnsafeBytes({ EmbeddedArchive.validatePath($0) }) {
            throw .invalidName(display, problem: problem)
        }
        return path
    }

    /// Adds the entries of the open directory `fd` (closed on return) below `relative`.
    private static func walk(_ fd: Int32, relative: [[UInt8]], display: String,
                             into writer: inout EmbeddedArchiveWriter) throws(EmbedError) {
        guard let dir = fdopendir(fd) else {
            close(fd)
            throw .unreadable(display, reason: String(cString: strerror(errno)))
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .unreadable(display, reason: String(cString: strerror(errno))) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        let parent = dirfd(dir)
        for name in names {
            let childDisplay = display + "/" + String(decoding: name, as: UTF8.self)
            let components = relative + [name]
            let path = try archivePath(components, display: childDisplay)
            var st = stat()
            guard fstatat(parent, cString(name), &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw .unreadable(childDisplay, reason: String(cString: strerror(errno))) }
            switch st.st_mode & S_IFMT {
            case S_IFLNK:
                throw .symbolicLink(childDisplay)
            case S_IFDIR:
                try add(writer: &writer, display: childDisplay) { (w: inout EmbeddedArchiveWriter) throws(ArchiveWriteError) in
                    try w.addDirectory(path)
                }
                let child = openChild(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { throw .unreadable(childDisplay, reason: String(cString: strerror(errno))) }
                try walk(child, relative: components, display: childDisplay, into: &writer)
            case S_IFREG:
                if Int(st.st_size) > writer.limits.maxTotalFileBytes - writer.totalFileBytes {
                    throw .tooManyBytes(childDisplay, limit: writer.limits.maxTotalFileBytes)
                }
                let contents = try readFile(parent, name, display: childDisplay)
                try add(writer: &writer, display: childDisplay) { (w: inout EmbeddedArchiveWriter) throws(ArchiveWriteError) in
                    try w.addFile(path, contents: contents)
                }
            case S_IFIFO: throw .specialFile(childDisplay, kind: "FIFO")
            case S_IFSOCK: throw .specialFile(childDisplay, kind: "socket")
            case S_IFCHR: throw .specialFile(childDisplay, kind: "character device")
            case S_IFBLK: throw .specialFile(childDisplay, kind: "block device")
            default: throw .specialFile(childDisplay, kind: "file of unknown type")
            }
        }
    }

    /// Runs one writer call, turning its errors into `EmbedError`s about `display`.
    private static func add(writer: inout EmbeddedArchiveWriter, display: String,
                            _ body: (inout EmbeddedArchiveWriter) throws(ArchiveWriteError) -> Void) throws(EmbedError) {
        do throws(ArchiveWriteError) {
            try body(&writer)
        } catch {
            switch error {
            case .invalidPath(_, let problem): throw .invalidName(display, problem: problem)
            case .tooManyEntries(let limit): throw .tooManyEntries(display, limit: limit)
            case .tooManyBytes(let limit): throw .tooManyBytes(display, limit: limit)
            case .namesTooLong: throw .tooManyBytes(display, limit: Int(UInt32.max))
            case .conflict: throw .unreadable(display, reason: "added twice")
            }
        }
    }

    /// `name` as a NUL-terminated C string.
    private static func cString(_ name: [UInt8]) -> [CChar] {
        name.map { CChar(bitPattern: $0) } + [0]
    }

    private static func openChild(_ parent: Int32, _ name: [UInt8], _ flags: Int32) -> Int32 {
        openat(parent, cString(name), flags)
    }

    /// Reads the regular file `name` in directory `parent` completely.
    private static func readFile(_ parent: Int32, _ name: [UInt8], display: String) throws(EmbedError) -> [UInt8] {
        let fd = openChild(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(display, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(display, reason: String(cString: strerror(errno)))
            }
            if n == 0 { return contents }
            contents.append(contentsOf: chunk[0..<n])
        }
    }

    // MARK: Reading and writing images

    /// Where the section and its segment are in an image.
    struct Placement {
        var sectionIndex: Int
        var sectionOffset: UInt64
        var sectionSize: UInt64
        var address: UInt64
        var segmentIndex: Int
    }

    /// Opens `path` with libelf (ELF_C_READ, or ELF_C_RDWR when `write`) and calls `body` with the handle and the
    /// file descriptor.
    /// Errors name `display` (the user's path, not a temporary copy).
    private static func withELF<R>(_ path: String, display: String? = nil, write: Bool,
                                   _ body: (OpaquePointer, Int32) throws(EmbedError) -> R) throws(EmbedError) -> R {
        let display = display ?? path
        guard elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE) else { throw .badImage(display, reason: "libelf is too old") }
        let fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .badImage(display, reason: "no such file") }
            throw .badImage(display, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        guard let elf = elf_begin(fd, write ? ELF_C_RDWR : ELF_C_READ, nil) else {
            throw .badImage(display, reason: String(cString: elf_errmsg(-1)))
        }
        defer { elf_end(elf) }
        guard elf_kind(elf) == ELF_K_ELF, gelf_getclass(elf) == ELFCLASS64 else {
            throw .badImage(display, reason: "not a 64-bit ELF file")
        }
        return try body(elf, fd)
    }

    /// The index and header of the embedded section.
    private static func embeddedSection(_ elf: OpaquePointer, path: String) throws(EmbedError) -> (Int, GElf_Shdr) {
        var names = 0
        guard elf_getshdrstrndx(elf, &names) == 0 else { throw .noEmbeddedSection(path) }
        var scn = elf_nextscn(elf, nil)
        while let s = scn {
            var sh = GElf_Shdr()
            if gelf_getshdr(s, &sh) != nil, let cName = elf_strptr(elf, names, Int(sh.sh_name)),
               String(cString: cName) == sectionName {
                return (Int(elf_ndxscn(s)), sh)
            }
            scn = elf_nextscn(elf, s)
        }
        throw .noEmbeddedSection(path)
    }

    /// Finds the embedded section and checks that it is alone in the last PT_LOAD segment in memory.
    private static func placement(_ elf: OpaquePointer, path: String) throws(EmbedError) -> Placement {
        let (index, sh) = try embeddedSection(elf, path: path)
        guard sh.sh_type == UInt32(SHT_PROGBITS), sh.sh_flags & UInt64(SHF_ALLOC) != 0 else {
            throw .unsupportedLayout(path, reason: "\(sectionName) is not a loaded section with contents")
        }
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0 else { throw .badImage(path, reason: String(cString: elf_errmsg(-1))) }
        var segment: Int? = nil
        var highestOtherEnd: UInt64 = 0
        for i in 0..<count {
            var ph = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(i), &ph) != nil, ph.p_type == UInt32(PT_LOAD) else { continue }
            if ph.p_offset == sh.sh_offset && ph.p_vaddr == sh.sh_addr {
                guard ph.p_filesz == sh.sh_size, ph.p_memsz == sh.sh_size else {
                    throw .unsupportedLayout(path, reason: "\(sectionName) does not fill its PT_LOAD segment exactly")
                }
                segment = i
            } else {
                highestOtherEnd = max(highestOtherEnd, ph.p_vaddr + ph.p_memsz, ph.p_paddr + ph.p_memsz)
            }
        }
        guard let segment else {
            throw .unsupportedLayout(path, reason: "\(sectionName) is not at the start of a PT_LOAD segment of its own")
        }
        guard highestOtherEnd <= sh.sh_addr else {
            throw .unsupportedLayout(path, reason: "another segment lies above \(sectionName) in memory")
        }
        return Placement(sectionIndex: index, sectionOffset: sh.sh_offset, sectionSize: sh.sh_size,
                         address: sh.sh_addr, segmentIndex: segment)
    }

    /// The bytes of the embedded section of `image` and its address, or nil if it has none.
    public static func archiveBytes(image: String) throws(EmbedError) -> (bytes: [UInt8], address: UInt64)? {
        try withELF(image, write: false) { (elf, fd) throws(EmbedError) in
            let header: GElf_Shdr
            do throws(EmbedError) { (_, header) = try embeddedSection(elf, path: image) } catch {
                if case .noEmbeddedSection = error { return nil }
                throw error
            }
            guard header.sh_type != UInt32(SHT_NOBITS), header.sh_size <= UInt64(Int32.max) else {
                throw .unsupportedLayout(image, reason: "\(sectionName) has no contents in the file")
            }
            var bytes = [UInt8](repeating: 0, count: Int(header.sh_size))
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(header.sh_offset)) }
            guard n == bytes.count else { throw .badImage(image, reason: "the embedded section is cut short") }
            return (bytes, header.sh_addr)
        }
    }

    /// Packs `directory` and writes it into `image`, writing the result to `output` (default: `image` itself).
    /// The image is replaced atomically (a temporary file renamed over it), so a failure leaves it unchanged.
    @discardableResult
    public static func embed(directory: String, into image: String, output: String? = nil,
                             limits: Limits = Limits()) throws(EmbedError) -> Summary {
        let archive = try pack(directory: directory, limits: limits)
        return try write(archive: archive, into: image, output: output)
    }

    /// Writes `archive` (archive bytes, checked here) into `image`'s embedded section; see `embed`.
    @discardableResult
    public static func write(archive: [UInt8], into image: String, output: String? = nil) throws(EmbedError) -> Summary {
        let checked: Result<(count: Int, files: Int, bytes: Int), ArchiveError> = archive.withUnsafeBytes { raw in
            do throws(ArchiveError) {
                let a = try EmbeddedArchive(validating: raw)
                return .success((a.count, a.fileCount, a.fileBytes))
            } catch {
                return .failure(error)
            }
        }
        let view: (count: Int, files: Int, bytes: Int)
        switch checked {
        case .success(let counts): view = counts
        case .failure(let error): throw .writeFailed(image, reason: "the archive is invalid: \(error)")
        }
        let destination = output ?? image
        let temporary = destination + ".embed-\(getpid())"
        unlink(temporary)
        do {
            try FileManager.default.copyItem(atPath: image, toPath: temporary)
        } catch {
            if !FileManager.default.fileExists(atPath: image) { throw .badImage(image, reason: "no such file") }
            throw .writeFailed(temporary, reason: "\(error)")
        }
        var succeeded = false
        defer { if !succeeded { unlink(temporary) } }
        let address = try withELF(temporary, display: image, write: true) { (elf, fd) throws(EmbedError) -> UInt64 in
            let place: Placement
            do throws(EmbedError) { place = try placement(elf, path: image) } catch { throw error }
            try replace(elf, fd, place, archive, path: image)
            return place.address
        }
        guard rename(temporary, destination) == 0 else {
            throw .writeFailed(destination, reason: String(cString: strerror(errno)))
        }
        succeeded = true
        return Summary(files: view.files, directories: view.count - view.files, fileBytes: view.bytes,
                       archiveBytes: archive.count, archiveStart: address)
    }

    /// Replaces the section's contents with `archive` and updates the section, the segment, the later sections'
    /// offsets and the section header table's offset; writes with libelf.
    private static func replace(_ elf: OpaquePointer, _ fd: Int32, _ place: Placement, _ archive: [UInt8],
                                path: String) throws(EmbedError) {
        func libelfFailure(_ what: String) -> EmbedError {
            .writeFailed(path, reason: "\(what): \(String(cString: elf_errmsg(-1)))")
        }
        guard place.address + UInt64(archive.count) <= 0xC000_0000 else {
            throw .unsupportedLayout(path, reason: "the archive would reach the device hole at 3 GiB")
        }
        var ehdr = GElf_Ehdr()
        guard gelf_getehdr(elf, &ehdr) != nil else { throw libelfFailure("reading the ELF header") }
        let oldEnd = place.sectionOffset + place.sectionSize
        let newEnd = place.sectionOffset + UInt64(archive.count)

        // Everything that lies after the section in the file moves by the same amount, a multiple of the largest
        // alignment among those items, so each keeps its alignment and all gaps stay as they were.
        var trailing: [(scn: OpaquePointer, header: GElf_Shdr)] = []
        var alignment: UInt64 = 8  // the section header table
        var trailStart = ehdr.e_shoff >= oldEnd ? ehdr.e_shoff : UInt64.max
        var scn = elf_nextscn(elf, nil)
        while let s = scn {
            var sh = GElf_Shdr()
            guard gelf_getshdr(s, &sh) != nil else { throw libelfFailure("reading a section header") }
            if Int(elf_ndxscn(s)) != place.sectionIndex, sh.sh_type != UInt32(SHT_NOBITS) {
                if sh.sh_offset >= oldEnd {
                    trailing.append((s, sh))
                    alignment = max(alignment, sh.sh_addralign)
                    trailStart = min(trailStart, sh.sh_offset)
                } else if sh.sh_size > 0, sh.sh_offset + sh.sh_size > place.sectionOffset {
                    throw .unsupportedLayout(path, reason: "a section overlaps \(sectionName) in the file")
                }
            }
            // Load every section's data now: libelf reads lazily from the file, and the file is about to change.
            guard sh.sh_type == UInt32(SHT_NOBITS) || elf_getdata(s, nil) != nil || sh.sh_size == 0 else {
                throw libelfFailure("reading section data")
            }
            scn = elf_nextscn(elf, s)
        }
        guard ehdr.e_shoff >= oldEnd || ehdr.e_shnum == 0 else {
            throw .unsupportedLayout(path, reason: "the section header table lies before \(sectionName)")
        }
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw .unsupportedLayout(path, reason: "a section has an alignment that is not a power of two")
        }
        var shift: Int64 = 0
        if trailStart != UInt64.max {
            // The smallest new start at or after newEnd that is congruent to trailStart modulo `alignment`.
            let gap = (trailStart &- newEnd) & (alignment - 1)
            shift = Int64(bitPattern: newEnd &+ gap &- trailStart)
        }

        // The section's new contents (libelf copies them out at elf_update, while `archive` is alive).
        guard let section = elf_getscn(elf, place.sectionIndex) else { throw libelfFailure("finding the section") }
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil, let data = elf_getdata(section, nil) else {
            throw libelfFailure("reading the embedded section")
        }
        guard elf_getdata(section, data) == nil else {
            throw .unsupportedLayout(path, reason: "the embedded section has more than one data block")
        }
        elf_flagelf(elf, ELF_C_SET, UInt32(ELF_F_LAYOUT))
        let outcome: Result<Void, EmbedError> = archive.withUnsafeBytes { raw in
            do throws(EmbedError) { try update(raw); return .success(()) } catch { return .failure(error) }
        }
        try outcome.get()
        func update(_ raw: UnsafeRawBufferPointer) throws(EmbedError) {
            data.pointee.d_buf = UnsafeMutableRawPointer(mutating: raw.baseAddress)
            data.pointee.d_size = archive.count
            data.pointee.d_type = ELF_T_BYTE
            data.pointee.d_off = 0
            elf_flagdata(data, ELF_C_SET, UInt32(ELF_F_DIRTY))
            header.sh_size = UInt64(archive.count)
            guard gelf_update_shdr(section, &header) != 0 else { throw libelfFailure("updating the section header") }
            elf_flagshdr(section, ELF_C_SET, UInt32(ELF_F_DIRTY))

            var ph = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(place.segmentIndex), &ph) != nil else { throw libelfFailure("reading the segment") }
            ph.p_filesz = UInt64(archive.count)
            ph.p_memsz = UInt64(archive.count)
            guard gelf_update_phdr(elf, Int32(place.segmentIndex), &ph) != 0 else { throw libelfFailure("updating the segment") }
            elf_flagphdr(elf, ELF_C_SET, UInt32(ELF_F_DIRTY))

            for var item in trailing {
                item.header.sh_offset = UInt64(Int64(bitPattern: item.header.sh_offset) + shift)
                guard gelf_update_shdr(item.scn, &item.header) != 0 else { throw libelfFailure("moving a section") }
                elf_flagshdr(item.scn, ELF_C_SET, UInt32(ELF_F_DIRTY))
                // Written again at the new offset.
                var d = elf_getdata(item.scn, nil)
                while let block = d {
                    elf_flagdata(block, ELF_C_SET, UInt32(ELF_F_DIRTY))
                    d = elf_getdata(item.scn, block)
                }
            }
            if ehdr.e_shoff >= oldEnd {
                ehdr.e_shoff = UInt64(Int64(bitPattern: ehdr.e_shoff) + shift)
            }
            guard gelf_update_ehdr(elf, &ehdr) != 0 else { throw libelfFailure("updating the ELF header") }
            elf_flagehdr(elf, ELF_C_SET, UInt32(ELF_F_DIRTY))
            // Cut the file at the section (everything after it is in memory now): bytes libelf does not write, the
            // gaps between moved sections, read back as zeros, as the linker wrote them, instead of as leftovers of a
            // larger archive embedded before.
            guard ftruncate(fd, off_t(place.sectionOffset)) == 0 else {
                throw .writeFailed(path, reason: String(cString: strerror(errno)))
            }
            guard elf_update(elf, ELF_C_WRITE) >= 0 else { throw libelfFailure("writing the image") }
        }
        // A smaller archive than before leaves a tail beyond the new end of the file.
        var end = ehdr.e_shoff + UInt64(ehdr.e_shnum) * UInt64(ehdr.e_shentsize)
        end = max(end, newEnd)
        for item in trailing { end = max(end, UInt64(Int64(bitPattern: item.header.sh_offset) + shift) + item.header.sh_size) }
        guard ftruncate(fd, off_t(end)) == 0 else { throw .writeFailed(path, reason: String(cString: strerror(errno))) }
    }
}
