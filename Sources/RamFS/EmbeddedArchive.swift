import Interfaces

// MARK: - The format

/// An archive of files and directories baked into a guest image at build time (`unikernel embed`), read in place by
/// the guest and imported into a `RamFS` without copying file data.
///
/// One implementation serves both sides: `EmbeddedArchiveWriter` builds the bytes (the host tool), and
/// `EmbeddedArchive(validating:)` checks and reads them (the guest). The reader is pure, never allocates, and never
/// traps on any input: every malformed archive produces an `ArchiveError` naming what is wrong.
///
/// ## Layout, version 1
///
/// All integers are little-endian and unsigned. Offsets are in bytes. The archive is one contiguous run of
/// `totalLength` bytes:
///
/// ```
/// 0            80                80+64N            80+64N+L     D (16-aligned)                 T
/// +------------+-----------------+-----------------+--+---------+------------------------------+
/// | header     | entry table     | names           |0 | file data, each file 16-aligned, in     |
/// | 80 bytes   | N x 64 bytes    | L bytes         |  | entry order, zero padding between        |
/// +------------+-----------------+-----------------+--+---------+------------------------------+
/// ```
///
/// **Header** (80 bytes):
///
/// | offset | size | field                                                                          |
/// |-------:|-----:|--------------------------------------------------------------------------------|
/// |      0 |    8 | magic: `7F 55 4B 45 4D 42 45 44` (`\x7F` then ASCII `UKEMBED`)                |
/// |      8 |    2 | version: 1                                                                     |
/// |     10 |    2 | header size: 80                                                                |
/// |     12 |    2 | entry size: 64                                                                 |
/// |     14 |    2 | flags: 0 (no flags are defined; a reader refuses others)                       |
/// |     16 |    4 | N, the number of entries                                                       |
/// |     20 |    4 | L, the length of the names area                                                |
/// |     24 |    8 | D, offset of the data area: exactly `80 + 64N + L` rounded up to a multiple of 16 |
/// |     32 |    8 | T, total length of the archive: `D` plus the data area, a multiple of 16      |
/// |     40 |    8 | reserved: 0                                                                    |
/// |     48 |   32 | header checksum: SHA-256 (FIPS 180-4) of bytes `0..<48` followed by `80..<D`   |
///
/// The header checksum covers every byte before the data area except itself: the header fields, the entry table
/// (with the per-file digests), the names and the padding before `D`.
///
/// **Entry** (64 bytes; entry `i` starts at `80 + 64i`):
///
/// | offset | size | field                                                                          |
/// |-------:|-----:|--------------------------------------------------------------------------------|
/// |      0 |    4 | name offset, from the start of the names area (`80 + 64N`)                     |
/// |      4 |    2 | name length (at least 1)                                                       |
/// |      6 |    1 | kind: 1 regular file, 2 directory                                              |
/// |      7 |    1 | reserved: 0                                                                    |
/// |      8 |    8 | data offset, from `D`: a multiple of 16 (0 for a directory)                    |
/// |     16 |    8 | size in bytes (0 for a directory)                                              |
/// |     24 |   32 | SHA-256 of the file's bytes (all zero for a directory)                         |
/// |     56 |    8 | reserved: 0                                                                    |
///
/// **Names** are paths relative to the mount point: UTF-8 (RFC 3629), components separated by single `/`, no
/// leading or trailing `/`, no empty, `.` or `..` components, no NUL byte, components at most 255 bytes, and the
/// path as RamFS sees it (`/` + name) at most 4095 bytes: the limits of a default `RamFS.Configuration` (Linux
/// `NAME_MAX` and `PATH_MAX` less the NUL).
///
/// **Order and consistency**, all checked by the reader:
/// - entries are sorted by name, comparing bytes as unsigned numbers (a prefix sorts first), with no duplicates;
/// - every entry's parent (its name up to the last `/`) is an earlier entry of kind directory, so the entries form
///   a tree that imports without conflicts and can be searched by binary search;
/// - each file's data lies inside the data area, starts on a 16-byte boundary, and starts at or after the end of
///   the previous file's data (so no two files overlap);
/// - the padding before `D` is zero.
///
/// The empty archive is the 80-byte header with `N = L = 0` and `D = T = 80`; `Linker/unikernel.ld` places it in
/// the image by default.
public struct EmbeddedArchive: RandomAccessCollection {
    /// The eight magic bytes at offset 0: `\x7F` then ASCII `UKEMBED`.
    public static let magic: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0x7F, 0x55, 0x4B, 0x45, 0x4D, 0x42, 0x45, 0x44)
    /// The format version this code reads and writes.
    public static let version: UInt16 = 1
    /// Bytes of the header.
    public static let headerSize = 80
    /// Bytes of one entry in the table.
    public static let entrySize = 64
    /// Alignment of the data area and of every file's data.
    public static let alignment = 16
    /// Most entries a reader accepts (and a writer produces).
    public static let maxEntries = 1 << 20
    /// Longest path component, in bytes (RamFS's default `maxNameLength`).
    public static let maxNameLength = 255
    /// Longest absolute path (`/` + name), in bytes (RamFS's default `maxPathLength`).
    public static let maxPathLength = 4095

    /// The kind byte of a regular file.
    static let kindFile: UInt8 = 1
    /// The kind byte of a directory.
    static let kindDirectory: UInt8 = 2

    /// The archive's bytes: exactly `totalLength` of them (a larger buffer given to `init` is cut to this).
    public let bytes: UnsafeRawBufferPointer
    /// N, the number of entries.
    public let count: Int
    /// Where the names area starts.
    let namesStart: Int
    /// Where the data area starts (D).
    let dataStart: Int

    /// First entry index (0).
    public var startIndex: Int { 0 }
    /// One past the last entry index.
    public var endIndex: Int { count }
    /// The archive's length in bytes (T).
    public var totalLength: Int { bytes.count }

    /// One entry: a file or directory, with views into the archive's memory (valid as long as that memory is).
    public struct Entry {
        /// Position in the archive.
        public var index: Int
        /// The name (a relative path, see the format) as bytes.
        public var path: UnsafeRawBufferPointer
        /// File or directory.
        public var kind: FileKind
        /// The file's bytes, in place (empty for a directory).
        public var contents: UnsafeRawBufferPointer
        /// The SHA-256 of the file's bytes as recorded by the writer (`.zero` for a directory). Checked by
        /// `verifyContents(of:)`, not by `init(validating:)`.
        public var recordedDigest: SHA256.Digest

        /// File size in bytes (0 for a directory).
        public var size: Int { contents.count }
        /// The name as a string (names are valid UTF-8).
        public var pathString: String { String(decoding: path, as: UTF8.self) }
    }

    /// Entry `index` (0 ≤ index < count; other values are a programming error).
    public subscript(index: Int) -> Entry {
        precondition(index >= 0 && index < count, "archive entry index out of range")
        let e = 80 + 64 * index
        let nameOffset = Int(Self.load32(bytes, e))
        let nameLength = Int(Self.load16(bytes, e + 4))
        let isFile = bytes[e + 6] == Self.kindFile
        let dataOffset = Int(truncatingIfNeeded: Self.load64(bytes, e + 8))
        let size = Int(truncatingIfNeeded: Self.load64(bytes, e + 16))
        let path = UnsafeRawBufferPointer(rebasing: bytes[(namesStart + nameOffset)..<(namesStart + nameOffset + nameLength)])
        let contents = isFile
            ? UnsafeRawBufferPointer(rebasing: bytes[(dataStart + dataOffset)..<(dataStart + dataOffset + size)])
            : UnsafeRawBufferPointer(rebasing: bytes[dataStart..<dataStart])
        let digest = SHA256.Digest(bytes: UnsafeRawBufferPointer(rebasing: bytes[(e + 24)..<(e + 56)])) ?? .zero
        return Entry(index: index, path: path, kind: isFile ? .regularFile : .directory, contents: contents,
                     recordedDigest: digest)
    }

    /// Checks `buffer` completely (header, checksum, every entry, the tree, the data ranges; not the file contents,
    /// see `verifyAllContents`) and returns a view of it. `buffer` may be longer than the archive; the view covers
    /// exactly `totalLength` bytes. Never traps; never allocates; reads each byte of the header and table a bounded
    /// number of times (one SHA-256 pass plus O(log N) comparisons per entry for the parent check).
    public init(validating buffer: UnsafeRawBufferPointer) throws(ArchiveError) {
        guard buffer.count >= 80 else { throw .truncated(needed: 80, available: buffer.count) }
        guard Self.hasMagic(buffer) else { throw .badMagic }
        let version = Self.load16(buffer, 8)
        guard version == Self.version else { throw .unsupportedVersion(Int(version)) }
        guard Self.load16(buffer, 10) == 80 else { throw .badHeaderField(.headerSize) }
        guard Self.load16(buffer, 12) == 64 else { throw .badHeaderField(.entrySize) }
        guard Self.load16(buffer, 14) == 0 else { throw .badHeaderField(.flags) }
        guard Self.load64(buffer, 40) == 0 else { throw .badHeaderField(.reserved) }
        let count = Int(Self.load32(buffer, 16))
        guard count <= Self.maxEntries else { throw .tooManyEntries(count: count, limit: Self.maxEntries) }
        let namesLength = Int(Self.load32(buffer, 20))
        let namesStart = 80 + 64 * count
        let namesEnd = namesStart + namesLength
        let expectedData = Self.alignUp(namesEnd)
        let declaredData = Self.load64(buffer, 24)
        guard declaredData == UInt64(expectedData) else { throw .badHeaderField(.dataOffset) }
        let declaredTotal = Self.load64(buffer, 32)
        guard declaredTotal >= declaredData, declaredTotal % 16 == 0, declaredTotal <= UInt64(Int.max)
        else { throw .badHeaderField(.totalLength) }
        let total = Int(declaredTotal)
        guard total <= buffer.count else { throw .truncated(needed: total, available: buffer.count) }
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<total])
        for i in namesEnd..<expectedData where bytes[i] != 0 { throw .badHeaderField(.padding) }

        var checksum = SHA256()
        checksum.update(UnsafeRawBufferPointer(rebasing: bytes[0..<48]))
        checksum.update(UnsafeRawBufferPointer(rebasing: bytes[80..<expectedData]))
        guard checksum.finalize() == SHA256.Digest(bytes: UnsafeRawBufferPointer(rebasing: bytes[48..<80]))
        else { throw .headerChecksumMismatch }

        let dataLength = total - expectedData
        var dataCursor = 0
        for i in 0..<count {
            let e = 80 + 64 * i
            let nameOffset = Int(Self.load32(bytes, e))
            let nameLength = Int(Self.load16(bytes, e + 4))
            guard nameLength >= 1, nameOffset <= namesLength, nameLength <= namesLength - nameOffset else {
                throw .badEntry(index: i, problem: .nameOutOfBounds)
            }
            let name = UnsafeRawBufferPointer(rebasing: bytes[(namesStart + nameOffset)..<(namesStart + nameOffset + nameLength)])
            if let problem = Self.validatePath(name) { throw .badEntry(index: i, problem: .invalidName(problem)) }
            let kind = bytes[e + 6]
            guard kind == Self.kindFile || kind == Self.kindDirectory else {
                throw .badEntry(index: i, problem: .unknownKind(Int(kind)))
            }
            guard bytes[e + 7] == 0, Self.load64(bytes, e + 56) == 0 else {
                throw .badEntry(index: i, problem: .reservedNotZero)
            }
            if i > 0 {
                let previous = Self.name(bytes, namesStart, i - 1)
                guard Self.compare(previous, name) < 0 else { throw .badEntry(index: i, problem: .notSorted) }
            }
            if let parent = Self.parent(of: name) {
                guard let p = Self.search(bytes, namesStart, parent, below: i) else {
                    throw .badEntry(index: i, problem: .missingParent)
                }
                guard bytes[80 + 64 * p + 6] == Self.kindDirectory else {
                    throw .badEntry(index: i, problem: .parentNotADirectory)
                }
            }
            let offset = Self.load64(bytes, e + 8)
            let size = Self.load64(bytes, e + 16)
            if kind == Self.kindDirectory {
                var digestIsZero = true
                for j in (e + 24)..<(e + 56) where bytes[j] != 0 { digestIsZero = false }
                guard offset == 0, size == 0, digestIsZero else { throw .badEntry(index: i, problem: .directoryWithData) }
            } else {
                guard offset % 16 == 0 else { throw .badEntry(index: i, problem: .misalignedData) }
                guard offset <= UInt64(dataLength), size <= UInt64(dataLength) - offset else {
                    throw .badEntry(index: i, problem: .dataOutOfBounds)
                }
                guard offset >= UInt64(dataCursor) else { throw .badEntry(index: i, problem: .overlappingData) }
                dataCursor = Int(offset + size)
            }
        }
        self.bytes = bytes
        self.count = count
        self.namesStart = namesStart
        self.dataStart = expectedData
    }

    /// The total length `T` an archive header at the start of `header` declares, if the header starts with the
    /// magic and version 1 and `T` is at least 80 and a multiple of 16; nil otherwise. Nothing else is checked: this
    /// is how boot code learns how much memory to set aside before the archive can be validated.
    public static func declaredLength(_ header: UnsafeRawBufferPointer) -> Int? {
        guard header.count >= 80, hasMagic(header), load16(header, 8) == version else { return nil }
        let total = load64(header, 32)
        guard total >= 80, total % 16 == 0, total <= UInt64(Int.max) else { return nil }
        return Int(total)
    }

    /// Checks the file's bytes against the SHA-256 recorded for it (directories always pass).
    public func verifyContents(of entry: Entry) throws(ArchiveError) {
        guard entry.kind == .regularFile else { return }
        guard SHA256.hash(entry.contents) == entry.recordedDigest else {
            throw .contentChecksumMismatch(index: entry.index)
        }
    }

    /// Checks every file's bytes against its recorded SHA-256: reads the whole data area once.
    public func verifyAllContents() throws(ArchiveError) {
        for entry in self { try verifyContents(of: entry) }
    }

    /// The index of the entry named `path` (bytes, relative, as stored), by binary search; nil if there is none.
    public func index(ofPath path: UnsafeRawBufferPointer) -> Int? {
        Self.search(bytes, namesStart, path, below: count)
    }

    /// The entry named `path` (relative, as stored, e.g. `"www/index.html"`), or nil.
    public func entry(named path: String) -> Entry? {
        var path = path
        return path.withUTF8 { index(ofPath: UnsafeRawBufferPointer($0)) }.map { self[$0] }
    }

    /// Number of regular files.
    public var fileCount: Int { reduce(0) { $0 + ($1.kind == .regularFile ? 1 : 0) } }
    /// Number of directories.
    public var directoryCount: Int { count - fileCount }
    /// Bytes of all files together.
    public var fileBytes: Int { reduce(0) { $0 + $1.size } }

    // MARK: Names

    /// Why a name cannot be stored in an archive (or held by a default RamFS).
    ///
    /// Checked in this order: empty, too long, NUL, components (empty, `.`/`..`, too long), UTF-8.
    public static func validatePath(_ path: UnsafeRawBufferPointer) -> ArchivePathProblem? {
        if path.isEmpty { return .empty }
        if path.count + 1 > maxPathLength { return .pathTooLong(bytes: path.count + 1, limit: maxPathLength) }
        for byte in path where byte == 0 { return .containsNUL }
        var start = 0
        while start <= path.count {
            var end = start
            while end < path.count, path[end] != 0x2F { end += 1 }
            let length = end - start
            if length == 0 { return .emptyComponent }
            if length <= 2, path[start] == 0x2E, length == 1 || path[start + 1] == 0x2E { return .dotComponent }
            if length > maxNameLength { return .componentTooLong(bytes: length, limit: maxNameLength) }
            start = end + 1
        }
        if !UTF8Validation.isWellFormed(path) { return .invalidUTF8 }
        return nil
    }

    // MARK: Private helpers (callers have checked the bounds)

    static func hasMagic(_ b: UnsafeRawBufferPointer) -> Bool {
        b[0] == magic.0 && b[1] == magic.1 && b[2] == magic.2 && b[3] == magic.3 && b[4] == magic.4
            && b[5] == magic.5 && b[6] == magic.6 && b[7] == magic.7
    }

    @inline(__always) static func load16(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always) static func load32(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always) static func load64(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    static func alignUp(_ value: Int) -> Int { (value + 15) & ~15 }

    /// The name of entry `index`, whose bounds were validated.
    static func name(_ b: UnsafeRawBufferPointer, _ namesStart: Int, _ index: Int) -> UnsafeRawBufferPointer {
        let e = 80 + 64 * index
        let offset = namesStart + Int(load32(b, e))
        return UnsafeRawBufferPointer(rebasing: b[offset..<(offset + Int(load16(b, e + 4)))])
    }

    /// Byte-wise comparison: negative, zero or positive as `a` sorts before, equal to, or after `b`.
    static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(a.count, b.count)
        var i = 0
        while i < n {
            if a[i] != b[i] { return Int(a[i]) - Int(b[i]) }
            i += 1
        }
        return a.count - b.count
    }

    /// The name up to the last `/`, or nil for a top-level name.
    static func parent(of name: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var i = name.count
        while i > 0 {
            i -= 1
            if name[i] == 0x2F { return UnsafeRawBufferPointer(rebasing: name[0..<i]) }
        }
        return nil
    }

    /// Binary search for `target` among entries `0..<limit`, which are sorted and have validated names.
    static func search(_ b: UnsafeRawBufferPointer, _ namesStart: Int, _ target: UnsafeRawBufferPointer,
                       below limit: Int) -> Int? {
        var low = 0
        var high = limit
        while low < high {
            let middle = low + (high - low) / 2
            let c = compare(name(b, namesStart, middle), target)
            if c == 0 { return middle }
            if c < 0 { low = middle + 1 } else { high = middle }
        }
        return nil
    }
}

