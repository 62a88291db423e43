/// The file-system interface applications program against, and the value types it speaks.
///
/// The model is the POSIX one (IEEE Std 1003.1-2017, XSH "General Information" §2.3 errors, and the pages of
/// `open`, `read`, `write`, `lseek`, `ftruncate`, `stat`, `mkdir`, `rmdir`, `readdir`, `unlink`, `rename`, `close`),
/// reduced to what a library OS needs: one namespace rooted at `/`, regular files and directories, descriptors with
/// their own offsets. There are no users, permissions, symbolic or hard links, or working directory.
///
/// Where POSIX leaves a choice (which error wins when several apply, `..` at the root) implementations follow Linux,
/// so that a program behaves the same in the guest and in a hosted test.

/// Why a file-system operation failed. Each case is named after the POSIX error it stands for (the `errno` name is in
/// its documentation and in `posixName`); `linuxErrorNumber` gives the Linux value.
public enum FileSystemError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// `ENOENT`: a path component does not exist, or the path is empty.
    case noSuchFileOrDirectory
    /// `ENOTDIR`: a component used as a directory is not one (including a path with a trailing slash that names a
    /// regular file, and renaming a directory over a file).
    case notADirectory
    /// `EISDIR`: the operation needs a regular file but the path names a directory (opening a directory for writing,
    /// unlinking one, renaming a file over one, reading one through a descriptor).
    case isADirectory
    /// `EEXIST`: the entry to be created already exists.
    case fileExists
    /// `ENOTEMPTY`: the directory to remove or replace has entries.
    case directoryNotEmpty
    /// `EINVAL`: an argument is invalid (a NUL byte in a path, a negative offset or length, no access mode, renaming
    /// a directory into itself or its descendants, removing `.`).
    case invalidArgument
    /// `ENOSPC`: the file system's memory budget (or device) is exhausted; nothing was changed.
    case noSpace
    /// `EMFILE`: every descriptor is in use.
    case tooManyOpenFiles
    /// `EBADF`: the descriptor is not open, or not open for the requested access.
    case badFileDescriptor
    /// `ENAMETOOLONG`: the path or one of its components exceeds the file system's limit.
    case nameTooLong
    /// `EROFS`: the file system is read-only.
    case readOnly
    /// `EFBIG`: the operation would make a file larger than the file system allows.
    case fileTooLarge
    /// `EBUSY`: the entry is in use by the system and cannot be removed or renamed (the root directory).
    case busy
    /// `EIO`: the underlying device failed.
    case ioError
    /// `EOPNOTSUPP`: the file system does not implement the operation.
    case notSupported

    /// The POSIX `errno` name, e.g. `"ENOENT"`.
    public var posixName: String {
        switch self {
        case .noSuchFileOrDirectory: return "ENOENT"
        case .notADirectory: return "ENOTDIR"
        case .isADirectory: return "EISDIR"
        case .fileExists: return "EEXIST"
        case .directoryNotEmpty: return "ENOTEMPTY"
        case .invalidArgument: return "EINVAL"
        case .noSpace: return "ENOSPC"
        case .tooManyOpenFiles: return "EMFILE"
        case .badFileDescriptor: return "EBADF"
        case .nameTooLong: return "ENAMETOOLONG"
        case .readOnly: return "EROFS"
        case .fileTooLarge: return "EFBIG"
        case .busy: return "EBUSY"
        case .ioError: return "EIO"
        case .notSupported: return "EOPNOTSUPP"
        }
    }

    /// The error number Linux uses for the same condition (x86_64 values), for logging and host comparisons.
    public var linuxErrorNumber: Int32 {
        switch self {
        case .noSuchFileOrDirectory: return 2
        case .notADirectory: return 20
        case .isADirectory: return 21
        case .fileExists: return 17
        case .directoryNotEmpty: return 39
        case .invalidArgument: return 22
        case .noSpace: return 28
        case .tooManyOpenFiles: return 24
        case .badFileDescriptor: return 9
        case .nameTooLong: return 36
        case .readOnly: return 30
        case .fileTooLarge: return 27
        case .busy: return 16
        case .ioError: return 5
        case .notSupported: return 95
        }
    }

    /// The error for a Linux error number, or nil if no case stands for it.
    public init?(linuxErrorNumber: Int32) {
        switch linuxErrorNumber {
        case 2: self = .noSuchFileOrDirectory
        case 20: self = .notADirectory
        case 21: self = .isADirectory
        case 17: self = .fileExists
        case 39: self = .directoryNotEmpty
        case 22: self = .invalidArgument
        case 28: self = .noSpace
        case 24: self = .tooManyOpenFiles
        case 9: self = .badFileDescriptor
        case 36: self = .nameTooLong
        case 30: self = .readOnly
        case 27: self = .fileTooLarge
        case 16: self = .busy
        case 5: self = .ioError
        case 95: self = .notSupported
        default: return nil
        }
    }

    /// A lowercase sentence with the `errno` name, e.g. `"no such file or directory (ENOENT)"`.
    public var description: String {
        let text: String
        switch self {
        case .noSuchFileOrDirectory: text = "no such file or directory"
        case .notADirectory: text = "not a directory"
        case .isADirectory: text = "is a directory"
        case .fileExists: text = "file exists"
        case .directoryNotEmpty: text = "directory not empty"
        case .invalidArgument: text = "invalid argument"
        case .noSpace: text = "no space left on file system"
        case .tooManyOpenFiles: text = "too many open files"
        case .badFileDescriptor: text = "bad file descriptor"
        case .nameTooLong: text = "file name too long"
        case .readOnly: text = "read-only file system"
        case .fileTooLarge: text = "file too large"
        case .busy: text = "resource busy"
        case .ioError: text = "input/output error"
        case .notSupported: text = "operation not supported"
        }
        return text + " (" + posixName + ")"
    }
}

