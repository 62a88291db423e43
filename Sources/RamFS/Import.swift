import Interfaces

extension RamFS {
    /// What an imported path holds.
    public enum ImportContents {
        /// A directory (created if missing; an existing directory is kept as it is).
        case directory
        /// A regular file with a copy of these bytes (charged to the memory budget).
        case bytes([UInt8])
        /// A regular file that reads these bytes in place, without copying them, until its first modification copies
        /// them into pages. Only the copy is charged to the budget.
        ///
        /// The caller guarantees the memory stays valid and unchanged for the file system's lifetime: use it for
        /// data linked into the image (`.rodata`), never for a temporary buffer.
        case unsafeBorrowed(UnsafeRawBufferPointer)

        /// Bytes of file data (0 for a directory).
        var byteCount: Int {
            switch self {
            case .directory: return 0
            case .bytes(let bytes): return bytes.count
            case .unsafeBorrowed(let buffer): return buffer.count
            }
        }
    }

    /// One path to create by `importTree`.
    public struct ImportEntry {
        /// Where the entry goes; missing parent directories are created.
        public var path: FilePath
        /// What it holds.
        public var contents: ImportContents

        /// An entry for `path` holding `contents`.
        public init(path: FilePath, contents: ImportContents) {
            self.path = path
            self.contents = contents
        }

        /// A regular file with a copy of `bytes`.
        public static func file(_ path: FilePath, _ bytes: [UInt8]) -> ImportEntry {
            ImportEntry(path: path, contents: .bytes(bytes))
        }

        /// A directory.
        public static func directory(_ path: FilePath) -> ImportEntry {
            ImportEntry(path: path, contents: .directory)
        }
    }

    /// Bounds `importTree` checks before it changes anything (besides the memory budget, checked as it goes).
    public struct ImportLimits: Sendable {
        /// Most entries in one call. Default 65,536.
        public var maxEntries: Int
        /// Largest single file, in bytes. Default 16 MiB.
        public var maxFileSize: Int
        /// Most file bytes in one call (copied and borrowed together). Default 256 MiB.
        public var maxTotalBytes: Int

        /// Limits; each has a default.
        public init(maxEntries: Int = 65_536, maxFileSize: Int = 16 << 20, maxTotalBytes: Int = 256 << 20) {
            self.maxEntries = maxEntries
            self.maxFileSize = maxFileSize
            self.maxTotalBytes = maxTotalBytes
        }
    }

    /// What `importTree` created.
    public struct ImportSummary: Equatable, Sendable, CustomStringConvertible {
        /// Regular files created.
        public var files = 0
        /// Directories created (listed ones and missing parents; existing ones are not counted).
        public var directories = 0
        /// File bytes copied into pages.
        public var bytesCopied = 0
        /// File bytes served in place from borrowed memory.
        public var bytesBorrowed = 0

        /// An empty summary.
        public init() {}

        /// e.g. `"3 files, 2 directories, 100 bytes copied, 0 borrowed"`.
        public var description: String {
            "\(files) files, \(directories) directories, \(bytesCopied) bytes copied, \(bytesBorrowed) borrowed"
        }
    }

    /// Why `importTree` refused its entries. Nothing was changed.
    public enum ImportError: Error, Equatable, CustomStringConvertible {
        /// More entries than `ImportLimits.maxEntries`.
        case tooManyEntries(count: Int, limit: Int)
        /// Entry `index` is larger than `ImportLimits.maxFileSize`.
        case fileTooLarge(index: Int, size: Int, limit: Int)
        /// The files together exceed `ImportLimits.maxTotalBytes`.
        case tooManyBytes(total: Int, limit: Int)
        /// Entry `index` could not be created: an invalid path (`invalidArgument`, `nameTooLong`,
        /// `noSuchFileOrDirectory` for an empty path), a file where a directory is needed (`notADirectory`), a path
        /// that already exists as a file or twice in the list (`fileExists`), a file path naming a directory
        /// (`isADirectory`), the memory budget (`noSpace`), `fileTooLarge`, or a read-only file system.
        case failed(index: Int, error: FileSystemError)

        /// A sentence naming the entry and limit.
        public var description: String {
            switch self {
            case .tooManyEntries(let count, let limit): return "import of \(count) entries exceeds the limit of \(limit)"
            case .fileTooLarge(let index, let size, let limit):
                return "import entry \(index) has \(size) bytes, more than the limit of \(limit)"
            case .tooManyBytes(let total, let limit):
                return "import of \(total) bytes exceeds the limit of \(limit)"
            case .failed(let index, let error): return "import entry \(index): \(error)"
            }
        }
    }