// MARK: - Errors

/// A field of the archive header that holds a value the reader does not accept.
public enum ArchiveHeaderField: Equatable, Sendable, CustomStringConvertible {
    /// The header size is not 80.
    case headerSize
    /// The entry size is not 64.
    case entrySize
    /// Flags are set (none are defined).
    case flags
    /// The reserved field is not zero.
    case reserved
    /// The data offset is not `80 + 64N + L` rounded up to 16.
    case dataOffset
    /// The total length is below the data offset, not a multiple of 16, or beyond `Int.max`.
    case totalLength
    /// The padding between the names and the data area is not zero.
    case padding

    /// The field's name.
    public var description: String {
        switch self {
        case .headerSize: return "header size"
        case .entrySize: return "entry size"
        case .flags: return "flags"
        case .reserved: return "reserved field"
        case .dataOffset: return "data offset"
        case .totalLength: return "total length"
        case .padding: return "padding before the data area"
        }
    }
}

/// Why a name is not acceptable in an archive (and in a default RamFS).
public enum ArchivePathProblem: Equatable, Sendable, CustomStringConvertible {
    /// The name is empty.
    case empty
    /// `/` + the name is longer than `limit` bytes.
    case pathTooLong(bytes: Int, limit: Int)
    /// The name contains a NUL byte.
    case containsNUL
    /// A leading, trailing or doubled `/`.
    case emptyComponent
    /// A component is `.` or `..`.
    case dotComponent
    /// A component is longer than `limit` bytes.
    case componentTooLong(bytes: Int, limit: Int)
    /// The bytes are not well-formed UTF-8.
    case invalidUTF8