/// A path: UTF-8 bytes naming an entry from the root, components separated by `/`.
///
/// Construction never fails and never allocates beyond the `String` it wraps; file systems validate the bytes when
/// they use them (a NUL byte is `invalidArgument`, an empty path `noSuchFileOrDirectory`, over-long paths or
/// components `nameTooLong`). There is no working directory, so a path without a leading `/` is resolved from the
/// root as well. Paths are compared as bytes, never as Unicode strings (two spellings of "é" are different names,
/// as on Linux).
public struct FilePath: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The path text.
    public var string: String

    /// A path with the UTF-8 bytes of `string`.
    public init(_ string: String) { self.string = string }

    /// A path from a literal, e.g. `"/www/index.html"`.
    public init(stringLiteral value: String) { string = value }

    /// A path from raw bytes. Invalid UTF-8 sequences are replaced by U+FFFD (so such names cannot be reached
    /// exactly); NUL bytes are kept and rejected by the file system.
    public init<Bytes: Collection>(decoding bytes: Bytes) where Bytes.Element == UInt8 {
        string = String(decoding: bytes, as: UTF8.self)
    }

    /// Calls `body` with the path's UTF-8 bytes, valid only during the call. Does not allocate for native strings.
    @inline(__always)
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        string.withUTF8Bytes(body)
    }

    /// Byte-wise equality of the UTF-8 representations.
    public static func == (a: FilePath, b: FilePath) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }

    /// Hashes the UTF-8 bytes (consistent with `==`).
    public func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
        hasher.combine(string.utf8.count)
    }

    /// The path text.
    public var description: String { string }
}

/// An open file, as returned by `FileSystem.open`: a small integer naming a slot in the file system's descriptor
/// table (like a POSIX file descriptor). Numbers are reused after `close`, lowest first.
public struct FileDescriptor: Hashable, Sendable, CustomStringConvertible {
    /// The slot number.
    public var rawValue: Int32

    /// A descriptor for slot `rawValue`.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `fd <number>`.
    public var description: String { "fd \(rawValue)" }
}

