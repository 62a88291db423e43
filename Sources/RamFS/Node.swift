import Interfaces

/// Bytes in one page of file data.
let pageSize = 4096
/// `log2(pageSize)`.
let pageShift = 12

/// A file or directory (an inode). Owned by RamFS; every access happens under its lock.
///
/// A regular file's data lives in page-sized blocks allocated on demand: `pages[i]` holds bytes
/// `i * 4096 ..< (i + 1) * 4096`, and a missing page (nil, or beyond the array) reads as zeros. A file imported with
/// borrowed contents instead reads from `borrowed` until its first write, which copies it into pages.
///
/// Invariants (regular files):
/// - `pages.count <= ceil(size / 4096)`; `allocatedPageCount` is the number of non-nil pages.
/// - Bytes of an allocated page at or beyond `size` are zero, so growing the file exposes zeros.
/// - If `borrowed` is set, `pages` is empty and `borrowed.count <= size`; bytes past `borrowed.count` read as zeros.
final class Node {
    /// The `st_ino`-like number, unique for the file system's lifetime.
    let identifier: UInt64
    /// Whether this is a directory (else a regular file).
    let isDirectory: Bool
    /// Birth time.
    var creationTime: WallTime
    /// Last data change.
    var modificationTime: WallTime
    /// Last read.
    var accessTime: WallTime
    /// Last data or status change.
    var statusChangeTime: WallTime

    /// Whether a directory entry names this node (false once unlinked, removed or replaced).
    var isLinked = true
    /// Number of open descriptors referring to the node.
    var openCount = 0
    /// Bytes of `RamFS.usedBytes` charged for the node's name in its directory.
    var nameCost = 0

    // Regular files.

    /// Length in bytes.
    var size = 0
    /// Data pages (see the type's invariants).
    var pages: [UnsafeMutableRawPointer?] = []
    /// Number of non-nil entries in `pages`.
    var allocatedPageCount = 0
    /// Read-only bytes owned by someone else (the image), served until the first write.
    var borrowed: UnsafeRawBufferPointer?

    // Directories.

    /// The directory containing this one (nil for the root and for removed directories). A strong reference:
    /// RamFS clears it when a directory is removed and when the file system is torn down.
    var parent: Node?
    /// Names in this directory.
    var entries = DirectoryTable()
    /// Number of entries that are directories (for the link count).
    var subdirectoryCount = 0

    /// A new node with all four times set to `now`.
    init(identifier: UInt64, isDirectory: Bool, now: WallTime) {
        self.identifier = identifier
        self.isDirectory = isDirectory
        creationTime = now
        modificationTime = now
        accessTime = now
        statusChangeTime = now
    }

    deinit {
        for page in pages { page?.deallocate() }
    }

    /// Sets the data and status-change times.
    @inline(__always)
    func touchModified(_ now: WallTime) {
        modificationTime = now
        statusChangeTime = now
    }

    /// POSIX link count: 1 for a linked file, 2 + subdirectories for a linked directory, 0 once removed.
    var linkCount: Int {
        guard isLinked else { return 0 }
        return isDirectory ? 2 + subdirectoryCount : 1
    }

    /// What `stat` reports.
    var status: FileStatus {
        FileStatus(
            kind: isDirectory ? .directory : .regularFile, size: isDirectory ? 0 : Int64(size),
            allocatedBytes: Int64(allocatedPageCount * pageSize), linkCount: linkCount, identifier: identifier,
            creationTime: creationTime, modificationTime: modificationTime, accessTime: accessTime,
            statusChangeTime: statusChangeTime)
    }

    // MARK: - Data

