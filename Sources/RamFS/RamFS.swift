import Interfaces

/// An in-memory file system: the `FileSystem` protocol over files held in 4096-byte pages on the heap.
///
/// ```swift
/// let fs = RamFS(configuration: .init(memoryLimit: 8 << 20), lock: schedulerMutex, clock: { rtc.now })
/// try fs.createDirectory("/www")
/// try fs.createFile("/www/index.html", contents: Array("<h1>hi</h1>".utf8))
/// ```
///
/// Behaviour (POSIX, and Linux where POSIX leaves a choice; the differences kept on purpose are listed at the end):
/// - **Data** lives in pages allocated on the first write that touches them; unwritten ranges (holes) read as zeros
///   and cost nothing, so `truncate` to a larger size is free.
/// - **Memory budget**: `Configuration.memoryLimit` bounds `usage.usedBytes`, which counts 4096 bytes per data page,
///   8 bytes per page-table slot (`ceil(highest written offset / 4096)` slots per file), and
///   `RamFS.nodeOverhead` (256) bytes plus the name's length per file or directory. An operation that would exceed
///   it fails with `noSpace` and changes nothing (a write is all-or-nothing). The budget bounds what RamFS asks of
///   the heap; it is an estimate of heap use, not an exact measure.
/// - **Limits**: names at most `maxNameLength` bytes (default 255, Linux `NAME_MAX`), paths at most
///   `maxPathLength` bytes (default 4095: Linux `PATH_MAX` less the NUL), files at most `maxFileSize` bytes,
///   at most `maxOpenFiles` descriptors at a time.
/// - **Unlinked but open**: removing or replacing (by `rename`) a file or directory that is open keeps it alive
///   for its descriptors, which can still read, write and `stat` it (link count 0); its memory is released when the
///   last descriptor closes.
/// - **Times** come from the `clock` closure given at construction: creation sets all four; `write`, truncation and
///   `open` with `.truncate` set modification and status-change time; reads and listings set access time; adding or
///   removing a name sets the directory's modification time; `rename` sets the moved entry's status-change time.
/// - **Threads**: every public operation holds `lock` from start to end, so with a real mutex (the Scheduler's)
///   concurrent callers see operations as atomic and in some order. With the default `NoLock`, one thread only.
///
/// Differences from Linux tmpfs kept on purpose:
/// - `pwrite` on a descriptor opened with `.append` writes at the given offset (POSIX); Linux appends.
/// - `.truncate` without write access, and `.exclusive` without `.create`, are `invalidArgument`; Linux truncates
///   and ignores, respectively. `.append` implies write access.
/// - `stat` of a directory reports size 0 (tmpfs reports 20 bytes per entry).
/// - A write that would exceed the budget or `maxFileSize` fails whole; Linux may write part of it.
/// - Path length, component lengths and NUL bytes are checked for the whole path before it is walked.
public final class RamFS: FileSystem {
    /// Limits of one RamFS instance.
    public struct Configuration: Sendable {
        /// Upper bound of `usage.usedBytes` (see the type's documentation for what it counts). Default 64 MiB.
        public var memoryLimit: Int
        /// Descriptors that may be open at once; more is `tooManyOpenFiles`. Default 256.
        public var maxOpenFiles: Int
        /// Longest name (path component), in bytes. Default 255.
        public var maxNameLength: Int
        /// Longest path, in bytes. Default 4095.
        public var maxPathLength: Int
        /// Largest file size in bytes; writes and truncations beyond it are `fileTooLarge`. Default 2^40.
        public var maxFileSize: Int

        /// A configuration; every limit has a default.
        public init(memoryLimit: Int = 64 << 20, maxOpenFiles: Int = 256, maxNameLength: Int = 255,
                    maxPathLength: Int = 4095, maxFileSize: Int = 1 << 40) {
            self.memoryLimit = memoryLimit
            self.maxOpenFiles = maxOpenFiles
            self.maxNameLength = maxNameLength
            self.maxPathLength = maxPathLength
            self.maxFileSize = maxFileSize
        }
    }

    /// How much of its budget a RamFS uses.
    public struct Usage: Equatable, Sendable, CustomStringConvertible {
        /// Bytes counted against `memoryLimit`.
        public var usedBytes: Int
        /// `Configuration.memoryLimit`.
        public var limit: Int
        /// Files and directories alive (including the root and unlinked files still open).
        public var nodes: Int
        /// Data pages allocated.
        public var pages: Int
        /// Descriptors open.
        public var openDescriptors: Int