    /// A short phrase, e.g. `"a component is . or .."`.
    public var description: String {
        switch self {
        case .empty: return "the name is empty"
        case .pathTooLong(let bytes, let limit): return "the path is \(bytes) bytes, more than the limit of \(limit)"
        case .containsNUL: return "the name contains a NUL byte"
        case .emptyComponent: return "the name has an empty component (leading, trailing or doubled /)"
        case .dotComponent: return "a component is . or .."
        case .componentTooLong(let bytes, let limit):
            return "a component is \(bytes) bytes, more than the limit of \(limit)"
        case .invalidUTF8: return "the name is not valid UTF-8"
        }
    }
}

/// What is wrong with one entry of an archive.
public enum ArchiveEntryProblem: Equatable, Sendable, CustomStringConvertible {
    /// The name's offset and length do not lie inside the names area (or the length is 0).
    case nameOutOfBounds
    /// The name breaks the naming rules.
    case invalidName(ArchivePathProblem)
    /// The kind byte is neither 1 (file) nor 2 (directory).
    case unknownKind(Int)
    /// A reserved byte is not zero.
    case reservedNotZero
    /// The name does not sort strictly after the previous entry's (out of order, or a duplicate).
    case notSorted
    /// The parent directory is not an earlier entry.
    case missingParent
    /// The parent is a file.
    case parentNotADirectory
    /// A directory with a data offset, size or digest.
    case directoryWithData
    /// File data not on a 16-byte boundary.
    case misalignedData
    /// File data reaching beyond the archive.
    case dataOutOfBounds
    /// File data starting before the previous file's data ends.
    case overlappingData