/// How `FileSystem.open` opens a file (POSIX `O_*` flags).
///
/// At least one of `read`, `write` or `append` must be present (`append` implies `write`); `exclusive` requires
/// `create`; `truncate` requires write access. Violations are `invalidArgument`.
public struct OpenOptions: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The flag bits.
    public var rawValue: UInt32

    /// Options from their bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `O_RDONLY`/`O_RDWR`: the descriptor may read.
    public static let read = OpenOptions(rawValue: 1 << 0)
    /// `O_WRONLY`/`O_RDWR`: the descriptor may write.
    public static let write = OpenOptions(rawValue: 1 << 1)
    /// `O_APPEND`: every `write` (not `pwrite`) goes to the end of the file. Implies `write`.
    public static let append = OpenOptions(rawValue: 1 << 2)
    /// `O_CREAT`: create a regular file if the path names nothing.
    public static let create = OpenOptions(rawValue: 1 << 3)
    /// `O_EXCL` (with `create`): fail with `fileExists` if the path names anything.
    public static let exclusive = OpenOptions(rawValue: 1 << 4)
    /// `O_TRUNC`: cut an existing regular file to zero length (needs write access).
    public static let truncate = OpenOptions(rawValue: 1 << 5)

    /// `read` and `write`.
    public static let readWrite: OpenOptions = [.read, .write]

    /// The flags' names joined by `|`, e.g. `"read|write|create"`.
    public var description: String {
        var names: [String] = []
        if contains(.read) { names.append("read") }
        if contains(.write) { names.append("write") }
        if contains(.append) { names.append("append") }
        if contains(.create) { names.append("create") }
        if contains(.exclusive) { names.append("exclusive") }
        if contains(.truncate) { names.append("truncate") }
        if names.isEmpty { return "none" }
        var text = names[0]
        for name in names.dropFirst() { text += "|" + name }
        return text
    }
}

/// Where `FileSystem.seek` counts from (POSIX `SEEK_SET`, `SEEK_CUR`, `SEEK_END`).
public enum SeekOrigin: Hashable, Sendable, CustomStringConvertible {
    /// From the start of the file (`SEEK_SET`).
    case start
    /// From the descriptor's current offset (`SEEK_CUR`).
    case current
    /// From the end of the file (`SEEK_END`).
    case end

    /// `"start"`, `"current"` or `"end"`.
    public var description: String {
        switch self {
        case .start: return "start"
        case .current: return "current"
        case .end: return "end"
        }
    }
}

/// What a directory entry is.
public enum FileKind: Hashable, Sendable, CustomStringConvertible {
    /// A regular file: bytes that can be read and written.
    case regularFile
    /// A directory: names of other entries.
    case directory

    /// `"file"` or `"directory"`.
    public var description: String {
        switch self {
        case .regularFile: return "file"
        case .directory: return "directory"
        }
    }
}

/// What `stat`/`fstat` report about an entry.
public struct FileStatus: Hashable, Sendable, CustomStringConvertible {
    /// Regular file or directory.
    public var kind: FileKind
    /// For a regular file its length in bytes (holes included); for a directory, implementation-defined.
    public var size: Int64
    /// Bytes of storage the entry's data occupies (less than `size` for sparse files).
    public var allocatedBytes: Int64
    /// Number of names referring to the entry: 1 for a file, 0 once unlinked while still open; for a directory
    /// 2 plus its number of subdirectories (POSIX convention), 0 once removed.
    public var linkCount: Int
    /// A number identifying the entry within its file system (like `st_ino`); never reused while mounted.
    public var identifier: UInt64
    /// When the entry was created (`st_birthtime`/`statx` `btime`).
    public var creationTime: WallTime
    /// When the data last changed (`st_mtime`): writes, truncation, entries added to or removed from a directory.
    public var modificationTime: WallTime
    /// When the data was last read (`st_atime`).
    public var accessTime: WallTime
    /// When the data or the entry's status last changed (`st_ctime`), including renames.
    public var statusChangeTime: WallTime

    /// A status with every field given.
    public init(kind: FileKind, size: Int64, allocatedBytes: Int64, linkCount: Int, identifier: UInt64,
                creationTime: WallTime, modificationTime: WallTime, accessTime: WallTime,
                statusChangeTime: WallTime) {
        self.kind = kind
        self.size = size
        self.allocatedBytes = allocatedBytes
        self.linkCount = linkCount
        self.identifier = identifier
        self.creationTime = creationTime
        self.modificationTime = modificationTime
        self.accessTime = accessTime
        self.statusChangeTime = statusChangeTime
    }

    /// e.g. `"file, 12 bytes, id 7"`.
    public var description: String { "\(kind), \(size) bytes, id \(identifier)" }
}

/// One name in a directory listing.
public struct DirectoryEntry: Hashable, Sendable, CustomStringConvertible {
    /// The entry's name (one path component, never `.` or `..`).
    public var name: String
    /// What the name refers to.
    public var kind: FileKind