    /// Copies up to `buffer.count` bytes starting at `offset` (>= 0) into `buffer`; returns how many (0 at or past
    /// the end). Holes read as zeros.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard offset < size, let destination = buffer.baseAddress else { return 0 }
        let count = Swift.min(buffer.count, size - offset)
        if let borrowed {
            var copied = 0
            if offset < borrowed.count, let source = borrowed.baseAddress {
                copied = Swift.min(count, borrowed.count - offset)
                destination.copyMemory(from: source + offset, byteCount: copied)
            }
            if copied < count {
                (destination + copied).initializeMemory(as: UInt8.self, repeating: 0, count: count - copied)
            }
            return count
        }
        var done = 0
        var position = offset
        while done < count {
            let index = position >> pageShift
            let within = position & (pageSize - 1)
            let chunk = Swift.min(pageSize - within, count - done)
            if index < pages.count, let page = pages[index] {
                (destination + done).copyMemory(from: page + within, byteCount: chunk)
            } else {
                (destination + done).initializeMemory(as: UInt8.self, repeating: 0, count: chunk)
            }
            done += chunk
            position += chunk
        }
        return count
    }

    /// The pages and page-table slots a write of `count` (> 0) bytes at `offset` would add, including copying
    /// borrowed contents into pages.
    func growthForWrite(at offset: Int, count: Int) -> (pages: Int, slots: Int) {
        let first = offset >> pageShift
        let last = (offset + count - 1) >> pageShift
        if let borrowed {
            let materialized = (borrowed.count + pageSize - 1) >> pageShift
            let beyond = last < materialized ? 0 : last - Swift.max(first, materialized) + 1
            return (materialized + beyond, Swift.max(materialized, last + 1))
        }
        var missing = 0
        for index in first...last where index >= pages.count || pages[index] == nil { missing += 1 }
        return (missing, Swift.max(0, last + 1 - pages.count))
    }

    /// Writes all of `buffer` (not empty) at `offset`, allocating pages as needed and extending `size`. The caller
    /// has checked that `growthForWrite` fits its budget; exactly that many pages are allocated.
    func write(at offset: Int, from buffer: UnsafeRawBufferPointer) {
        guard let source = buffer.baseAddress else { return }
        if borrowed != nil { materialize() }
        let count = buffer.count
        let last = (offset + count - 1) >> pageShift
        if pages.count <= last {
            pages.append(contentsOf: repeatElement(nil, count: last + 1 - pages.count))
        }
        var done = 0
        var position = offset
        while done < count {
            let index = position >> pageShift
            let within = position & (pageSize - 1)
            let chunk = Swift.min(pageSize - within, count - done)
            let page: UnsafeMutableRawPointer
            if let existing = pages[index] {
                page = existing
            } else {
                page = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
                if chunk != pageSize { page.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize) }
                pages[index] = page
                allocatedPageCount += 1
            }
            (page + within).copyMemory(from: source + done, byteCount: chunk)
            done += chunk
            position += chunk
        }
        if position > size { size = position }
    }

    /// Sets the length to `newSize` (>= 0), freeing pages past it and zeroing the cut part of the last page.
    /// Returns the pages and page-table slots released.
    func truncate(to newSize: Int) -> (pages: Int, slots: Int) {
        defer { size = newSize }
        if let borrowed {
            if newSize < borrowed.count { self.borrowed = UnsafeRawBufferPointer(rebasing: borrowed[0..<newSize]) }
            return (0, 0)
        }
        guard newSize < size else { return (0, 0) }
        let keep = (newSize + pageSize - 1) >> pageShift
        var freedPages = 0
        let freedSlots = Swift.max(0, pages.count - keep)
        if freedSlots > 0 {
            for index in keep..<pages.count {
                if let page = pages[index] {
                    page.deallocate()
                    freedPages += 1
                }
            }
            if keep == 0 {
                pages = []
            } else if keep < pages.capacity / 4 {
                pages = Array(pages[0..<keep])
            } else {
                pages.removeLast(freedSlots)
            }
            allocatedPageCount -= freedPages
        }
        let within = newSize & (pageSize - 1)
        if within != 0, keep - 1 < pages.count, let page = pages[keep - 1] {
            (page + within).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize - within)
        }
        return (freedPages, freedSlots)
    }

    /// Frees every page and forgets borrowed contents; returns the pages and slots released.
    func releaseStorage() -> (pages: Int, slots: Int) {
        let released = (allocatedPageCount, pages.count)
        for page in pages { page?.deallocate() }
        pages = []
        allocatedPageCount = 0
        borrowed = nil
        return released
    }

    /// Copies borrowed contents into freshly allocated pages (the caller has budgeted for them).
    private func materialize() {
        guard let borrowed else { return }
        let count = borrowed.count
        let pageCount = (count + pageSize - 1) >> pageShift
        pages.reserveCapacity(pageCount)
        for index in 0..<pageCount {
            let page = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
            let start = index << pageShift
            let chunk = Swift.min(pageSize, count - start)
            page.copyMemory(from: borrowed.baseAddress! + start, byteCount: chunk)
            if chunk < pageSize { (page + chunk).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize - chunk) }
            pages.append(page)
        }
        allocatedPageCount = pageCount
        self.borrowed = nil
    }
}