    /// A short phrase.
    public var description: String {
        switch self {
        case .nameOutOfBounds: return "name outside the names area"
        case .invalidName(let problem): return "invalid name: \(problem)"
        case .unknownKind(let kind): return "unknown kind \(kind)"
        case .reservedNotZero: return "reserved bytes are not zero"
        case .notSorted: return "not sorted after the previous entry (or a duplicate)"
        case .missingParent: return "its parent directory is not an earlier entry"
        case .parentNotADirectory: return "its parent is a file"
        case .directoryWithData: return "a directory with data"
        case .misalignedData: return "data not 16-byte aligned"
        case .dataOutOfBounds: return "data beyond the end of the archive"
        case .overlappingData: return "data overlapping the previous file's"
        }
    }
}

/// Why bytes are not a valid archive. Nothing is read beyond the buffer, and nothing traps.
public enum ArchiveError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The buffer is shorter than the header or than the declared total length.
    case truncated(needed: Int, available: Int)
    /// The first eight bytes are not the magic.
    case badMagic
    /// A version this reader does not know.
    case unsupportedVersion(Int)
    /// A header field holds a value the format does not allow.
    case badHeaderField(ArchiveHeaderField)
    /// More entries than `EmbeddedArchive.maxEntries`.
    case tooManyEntries(count: Int, limit: Int)
    /// The header checksum does not match the header, table and names.
    case headerChecksumMismatch
    /// Entry `index` is malformed.
    case badEntry(index: Int, problem: ArchiveEntryProblem)
    /// File `index`'s bytes do not match the SHA-256 recorded for them.
    case contentChecksumMismatch(index: Int)

    /// A sentence.
    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "archive truncated: \(needed) bytes needed, \(available) available"
        case .badMagic: return "not an embedded archive (bad magic)"
        case .unsupportedVersion(let version): return "unsupported archive version \(version)"
        case .badHeaderField(let field): return "archive header: bad \(field)"
        case .tooManyEntries(let count, let limit): return "archive has \(count) entries, more than the limit of \(limit)"
        case .headerChecksumMismatch: return "archive header checksum mismatch"
        case .badEntry(let index, let problem): return "archive entry \(index): \(problem)"
        case .contentChecksumMismatch(let index): return "archive entry \(index): contents do not match their SHA-256"
        }
    }
}