    /// An entry called `name` of kind `kind`.
    public init(name: String, kind: FileKind) {
        self.name = name
        self.kind = kind
    }

    /// `name` for files, `name/` for directories.
    public var description: String { kind == .directory ? name + "/" : name }

    /// Byte-wise equality of the names (no Unicode comparison) and equal kinds.
    public static func == (a: DirectoryEntry, b: DirectoryEntry) -> Bool {
        a.kind == b.kind && a.name.utf8.elementsEqual(b.name.utf8)
    }

    /// Hashes the name's bytes and the kind (consistent with `==`).
    public func hash(into hasher: inout Hasher) {
        for byte in name.utf8 { hasher.combine(byte) }
        hasher.combine(kind)
    }
}

/// A hierarchical file system with descriptors, as applications use it. RamFS implements it in memory; a file
/// system on a `BlockDevice` can implement it too. Class-bound, so `any FileSystem` works in Embedded Swift.
///
/// Semantics follow POSIX and, where POSIX leaves a choice, Linux:
/// - Paths are resolved from the root, component by component: `.` stays, `..` goes to the parent (at the root it
///   stays at the root), repeated slashes count as one. Every component before the last must be an existing
///   directory (`noSuchFileOrDirectory`, `notADirectory`). A trailing slash requires the entry to be a directory.
/// - Descriptors carry their own offset; `read`/`write` advance it, `pread`-style calls (with `at:`) do not.
/// - Removing or replacing an entry that is still open keeps its data readable and writable through the open
///   descriptors until the last of them is closed.
/// - Errors are typed; a failed call changes nothing.
///
/// Implementations document their limits (name and path length, descriptors, space) and whether they are safe
/// to share between threads.
public protocol FileSystem: AnyObject {
    /// Opens (and with `.create` possibly creates) the entry at `path` (POSIX `open(2)`). Directories may be
    /// opened for reading only (for `stat`); regular files are created empty.
    func open(_ path: FilePath, _ options: OpenOptions) throws(FileSystemError) -> FileDescriptor

    /// Releases `descriptor` (POSIX `close(2)`); its number may be handed out again.
    func close(_ descriptor: FileDescriptor) throws(FileSystemError)

    /// Reads up to `buffer.count` bytes at the descriptor's offset and advances it (POSIX `read(2)`). Returns the
    /// number of bytes read: 0 at or past the end of the file. Holes read as zeros.
    func read(_ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer) throws(FileSystemError) -> Int