    /// Creates a tree of directories and files in one locked operation: the way build-time content (a directory
    /// embedded in the image) becomes a file system.
    ///
    /// Entries are applied in order. Missing parent directories are created (like `mkdir -p`); a `.directory`
    /// entry that already exists is kept; a file entry must not exist yet. Paths resolve as everywhere else (`.`,
    /// `..`, repeated slashes). Consecutive entries in the same directory reuse its lookup, so a listing sorted by
    /// path costs one hash lookup per entry.
    ///
    /// All or nothing: `limits` are checked before anything changes, and if an entry fails (or the memory budget
    /// runs out) everything this call created is removed again before the error is thrown (the times of existing
    /// directories may have moved).
    @discardableResult
    public func importTree(_ entries: [ImportEntry], limits importLimits: ImportLimits = ImportLimits())
        throws(ImportError) -> ImportSummary
    {
        guard entries.count <= importLimits.maxEntries else {
            throw .tooManyEntries(count: entries.count, limit: importLimits.maxEntries)
        }
        var total = 0
        for (index, entry) in entries.enumerated() {
            let size = entry.contents.byteCount
            guard size <= importLimits.maxFileSize else {
                throw .fileTooLarge(index: index, size: size, limit: importLimits.maxFileSize)
            }
            total += size
            guard total <= importLimits.maxTotalBytes else {
                throw .tooManyBytes(total: total, limit: importLimits.maxTotalBytes)
            }
        }
        lock.lock()
        defer { lock.unlock() }
        var state = ImportState(now: clock())
        for (index, entry) in entries.enumerated() {
            let result = entry.path.withUnsafeBytes { importOne($0, entry.contents, &state) }
            if case .failure(let error) = result {
                // Newest first: each node is then the last entry of its directory, so removal moves nothing.
                for (directory, node) in state.created.reversed() {
                    let last = directory.entries.count - 1
                    precondition(directory.entries.entries[last].node === node, "import rollback out of order")
                    removeEntry(at: last, in: directory, now: state.now)
                }
                throw .failed(index: index, error: error)
            }
        }
        return state.summary
    }

    /// Progress of one `importTree` call.
    struct ImportState {
        /// The time stamped on everything created.
        var now: WallTime
        /// Every node created, with its directory, oldest first.
        var created: [(Node, Node)] = []
        var summary = ImportSummary()
        /// The bytes before the last component of the previous entry, and the directory they resolved to.
        var cachedPrefix: [UInt8] = []
        var cachedDirectory: Node?
    }

    /// Creates one entry (lock held).
    private func importOne(_ path: UnsafeRawBufferPointer, _ contents: ImportContents, _ state: inout ImportState)
        -> Result<Void, FileSystemError>
    {
        if let error = PathResolver.validate(path, limits: limits) { return .failure(error) }
        // The last component and the prefix before it.
        var end = path.count
        while end > 0, path[end - 1] == slashByte { end -= 1 }
        var start = end
        while start > 0, path[start - 1] != slashByte { start -= 1 }
        let trailingSlash = end < path.count && end > 0
        let prefix = UnsafeRawBufferPointer(rebasing: path[0..<start])

        let directory: Node
        if let cached = state.cachedDirectory, state.cachedPrefix.count == prefix.count,
           state.cachedPrefix.withUnsafeBytes({ $0.elementsEqual(prefix) }) {
            directory = cached
        } else {
            switch walkCreating(prefix, &state) {
            case .failure(let error): return .failure(error)
            case .success(let found): directory = found
            }
            state.cachedPrefix = Array(prefix)
            state.cachedDirectory = directory
        }

        let isDirectory: Bool
        if case .directory = contents { isDirectory = true } else { isDirectory = false }
        let existing: Node?
        let name = UnsafeRawBufferPointer(rebasing: path[start..<end])
        switch end == 0 ? LastComponent.root : PathResolver.classify(path, start..<end) {
        case .root: existing = root
        case .dot: existing = directory
        case .dotDot: existing = directory.parent ?? directory
        case .name:
            existing = directory.entries.lookup(name)
        }
        if let existing {
            if isDirectory, existing.isDirectory { return .success(()) }
            if !isDirectory, existing.isDirectory { return .failure(.isADirectory) }
            return .failure(trailingSlash ? .notADirectory : .fileExists)
        }
        if !isDirectory, trailingSlash { return .failure(.isADirectory) }
        guard !readOnly else { return .failure(.readOnly) }
        let node: Node
        switch createNode(in: directory, name: name, isDirectory: isDirectory, now: state.now) {
        case .failure(let error): return .failure(error)
        case .success(let created): node = created
        }
        state.created.append((directory, node))
        switch contents {
        case .directory:
            state.summary.directories += 1
        case .bytes(let bytes):
            let result = bytes.withUnsafeBytes { writeLocked(node, at: 0, $0) }
            if case .failure(let error) = result { return .failure(error) }
            state.summary.files += 1
            state.summary.bytesCopied += bytes.count
        case .unsafeBorrowed(let buffer):
            guard buffer.count <= configuration.maxFileSize else { return .failure(.fileTooLarge) }
            if !buffer.isEmpty {
                node.borrowed = buffer
                node.size = buffer.count
            }
            state.summary.files += 1
            state.summary.bytesBorrowed += buffer.count
        }
        return .success(())
    }

    /// Resolves every component of `prefix` (a path's directory part), creating missing directories.
    private func walkCreating(_ prefix: UnsafeRawBufferPointer, _ state: inout ImportState)
        -> Result<Node, FileSystemError>
    {
        var directory = root
        var index = 0
        while index < prefix.count {
            if prefix[index] == slashByte {
                index += 1
                continue
            }
            let start = index
            while index < prefix.count, prefix[index] != slashByte { index += 1 }
            switch PathResolver.classify(prefix, start..<index) {
            case .root, .dot: break
            case .dotDot: directory = directory.parent ?? directory
            case .name(let range):
                let name = UnsafeRawBufferPointer(rebasing: prefix[range])
                if let child = directory.entries.lookup(name) {
                    guard child.isDirectory else { return .failure(.notADirectory) }
                    directory = child
                } else {
                    guard !readOnly else { return .failure(.readOnly) }
                    switch createNode(in: directory, name: name, isDirectory: true, now: state.now) {
                    case .failure(let error): return .failure(error)
                    case .success(let created):
                        state.created.append((directory, created))
                        state.summary.directories += 1
                        directory = created
                    }
                }
            }
        }
        return .success(directory)
    }
}