// MARK: - Writing

/// Builds an archive (see `EmbeddedArchive` for the format) from files and directories added in any order.
///
/// Missing parent directories are added automatically. Names are checked as they are added
/// (`EmbeddedArchive.validatePath`), and so are the limits, so `bytes()` cannot fail.
public struct EmbeddedArchiveWriter {
    /// Bounds a writer enforces while entries are added.
    public struct Limits: Sendable {
        /// Most entries (files and directories, implied parents included). Default 65,536 (RamFS's import default).
        public var maxEntries: Int
        /// Most bytes of all files together. Default 512 MiB.
        public var maxTotalFileBytes: Int

        /// Limits; each has a default. `maxEntries` is capped at `EmbeddedArchive.maxEntries`.
        public init(maxEntries: Int = 65_536, maxTotalFileBytes: Int = 512 << 20) {
            self.maxEntries = min(maxEntries, EmbeddedArchive.maxEntries)
            self.maxTotalFileBytes = maxTotalFileBytes
        }
    }

    /// One pending entry.
    struct Pending {
        var path: [UInt8]
        var contents: [UInt8]?  // nil for a directory
    }

    /// The limits in force.
    public let limits: Limits
    private var entries: [Pending] = []
    private var indexByPath: [[UInt8]: Int] = [:]
    /// Bytes of all files added so far.
    public private(set) var totalFileBytes = 0
    /// Bytes of all names so far (the names area, bounded by its 32-bit length field).
    private var totalNameBytes = 0