        /// e.g. `"12288/65536 bytes, 3 nodes, 2 pages, 1 open"`.
        public var description: String {
            "\(usedBytes)/\(limit) bytes, \(nodes) nodes, \(pages) pages, \(openDescriptors) open"
        }
    }

    /// Budget bytes charged per file or directory, besides its name: the node object, its directory entry and
    /// hash slots, and allocator slack.
    public static let nodeOverhead = 256
    /// Budget bytes charged per page-table slot of a file.
    public static let pageSlotOverhead = 8
    /// Bytes per data page.
    public static let pageSize = 4096

    /// The limits this instance enforces.
    public let configuration: Configuration

    /// One open file: what a descriptor number refers to.
    struct OpenFile {
        var node: Node
        var offset: Int
        var canRead: Bool
        var canWrite: Bool
        var append: Bool
    }

    let lock: any Lock
    let clock: () -> WallTime
    let limits: PathLimits
    let root: Node
    private var descriptors: [OpenFile?] = []
    private var lowestFreeDescriptor = 0
    private var openDescriptorCount = 0
    private var usedBytes = 0
    private var nodeCount = 0
    private var pageCount = 0
    private var nextIdentifier: UInt64 = 1
    var readOnly = false

    /// A file system holding only an empty root directory.
    ///
    /// - Parameters:
    ///   - configuration: limits.
    ///   - lock: held for every operation; pass the scheduler's mutex when several threads share the file system.
    ///   - clock: the wall-clock time for timestamps (called at most once per operation).
    public init(configuration: Configuration = Configuration(), lock: any Lock = NoLock(),
                clock: @escaping () -> WallTime = { WallTime(secondsSinceEpoch: 0) }) {
        self.configuration = configuration
        self.lock = lock
        self.clock = clock
        limits = PathLimits(maxPathLength: configuration.maxPathLength, maxNameLength: configuration.maxNameLength)
        root = Node(identifier: 1, isDirectory: true, now: clock())
        nextIdentifier = 2
        nodeCount = 1
        usedBytes = RamFS.nodeOverhead
    }

    deinit {
        // Directories refer to their parents strongly; break those cycles so every node is freed.
        var stack = [root]
        while let directory = stack.popLast() {
            directory.parent = nil
            for entry in directory.entries.entries where entry.node.isDirectory { stack.append(entry.node) }
        }
        for case let open? in descriptors { open.node.parent = nil }
    }

    /// Current use of the memory budget.
    public var usage: Usage {
        lock.lock()
        defer { lock.unlock() }
        return Usage(usedBytes: usedBytes, limit: configuration.memoryLimit, nodes: nodeCount, pages: pageCount,
                     openDescriptors: openDescriptorCount)
    }

    /// Whether every modifying operation fails with `readOnly` (reads still work). Set it after importing build-time
    /// content to freeze the tree. Descriptors already open for writing can no longer write.
    public var isReadOnly: Bool {
        get {
            lock.lock()
            defer { lock.unlock() }
            return readOnly
        }
        set {
            lock.lock()
            defer { lock.unlock() }
            readOnly = newValue
        }
    }

    // MARK: - FileSystem

    /// `open(2)`. Checks, in Linux's order: the options (`invalidArgument`), a free descriptor (`tooManyOpenFiles`),
    /// the path; with `.create`, a trailing slash or a directory is `isADirectory` and, with `.exclusive`, an
    /// existing entry `fileExists`; creating needs `RamFS.nodeOverhead` + name bytes of budget (`noSpace`).
    public func open(_ path: FilePath, _ options: OpenOptions) throws(FileSystemError) -> FileDescriptor {
        try locked { path.withUnsafeBytes { openLocked($0, options) } }
    }

    /// `close(2)`. Frees an unlinked file's memory if this was its last descriptor.
    public func close(_ descriptor: FileDescriptor) throws(FileSystemError) {
        try locked { () -> Result<Void, FileSystemError> in
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let node = descriptors[index]!.node
            descriptors[index] = nil
            openDescriptorCount -= 1
            if index < lowestFreeDescriptor { lowestFreeDescriptor = index }
            node.openCount -= 1
            releaseIfUnreachable(node)
            return .success(())
        }
    }