    /// Reads up to `buffer.count` bytes at `offset` without moving the descriptor's offset (POSIX `pread(2)`).
    func read(_ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        throws(FileSystemError) -> Int

    /// Writes all of `buffer` at the descriptor's offset (at the end for `.append`) and advances the offset past
    /// it (POSIX `write(2)`). Returns `buffer.count`. A write that cannot be completed changes nothing.
    func write(_ descriptor: FileDescriptor, from buffer: UnsafeRawBufferPointer) throws(FileSystemError) -> Int

    /// Writes all of `buffer` at `offset` without moving the descriptor's offset (POSIX `pwrite(2)`), filling any
    /// gap past the old end with zeros. Returns `buffer.count`.
    func write(_ descriptor: FileDescriptor, from buffer: UnsafeRawBufferPointer, at offset: Int64)
        throws(FileSystemError) -> Int

    /// Moves the descriptor's offset to `offset` counted from `origin` and returns the new offset (POSIX
    /// `lseek(2)`). Offsets past the end are allowed; a negative result is `invalidArgument`.
    func seek(_ descriptor: FileDescriptor, to offset: Int64, from origin: SeekOrigin) throws(FileSystemError) -> Int64

    /// Sets the length of the regular file at `path` (POSIX `truncate(2)`): cut bytes are discarded, new bytes
    /// read as zeros.
    func truncate(_ path: FilePath, to size: Int64) throws(FileSystemError)

    /// Sets the length of the file open for writing as `descriptor` (POSIX `ftruncate(2)`).
    func truncate(_ descriptor: FileDescriptor, to size: Int64) throws(FileSystemError)

    /// Describes the entry at `path` (POSIX `stat(2)`).
    func stat(_ path: FilePath) throws(FileSystemError) -> FileStatus

    /// Describes the entry open as `descriptor` (POSIX `fstat(2)`), even if it has been removed since.
    func stat(_ descriptor: FileDescriptor) throws(FileSystemError) -> FileStatus

    /// Creates an empty directory (POSIX `mkdir(2)`); the parent must exist.
    func createDirectory(_ path: FilePath) throws(FileSystemError)

    /// Removes an empty directory (POSIX `rmdir(2)`).
    func removeDirectory(_ path: FilePath) throws(FileSystemError)

    /// Lists the directory's entries, without `.` and `..`, in no particular order (POSIX `readdir(3)`).
    func readDirectory(_ path: FilePath) throws(FileSystemError) -> [DirectoryEntry]

    /// Removes the name of a regular file (POSIX `unlink(2)`); open descriptors keep the data.
    func unlink(_ path: FilePath) throws(FileSystemError)

    /// Moves an entry to a new name, atomically replacing an existing file or empty directory there (POSIX
    /// `rename(2)`). Moving a directory into itself or a descendant is `invalidArgument`.
    func rename(_ source: FilePath, to destination: FilePath) throws(FileSystemError)

    // Conveniences. They are requirements with default implementations (below), not extension-only methods, so that
    // they can be called through `any FileSystem` in Embedded Swift, which cannot call a protocol extension method
    // on an existential. Implementations normally keep the defaults.

    /// Writes all of `bytes` at the descriptor's offset (see `write(_:from:)`); returns `bytes.count`.
    @discardableResult
    func write(_ descriptor: FileDescriptor, _ bytes: [UInt8]) throws(FileSystemError) -> Int

    /// Reads up to `count` bytes at the descriptor's offset (see `read(_:into:)`); fewer at the end of the file.
    func read(_ descriptor: FileDescriptor, count: Int) throws(FileSystemError) -> [UInt8]

    /// The whole contents of the regular file at `path`.
    func contentsOfFile(_ path: FilePath) throws(FileSystemError) -> [UInt8]

    /// Creates (or replaces the contents of) the regular file at `path` with `contents`.
    func createFile(_ path: FilePath, contents: [UInt8]) throws(FileSystemError)
}

/// Default implementations of the conveniences, in terms of the primitive operations.
extension FileSystem {
    /// Writes all of `bytes` with `write(_:from:)`.
    @discardableResult
    public func write(_ descriptor: FileDescriptor, _ bytes: [UInt8]) throws(FileSystemError) -> Int {
        let result: Result<Int, FileSystemError> = bytes.withUnsafeBytes { buffer in
            do throws(FileSystemError) { return .success(try self.write(descriptor, from: buffer)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Reads into a new array with `read(_:into:)`.
    public func read(_ descriptor: FileDescriptor, count: Int) throws(FileSystemError) -> [UInt8] {
        guard count >= 0 else { throw .invalidArgument }
        var bytes = [UInt8](repeating: 0, count: count)
        let result: Result<Int, FileSystemError> = bytes.withUnsafeMutableBytes { buffer in
            do throws(FileSystemError) { return .success(try self.read(descriptor, into: buffer)) } catch {
                return .failure(error)
            }
        }
        bytes.removeLast(count - (try result.get()))
        return bytes
    }

    /// Opens, `stat`s, reads to the end, closes.
    public func contentsOfFile(_ path: FilePath) throws(FileSystemError) -> [UInt8] {
        let descriptor = try open(path, .read)
        defer { try? close(descriptor) }
        let status = try stat(descriptor)
        guard status.kind == .regularFile else { throw .isADirectory }
        var contents: [UInt8] = []
        contents.reserveCapacity(Int(clamping: status.size))
        while true {
            let chunk = try read(descriptor, count: 65_536)
            if chunk.isEmpty { return contents }
            contents.append(contentsOf: chunk)
        }
    }

    /// Opens with `[.write, .create, .truncate]`, writes, closes.
    public func createFile(_ path: FilePath, contents: [UInt8]) throws(FileSystemError) {
        let descriptor = try open(path, [.write, .create, .truncate])
        do {
            try write(descriptor, contents)
        } catch {
            try? close(descriptor)
            throw error
        }
        try close(descriptor)
    }
}