    /// An empty writer.
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Entries added so far (implied parent directories included).
    public var entryCount: Int { entries.count }

    /// Adds a directory (and its missing parents). Adding an existing directory again changes nothing.
    public mutating func addDirectory(_ path: [UInt8]) throws(ArchiveWriteError) {
        try check(path)
        if let existing = indexByPath[path] {
            if entries[existing].contents == nil { return }
            throw .conflict(path: path)
        }
        try add(Pending(path: path, contents: nil))
    }

    /// Adds a regular file holding `contents` (and its missing parent directories).
    public mutating func addFile(_ path: [UInt8], contents: [UInt8]) throws(ArchiveWriteError) {
        try check(path)
        if indexByPath[path] != nil { throw .conflict(path: path) }
        guard contents.count <= limits.maxTotalFileBytes - totalFileBytes else {
            throw .tooManyBytes(limit: limits.maxTotalFileBytes)
        }
        try add(Pending(path: path, contents: contents))
        totalFileBytes += contents.count
    }

    /// Adds a directory given as a string path.
    public mutating func addDirectory(_ path: String) throws(ArchiveWriteError) { try addDirectory(Array(path.utf8)) }

    /// Adds a file given as a string path.
    public mutating func addFile(_ path: String, contents: [UInt8]) throws(ArchiveWriteError) {
        try addFile(Array(path.utf8), contents: contents)
    }