    /// `read(2)`. `badFileDescriptor` if not open for reading, `isADirectory` for a directory. Sets the access time.
    public func read(_ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer)
        throws(FileSystemError) -> Int
    {
        try locked { () -> Result<Int, FileSystemError> in
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let open = descriptors[index]!
            guard open.canRead else { return .failure(.badFileDescriptor) }
            guard !open.node.isDirectory else { return .failure(.isADirectory) }
            let count = open.node.read(at: open.offset, into: buffer)
            descriptors[index]!.offset = open.offset + count
            if !buffer.isEmpty { open.node.accessTime = clock() }
            return .success(count)
        }
    }

    /// `pread(2)`. A negative offset is `invalidArgument`.
    public func read(_ descriptor: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        throws(FileSystemError) -> Int
    {
        try locked { () -> Result<Int, FileSystemError> in
            guard offset >= 0 else { return .failure(.invalidArgument) }
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let open = descriptors[index]!
            guard open.canRead else { return .failure(.badFileDescriptor) }
            guard !open.node.isDirectory else { return .failure(.isADirectory) }
            let count = open.node.read(at: Int(offset), into: buffer)
            if !buffer.isEmpty { open.node.accessTime = clock() }
            return .success(count)
        }
    }

    /// `write(2)`, all or nothing: `noSpace` if the new pages do not fit the budget, `fileTooLarge` past
    /// `maxFileSize`, `readOnly` on a read-only file system; then nothing changed. An empty write changes nothing,
    /// not even the offset of an `.append` descriptor.
    public func write(_ descriptor: FileDescriptor, from buffer: UnsafeRawBufferPointer) throws(FileSystemError) -> Int {
        try locked { () -> Result<Int, FileSystemError> in
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let open = descriptors[index]!
            guard open.canWrite else { return .failure(.badFileDescriptor) }
            // Writing nothing has "no other results" (POSIX write(2)): not even an append's move to the end.
            if buffer.isEmpty { return .success(0) }
            let position = open.append ? open.node.size : open.offset
            switch writeLocked(open.node, at: position, buffer) {
            case .failure(let error): return .failure(error)
            case .success:
                descriptors[index]!.offset = position + buffer.count
                return .success(buffer.count)
            }
        }
    }

    /// `pwrite(2)`, all or nothing like `write(_:from:)`. Writes at `offset` even on an `.append` descriptor (POSIX;
    /// Linux appends).
    public func write(_ descriptor: FileDescriptor, from buffer: UnsafeRawBufferPointer, at offset: Int64)
        throws(FileSystemError) -> Int
    {
        try locked { () -> Result<Int, FileSystemError> in
            guard offset >= 0 else { return .failure(.invalidArgument) }
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let open = descriptors[index]!
            guard open.canWrite else { return .failure(.badFileDescriptor) }
            guard offset <= Int64(configuration.maxFileSize) else { return .failure(.fileTooLarge) }
            switch writeLocked(open.node, at: Int(offset), buffer) {
            case .failure(let error): return .failure(error)
            case .success: return .success(buffer.count)
            }
        }
    }

    /// `lseek(2)`. A result below zero, above `maxFileSize`, or overflowing is `invalidArgument`. A directory's end
    /// is 0.
    public func seek(_ descriptor: FileDescriptor, to offset: Int64, from origin: SeekOrigin)
        throws(FileSystemError) -> Int64
    {
        try locked { () -> Result<Int64, FileSystemError> in
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let open = descriptors[index]!
            let base: Int
            switch origin {
            case .start: base = 0
            case .current: base = open.offset
            case .end: base = open.node.isDirectory ? 0 : open.node.size
            }
            let (target, overflow) = Int64(base).addingReportingOverflow(offset)
            guard !overflow, target >= 0, target <= Int64(configuration.maxFileSize) else {
                return .failure(.invalidArgument)
            }
            descriptors[index]!.offset = Int(target)
            return .success(target)
        }
    }

    /// `truncate(2)`: `invalidArgument` for a negative size, `isADirectory` for a directory, `fileTooLarge` past
    /// `maxFileSize`. Growing allocates nothing; shrinking frees whole pages past the end.
    public func truncate(_ path: FilePath, to size: Int64) throws(FileSystemError) {
        try locked {
            path.withUnsafeBytes { bytes -> Result<Void, FileSystemError> in
                guard size >= 0 else { return .failure(.invalidArgument) }
                switch PathResolver.lookup(bytes, root: root, limits: limits) {
                case .failure(let error): return .failure(error)
                case .success(let node):
                    guard !node.isDirectory else { return .failure(.isADirectory) }
                    return truncateLocked(node, to: size)
                }
            }
        }
    }

    /// `ftruncate(2)`: `invalidArgument` unless the descriptor is a regular file open for writing (as Linux).
    public func truncate(_ descriptor: FileDescriptor, to size: Int64) throws(FileSystemError) {
        try locked { () -> Result<Void, FileSystemError> in
            guard size >= 0 else { return .failure(.invalidArgument) }
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            let open = descriptors[index]!
            guard open.canWrite, !open.node.isDirectory else { return .failure(.invalidArgument) }
            return truncateLocked(open.node, to: size)
        }
    }

    /// `stat(2)`. Directories report size 0.
    public func stat(_ path: FilePath) throws(FileSystemError) -> FileStatus {
        try locked {
            path.withUnsafeBytes { bytes -> Result<FileStatus, FileSystemError> in
                PathResolver.lookup(bytes, root: root, limits: limits).map { $0.status }
            }
        }
    }

    /// `fstat(2)`; works on unlinked files and removed directories (link count 0).
    public func stat(_ descriptor: FileDescriptor) throws(FileSystemError) -> FileStatus {
        try locked { () -> Result<FileStatus, FileSystemError> in
            guard let index = descriptorIndex(descriptor) else { return .failure(.badFileDescriptor) }
            return .success(descriptors[index]!.node.status)
        }
    }

    /// `mkdir(2)`: `fileExists` if the name exists or is `/`, `.` or `..`; costs `RamFS.nodeOverhead` + name bytes.
    public func createDirectory(_ path: FilePath) throws(FileSystemError) {
        try locked {
            path.withUnsafeBytes { bytes -> Result<Void, FileSystemError> in
                let parent: ParentLookup
                switch PathResolver.lookupParent(bytes, root: root, limits: limits) {
                case .failure(let error): return .failure(error)
                case .success(let found): parent = found
                }
                guard case .name(let range) = parent.last else { return .failure(.fileExists) }
                let name = UnsafeRawBufferPointer(rebasing: bytes[range])
                guard parent.directory.entries.find(name) == nil else { return .failure(.fileExists) }
                guard !readOnly else { return .failure(.readOnly) }
                return createNode(in: parent.directory, name: name, isDirectory: true, now: clock()).map { _ in () }
            }
        }
    }

    /// `rmdir(2)`: `busy` for the root, `invalidArgument` for a last component `.`, `directoryNotEmpty` for `..` or
    /// a directory with entries, `notADirectory` for a file.
    public func removeDirectory(_ path: FilePath) throws(FileSystemError) {
        try locked {
            path.withUnsafeBytes { bytes -> Result<Void, FileSystemError> in
                let parent: ParentLookup
                switch PathResolver.lookupParent(bytes, root: root, limits: limits) {
                case .failure(let error): return .failure(error)
                case .success(let found): parent = found
                }
                let range: Range<Int>
                switch parent.last {
                case .root: return .failure(.busy)
                case .dot: return .failure(.invalidArgument)
                case .dotDot: return .failure(.directoryNotEmpty)
                case .name(let r): range = r
                }
                guard !readOnly else { return .failure(.readOnly) }
                let name = UnsafeRawBufferPointer(rebasing: bytes[range])
                guard let index = parent.directory.entries.find(name) else { return .failure(.noSuchFileOrDirectory) }
                let node = parent.directory.entries.entries[index].node
                guard node.isDirectory else { return .failure(.notADirectory) }
                guard node.entries.isEmpty else { return .failure(.directoryNotEmpty) }
                removeEntry(at: index, in: parent.directory, now: clock())
                return .success(())
            }
        }
    }

    /// `readdir(3)` of a whole directory: names in insertion order, except that removals move the last entry into
    /// the gap. Sets the directory's access time.
    public func readDirectory(_ path: FilePath) throws(FileSystemError) -> [DirectoryEntry] {
        try locked {
            path.withUnsafeBytes { bytes -> Result<[DirectoryEntry], FileSystemError> in
                let node: Node
                switch PathResolver.lookup(bytes, root: root, limits: limits) {
                case .failure(let error): return .failure(error)
                case .success(let found): node = found
                }
                guard node.isDirectory else { return .failure(.notADirectory) }
                var listing: [DirectoryEntry] = []
                listing.reserveCapacity(node.entries.count)
                for entry in node.entries.entries {
                    listing.append(DirectoryEntry(
                        name: String(decoding: entry.name, as: UTF8.self),
                        kind: entry.node.isDirectory ? .directory : .regularFile))
                }
                node.accessTime = clock()
                return .success(listing)
            }
        }
    }

    /// `unlink(2)`: `isADirectory` for a directory (and for `/`, `.`, `..`), `notADirectory` for `file/`. The data
    /// lives on while descriptors refer to it.
    public func unlink(_ path: FilePath) throws(FileSystemError) {
        try locked {
            path.withUnsafeBytes { bytes -> Result<Void, FileSystemError> in
                let parent: ParentLookup
                switch PathResolver.lookupParent(bytes, root: root, limits: limits) {
                case .failure(let error): return .failure(error)
                case .success(let found): parent = found
                }
                guard case .name(let range) = parent.last else { return .failure(.isADirectory) }
                guard !readOnly else { return .failure(.readOnly) }
                let name = UnsafeRawBufferPointer(rebasing: bytes[range])
                guard let index = parent.directory.entries.find(name) else { return .failure(.noSuchFileOrDirectory) }
                let node = parent.directory.entries.entries[index].node
                guard !node.isDirectory else { return .failure(.isADirectory) }
                // "name/" for a regular file (Linux checks this after the lookup).
                guard !parent.trailingSlash else { return .failure(.notADirectory) }
                removeEntry(at: index, in: parent.directory, now: clock())
                return .success(())
            }
        }
    }

    /// `rename(2)` with Linux's checks and their order: `busy` if either last component is `/`, `.` or `..`;
    /// `notADirectory` for a file with a trailing slash on either side; `invalidArgument` for a directory moved into
    /// itself or below; `directoryNotEmpty` when the target contains the source or has entries; `notADirectory` /
    /// `isADirectory` when a directory and a file would replace each other. Same entry: nothing happens.
    public func rename(_ source: FilePath, to destination: FilePath) throws(FileSystemError) {
        try locked {
            source.withUnsafeBytes { sourceBytes in
                destination.withUnsafeBytes { destinationBytes in
                    renameLocked(sourceBytes, destinationBytes)
                }
            }
        }
    }

    // MARK: - Operations (lock held)

    /// Runs `body` with the lock held and turns its result into a typed throw.
    @inline(__always)
    func locked<R>(_ body: () -> Result<R, FileSystemError>) throws(FileSystemError) -> R {
        lock.lock()
        let result = body()
        lock.unlock()
        return try result.get()
    }

    /// The table index of an open descriptor, or nil.
    @inline(__always)
    private func descriptorIndex(_ descriptor: FileDescriptor) -> Int? {
        let index = Int(descriptor.rawValue)
        guard index >= 0, index < descriptors.count, descriptors[index] != nil else { return nil }
        return index
    }

    private func openLocked(_ bytes: UnsafeRawBufferPointer, _ options: OpenOptions) -> Result<FileDescriptor, FileSystemError> {
        let writable = options.contains(.write) || options.contains(.append)
        guard writable || options.contains(.read) else { return .failure(.invalidArgument) }
        guard !options.contains(.exclusive) || options.contains(.create) else { return .failure(.invalidArgument) }
        guard !options.contains(.truncate) || writable else { return .failure(.invalidArgument) }
        // Like Linux, the descriptor is reserved before the path is looked at.
        guard openDescriptorCount < configuration.maxOpenFiles else { return .failure(.tooManyOpenFiles) }
        let parent: ParentLookup
        switch PathResolver.lookupParent(bytes, root: root, limits: limits) {
        case .failure(let error): return .failure(error)
        case .success(let found): parent = found
        }
        var node: Node
        var created = false
        if options.contains(.create) {
            guard case .name(let range) = parent.last else {
                // "/", "." or "..": an existing directory.
                return .failure(options.contains(.exclusive) ? .fileExists : .isADirectory)
            }
            guard !parent.trailingSlash else { return .failure(.isADirectory) }
            let name = UnsafeRawBufferPointer(rebasing: bytes[range])
            if let existing = parent.directory.entries.lookup(name) {
                guard !options.contains(.exclusive) else { return .failure(.fileExists) }
                guard !existing.isDirectory else { return .failure(.isADirectory) }
                node = existing
            } else {
                guard !readOnly else { return .failure(.readOnly) }
                switch createNode(in: parent.directory, name: name, isDirectory: false, now: clock()) {
                case .failure(let error): return .failure(error)
                case .success(let new): node = new
                }
                created = true
            }
        } else {
            switch PathResolver.final(parent, bytes, root: root) {
            case .failure(let error): return .failure(error)
            case .success(let found): node = found
            }
            if node.isDirectory, writable { return .failure(.isADirectory) }
        }
        if writable, readOnly { return .failure(.readOnly) }
        if options.contains(.truncate), !created {
            let released = node.truncate(to: 0)
            release(pages: released.pages, slots: released.slots)
            node.touchModified(clock())
        }
        let open = OpenFile(node: node, offset: 0, canRead: options.contains(.read), canWrite: writable,
                            append: options.contains(.append))
        node.openCount += 1
        openDescriptorCount += 1
        var index = lowestFreeDescriptor
        while index < descriptors.count, descriptors[index] != nil { index += 1 }
        if index == descriptors.count { descriptors.append(open) } else { descriptors[index] = open }
        lowestFreeDescriptor = index + 1
        return .success(FileDescriptor(rawValue: Int32(index)))
    }

    /// Writes `buffer` at `offset` in `node` (a regular file), all or nothing.
    func writeLocked(_ node: Node, at offset: Int, _ buffer: UnsafeRawBufferPointer) -> Result<Void, FileSystemError> {
        guard !readOnly else { return .failure(.readOnly) }
        if buffer.isEmpty { return .success(()) }
        let (end, overflow) = offset.addingReportingOverflow(buffer.count)
        guard !overflow, end <= configuration.maxFileSize else { return .failure(.fileTooLarge) }
        let growth = node.growthForWrite(at: offset, count: buffer.count)
        let cost = growth.pages * RamFS.pageSize + growth.slots * RamFS.pageSlotOverhead
        guard cost <= configuration.memoryLimit - usedBytes else { return .failure(.noSpace) }
        node.write(at: offset, from: buffer)
        usedBytes += cost
        pageCount += growth.pages
        node.touchModified(clock())
        return .success(())
    }

    /// Sets the length of `node` (a regular file) to `size` (>= 0).
    private func truncateLocked(_ node: Node, to size: Int64) -> Result<Void, FileSystemError> {
        guard !readOnly else { return .failure(.readOnly) }
        guard size <= Int64(configuration.maxFileSize) else { return .failure(.fileTooLarge) }
        let newSize = Int(size)
        guard newSize != node.size else { return .success(()) }
        let released = node.truncate(to: newSize)
        release(pages: released.pages, slots: released.slots)
        node.touchModified(clock())
        return .success(())
    }

    /// Adds a new empty file or directory called `name` to `directory`, charging the budget.
    func createNode(in directory: Node, name: UnsafeRawBufferPointer, isDirectory: Bool, now: WallTime)
        -> Result<Node, FileSystemError>
    {
        let cost = RamFS.nodeOverhead + name.count
        guard cost <= configuration.memoryLimit - usedBytes else { return .failure(.noSpace) }
        let node = Node(identifier: nextIdentifier, isDirectory: isDirectory, now: now)
        nextIdentifier += 1
        node.nameCost = name.count
        if isDirectory {
            node.parent = directory
            directory.subdirectoryCount += 1
        }
        directory.entries.insert(name, node)
        directory.touchModified(now)
        usedBytes += cost
        nodeCount += 1
        return .success(node)
    }

    /// Removes entry `index` of `directory`; its node is freed now, or at its last close if it is open.
    func removeEntry(at index: Int, in directory: Node, now: WallTime) {
        let node = directory.entries.entries[index].node
        directory.entries.remove(at: index)
        directory.touchModified(now)
        unlinked(node, from: directory, now: now)
    }

    /// Bookkeeping for `node` after its name in `directory` is gone.
    private func unlinked(_ node: Node, from directory: Node, now: WallTime) {
        if node.isDirectory {
            directory.subdirectoryCount -= 1
            node.parent = nil
        }
        node.isLinked = false
        node.statusChangeTime = now
        usedBytes -= node.nameCost
        node.nameCost = 0
        releaseIfUnreachable(node)
    }

    /// Frees the node's memory once no name and no descriptor refers to it.
    private func releaseIfUnreachable(_ node: Node) {
        guard !node.isLinked, node.openCount == 0 else { return }
        let released = node.releaseStorage()
        release(pages: released.pages, slots: released.slots)
        usedBytes -= RamFS.nodeOverhead
        nodeCount -= 1
    }

    /// Returns pages and page-table slots to the budget.
    @inline(__always)
    private func release(pages: Int, slots: Int) {
        usedBytes -= pages * RamFS.pageSize + slots * RamFS.pageSlotOverhead
        pageCount -= pages
    }

    /// `rename(2)` with Linux's order of checks (`do_renameat2`, `vfs_rename`).
    private func renameLocked(_ sourceBytes: UnsafeRawBufferPointer, _ destinationBytes: UnsafeRawBufferPointer)
        -> Result<Void, FileSystemError>
    {
        let from: ParentLookup
        switch PathResolver.lookupParent(sourceBytes, root: root, limits: limits) {
        case .failure(let error): return .failure(error)
        case .success(let found): from = found
        }
        let to: ParentLookup
        switch PathResolver.lookupParent(destinationBytes, root: root, limits: limits) {
        case .failure(let error): return .failure(error)
        case .success(let found): to = found
        }
        guard case .name(let sourceRange) = from.last, case .name(let destinationRange) = to.last else {
            return .failure(.busy)
        }
        guard !readOnly else { return .failure(.readOnly) }
        let sourceName = UnsafeRawBufferPointer(rebasing: sourceBytes[sourceRange])
        let destinationName = UnsafeRawBufferPointer(rebasing: destinationBytes[destinationRange])
        guard let source = from.directory.entries.lookup(sourceName) else { return .failure(.noSuchFileOrDirectory) }
        let target = to.directory.entries.lookup(destinationName)
        if !source.isDirectory, from.trailingSlash || to.trailingSlash { return .failure(.notADirectory) }
        // A directory cannot move into itself or below itself.
        if source.isDirectory, RamFS.isSameOrDescendant(to.directory, of: source) { return .failure(.invalidArgument) }
        // Nor can an entry be replaced by one of its own descendants (it is then not empty).
        if let target, RamFS.isSameOrDescendant(from.directory, of: target) { return .failure(.directoryNotEmpty) }
        if let target {
            if target === source { return .success(()) }
            if source.isDirectory {
                guard target.isDirectory else { return .failure(.notADirectory) }
                guard target.entries.isEmpty else { return .failure(.directoryNotEmpty) }
            } else if target.isDirectory {
                return .failure(.isADirectory)
            }
        }
        let extra = destinationName.count - source.nameCost - (target?.nameCost ?? 0)
        guard extra <= configuration.memoryLimit - usedBytes else { return .failure(.noSpace) }
        let now = clock()
        if let index = to.directory.entries.find(destinationName) {
            removeEntry(at: index, in: to.directory, now: now)
        }
        from.directory.entries.remove(at: from.directory.entries.find(sourceName)!)
        from.directory.touchModified(now)
        to.directory.entries.insert(destinationName, source)
        to.directory.touchModified(now)
        if source.isDirectory {
            from.directory.subdirectoryCount -= 1
            to.directory.subdirectoryCount += 1
            source.parent = to.directory
        }
        usedBytes += destinationName.count - source.nameCost
        source.nameCost = destinationName.count
        source.statusChangeTime = now
        return .success(())
    }

    /// Whether `node` is `ancestor` or lies below it.
    private static func isSameOrDescendant(_ node: Node, of ancestor: Node) -> Bool {
        var current: Node? = node
        while let directory = current {
            if directory === ancestor { return true }
            current = directory.parent
        }
        return false
    }
}
