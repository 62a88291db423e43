import Interfaces

/// `/`
let slashByte: UInt8 = 0x2f
/// `.`
let dotByte: UInt8 = 0x2e

/// The last component of a path, classified.
enum LastComponent {
    /// The path has no components (it is `/`, `//`, ...): it names the root.
    case root
    /// `.`: the directory reached so far.
    case dot
    /// `..`: the parent of the directory reached so far (the root's parent is the root).
    case dotDot
    /// A name to look up in (or add to) the directory reached so far; the range indexes the path's bytes.
    case name(Range<Int>)
}

/// A path resolved up to, not including, its last component.
struct ParentLookup {
    /// The directory the last component is looked up in.
    var directory: Node
    /// The last component.
    var last: LastComponent
    /// Whether the path ends in `/` after at least one component (the entry must then be a directory).
    var trailingSlash: Bool
}

/// The path limits RamFS enforces (see `RamFS.Configuration`).
struct PathLimits {
    var maxPathLength: Int
    var maxNameLength: Int
}

/// Splits and resolves paths without allocating: components are byte ranges of the caller's buffer.
///
/// Resolution is physical, the way a POSIX kernel walks a path without symbolic links: `.` stays, `..` moves to the
/// parent directory (the root's parent is the root, POSIX XBD §4.13), and every component before the last must be
/// an existing directory. Before walking, the whole path is checked: empty is `noSuchFileOrDirectory` (POSIX XBD
/// §4.13), longer than `maxPathLength` bytes or with a component longer than `maxNameLength` bytes is
/// `nameTooLong`, a NUL byte is `invalidArgument`.
enum PathResolver {
    /// Resolves every component of `path` except the last, starting at `root`.
    static func lookupParent(
        _ path: UnsafeRawBufferPointer, root: Node, limits: PathLimits
    ) -> Result<ParentLookup, FileSystemError> {
        if let error = validate(path, limits: limits) { return .failure(error) }
        let count = path.count
        // Walk, holding back one component so the last one is left unresolved.
        var directory = root
        var pending: Range<Int>? = nil
        var index = 0
        while index < count {
            if path[index] == slashByte {
                index += 1
                continue
            }
            let start = index
            while index < count, path[index] != slashByte { index += 1 }
            if let previous = pending {
                switch step(from: directory, path, previous) {
                case .success(let next): directory = next
                case .failure(let error): return .failure(error)
                }
            }
            pending = start..<index
        }
        guard let lastRange = pending else {
            return .success(ParentLookup(directory: root, last: .root, trailingSlash: false))
        }
        return .success(ParentLookup(
            directory: directory, last: classify(path, lastRange), trailingSlash: path[count - 1] == slashByte))
    }

    /// Checks the whole path before any walk, so that a malformed path fails the same way wherever the walk would
    /// have stopped: empty, too long, a NUL byte, a component too long. Returns nil if the path is well formed.
    static func validate(_ path: UnsafeRawBufferPointer, limits: PathLimits) -> FileSystemError? {
        guard !path.isEmpty else { return .noSuchFileOrDirectory }
        guard path.count <= limits.maxPathLength else { return .nameTooLong }
        var run = 0
        for byte in path {
            if byte == 0 { return .invalidArgument }
            if byte == slashByte {
                run = 0
            } else {
                run += 1
                if run > limits.maxNameLength { return .nameTooLong }
            }
        }
        return nil
    }

    /// The node a whole path names: `lookupParent` and then the last component, which must exist; with a trailing
    /// slash it must be a directory.
    static func lookup(
        _ path: UnsafeRawBufferPointer, root: Node, limits: PathLimits
    ) -> Result<Node, FileSystemError> {
        switch lookupParent(path, root: root, limits: limits) {
        case .failure(let error): return .failure(error)
        case .success(let parent): return final(parent, path, root: root)
        }
    }

    /// The node `parent.last` names (see `lookup`).
    static func final(_ parent: ParentLookup, _ path: UnsafeRawBufferPointer, root: Node) -> Result<Node, FileSystemError> {
        let node: Node
        switch parent.last {
        case .root: node = root
        case .dot: node = parent.directory
        case .dotDot: node = parent.directory.parent ?? parent.directory
        case .name(let range):
            guard let found = parent.directory.entries.lookup(UnsafeRawBufferPointer(rebasing: path[range])) else {
                return .failure(.noSuchFileOrDirectory)
            }
            node = found
        }
        if parent.trailingSlash, !node.isDirectory { return .failure(.notADirectory) }
        return .success(node)
    }

    /// Classifies the component `range` of `path`.
    @inline(__always)
    static func classify(_ path: UnsafeRawBufferPointer, _ range: Range<Int>) -> LastComponent {
        if range.count == 1, path[range.lowerBound] == dotByte { return .dot }
        if range.count == 2, path[range.lowerBound] == dotByte, path[range.lowerBound + 1] == dotByte { return .dotDot }
        return .name(range)
    }

    /// Moves from `directory` through the intermediate component `range`, which must name a directory.
    @inline(__always)
    static func step(
        from directory: Node, _ path: UnsafeRawBufferPointer, _ range: Range<Int>
    ) -> Result<Node, FileSystemError> {
        switch classify(path, range) {
        case .root, .dot: return .success(directory)
        case .dotDot: return .success(directory.parent ?? directory)
        case .name(let range):
            guard let child = directory.entries.lookup(UnsafeRawBufferPointer(rebasing: path[range])) else {
                return .failure(.noSuchFileOrDirectory)
            }
            guard child.isDirectory else { return .failure(.notADirectory) }
            return .success(child)
        }
    }
}