    private func check(_ path: [UInt8]) throws(ArchiveWriteError) {
        let problem = path.withUnsafeBytes { EmbeddedArchive.validatePath($0) }
        if let problem { throw .invalidPath(path: path, problem: problem) }
    }

    /// Appends `entry` after its missing parents, or nothing if a limit or a file in the way forbids it.
    private mutating func add(_ entry: Pending) throws(ArchiveWriteError) {
        var missing: [[UInt8]] = []
        var nameBytes = entry.path.count
        for i in entry.path.indices where entry.path[i] == 0x2F {
            let parent = Array(entry.path[0..<i])
            if let existing = indexByPath[parent] {
                if entries[existing].contents != nil { throw .conflict(path: parent) }
            } else {
                nameBytes += parent.count
                missing.append(parent)
            }
        }
        guard entries.count + missing.count + 1 <= limits.maxEntries else {
            throw .tooManyEntries(limit: limits.maxEntries)
        }
        guard nameBytes <= Int(UInt32.max) - totalNameBytes else { throw .namesTooLong }
        totalNameBytes += nameBytes
        for parent in missing {
            indexByPath[parent] = entries.count
            entries.append(Pending(path: parent, contents: nil))
        }
        indexByPath[entry.path] = entries.count
        entries.append(entry)
    }

    /// The archive's bytes: entries sorted by name, file data 16-aligned in entry order, digests and header checksum
    /// filled in.
    public func bytes() -> [UInt8] {
        var order = Array(entries.indices)
        order.sort { entries[$0].path.lexicographicallyPrecedes(entries[$1].path) }
        let count = order.count
        var namesLength = 0
        for entry in entries { namesLength += entry.path.count }
        let namesStart = 80 + 64 * count
        let dataStart = EmbeddedArchive.alignUp(namesStart + namesLength)
        var dataLength = 0
        for entry in entries { if let contents = entry.contents { dataLength = EmbeddedArchive.alignUp(dataLength + contents.count) } }
        let total = dataStart + dataLength
        var out = [UInt8](repeating: 0, count: total)
        out.withUnsafeMutableBytes { b in
            func store16(_ v: UInt16, _ at: Int) { b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt16.self) }
            func store32(_ v: UInt32, _ at: Int) { b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt32.self) }
            func store64(_ v: UInt64, _ at: Int) { b.storeBytes(of: v.littleEndian, toByteOffset: at, as: UInt64.self) }
            let m = EmbeddedArchive.magic
            for (i, byte) in [m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7].enumerated() { b[i] = byte }
            store16(EmbeddedArchive.version, 8)
            store16(80, 10)
            store16(64, 12)
            store32(UInt32(count), 16)
            store32(UInt32(namesLength), 20)
            store64(UInt64(dataStart), 24)
            store64(UInt64(total), 32)
            var nameCursor = 0
            var dataCursor = 0
            for (position, index) in order.enumerated() {
                let entry = entries[index]
                let e = 80 + 64 * position
                store32(UInt32(nameCursor), e)
                store16(UInt16(entry.path.count), e + 4)
                for (k, byte) in entry.path.enumerated() { b[namesStart + nameCursor + k] = byte }
                nameCursor += entry.path.count
                if let contents = entry.contents {
                    b[e + 6] = EmbeddedArchive.kindFile
                    store64(UInt64(dataCursor), e + 8)
                    store64(UInt64(contents.count), e + 16)
                    contents.withUnsafeBytes { source in
                        if let base = source.baseAddress, !source.isEmpty {
                            (b.baseAddress! + dataStart + dataCursor).copyMemory(from: base, byteCount: source.count)
                        }
                        SHA256.hash(source).write(to: UnsafeMutableRawBufferPointer(rebasing: b[(e + 24)..<(e + 56)]))
                    }
                    dataCursor = EmbeddedArchive.alignUp(dataCursor + contents.count)
                } else {
                    b[e + 6] = EmbeddedArchive.kindDirectory
                }
            }
            var checksum = SHA256()
            checksum.update(UnsafeRawBufferPointer(rebasing: b[0..<48]))
            checksum.update(UnsafeRawBufferPointer(rebasing: b[80..<dataStart]))
            checksum.finalize().write(to: UnsafeMutableRawBufferPointer(rebasing: b[48..<80]))
        }
        return out
    }

    /// The bytes of the archive with no entries (what the linker script places in every image).
    public static var emptyArchive: [UInt8] { EmbeddedArchiveWriter().bytes() }
}

/// Why the writer refused an entry. Nothing was added.
public enum ArchiveWriteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The name breaks the naming rules.
    case invalidPath(path: [UInt8], problem: ArchivePathProblem)
    /// The path is already taken by an entry of another kind, or by a file; or a file is needed as a directory.
    case conflict(path: [UInt8])
    /// Adding the entry would exceed `Limits.maxEntries`.
    case tooManyEntries(limit: Int)
    /// Adding the file would exceed `Limits.maxTotalFileBytes`.
    case tooManyBytes(limit: Int)
    /// The names together would exceed the 32-bit length of the names area (4 GiB).
    case namesTooLong

    /// A sentence naming the path.
    public var description: String {
        switch self {
        case .invalidPath(let path, let problem):
            return "cannot store '\(String(decoding: path, as: UTF8.self))': \(problem)"
        case .conflict(let path):
            return "'\(String(decoding: path, as: UTF8.self))' is both a file and a directory, or added twice"
        case .tooManyEntries(let limit): return "more than \(limit) entries"
        case .tooManyBytes(let limit): return "more than \(limit) bytes of file data"
        case .namesTooLong: return "the names together exceed 4 GiB"
        }
    }
}

// MARK: - Mounting

extension RamFS {
    /// How `importArchive` gives the files their bytes.
    public enum ArchiveContents: Sendable {
        /// Each file reads the archive's memory in place; the first write to a file copies it into pages
        /// (copy-on-write). The archive's memory must stay valid and unchanged for the file system's lifetime: true
        /// of the archive linked into the image (`System.embeddedArchive`), never of a temporary buffer.
        case unsafeBorrowed
        /// Each file gets a copy, charged to the memory budget.
        case copied
    }

    /// Creates the archive's tree under `mountPoint` (an absolute directory path, created if missing) in one
    /// all-or-nothing `importTree`. The archive was validated when it was opened, so its entries form a tree; the
    /// import can still fail on this file system's state (an existing file in the way), its limits (a long mount
    /// point makes paths longer), or its memory budget (`.copied`, and 256 bytes plus the name per entry).
    ///
    /// No file data is copied with `.unsafeBorrowed`; the call allocates one path string per entry.
    @discardableResult
    public func importArchive(_ archive: EmbeddedArchive, at mountPoint: FilePath = "/",
                              contents: ArchiveContents) throws(ImportError) -> ImportSummary {
        var prefix = Array(mountPoint.string.utf8)
        while let last = prefix.last, last == 0x2F { prefix.removeLast() }
        var entries: [ImportEntry] = []
        entries.reserveCapacity(archive.count + 1)
        if !prefix.isEmpty { entries.append(.directory(mountPoint)) }
        prefix.append(0x2F)
        for entry in archive {
            var full = prefix
            full.append(contentsOf: entry.path)
            let path = FilePath(decoding: full)
            switch (entry.kind, contents) {
            case (.directory, _): entries.append(.directory(path))
            case (.regularFile, .unsafeBorrowed): entries.append(ImportEntry(path: path, contents: .unsafeBorrowed(entry.contents)))
            case (.regularFile, .copied): entries.append(.file(path, Array(entry.contents)))
            }
        }
        let limits = ImportLimits(maxEntries: max(entries.count, 1), maxFileSize: Int.max, maxTotalBytes: Int.max)
        return try importTree(entries, limits: limits)
    }
}
