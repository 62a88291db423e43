import Foundation
import Interfaces
import RamFS

/// The files embedded in an image (`unikernel embed`), as `unikernel inspect` lists them.
public struct EmbeddedListing: Equatable {
    /// One file or directory of the archive.
    public struct Entry: Equatable {
        /// The path relative to the mount point, e.g. `www/index.html`.
        public var path: String
        /// Whether it is a directory.
        public var isDirectory: Bool
        /// File size in bytes (0 for a directory).
        public var size: Int
        /// The SHA-256 recorded for the file (lowercase hex; empty for a directory).
        public var sha256: String
    }

    /// Guest-physical address of the archive.
    public var address: UInt64
    /// Length of the archive (bytes of the section).
    public var archiveBytes: Int
    /// The entries in archive order (sorted by path), or nil if the archive is invalid.
    public var entries: [Entry]?
    /// Why the archive is invalid, if it is.
    public var error: String?

    /// Reads the embedded section of `image`; nil if the image has none.
    public init?(image: String) throws(ToolError) {
        let found: (bytes: [UInt8], address: UInt64)?
        do throws(EmbedError) { found = try Embedder.archiveBytes(image: image) } catch {
            throw .embed(error.description)
        }
        guard let found else { return nil }
        address = found.address
        archiveBytes = found.bytes.count
        let parsed: Result<[Entry], ArchiveError> = found.bytes.withUnsafeBytes { raw in
            do throws(ArchiveError) {
                let archive = try EmbeddedArchive(validating: raw)
                return .success(archive.map {
                    Entry(path: $0.pathString, isDirectory: $0.kind == .directory, size: $0.size,
                          sha256: $0.kind == .directory ? "" : $0.recordedDigest.description)
                })
            } catch {
                return .failure(error)
            }
        }
        switch parsed {
        case .success(let list): entries = list; error = nil
        case .failure(let problem): entries = nil; error = problem.description
        }
    }

    /// Files only.
    public var files: [Entry] { (entries ?? []).filter { !$0.isDirectory } }
}

/// What `unikernel inspect` reports about an image.
public struct ImageReport {
    public let image: ELFImage
    public let pvhEntry: UInt32
    /// Allocated sections with their sizes, in address order.
    public let sections: [(name: String, size: UInt64, address: UInt64)]
    /// Bytes of symbol sizes per module, largest first.
    public let modules: [(module: String, bytes: UInt64, symbols: Int)]
    /// The largest symbols, largest first.
    public let largest: [(name: String, module: String, size: UInt64)]
    /// The embedded files (nil if the image has no embedded-content section).
    public let embedded: EmbeddedListing?

    /// Verifies `path` as a bootable image and summarizes it.
    public init(path: String, largestCount: Int = 20) throws(ToolError) {
        image = try ELFImage(path: path)
        try image.verifyBootable()
        pvhEntry = try image.pvhEntry()
        sections = image.sections.filter { $0.isAllocated && $0.size > 0 }
            .sorted { $0.address < $1.address }
            .map { ($0.name, $0.size, $0.address) }
        var totals: [String: (UInt64, Int)] = [:]
        for s in image.symbols where s.size > 0 {
            let m = ELFImage.module(ofSymbol: s.name)
            let t = totals[m] ?? (0, 0)
            totals[m] = (t.0 + s.size, t.1 + 1)
        }
        modules = totals.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.bytes > $1.bytes }
        largest = image.symbols.filter { $0.size > 0 }
            .sorted { $0.size > $1.size }
            .prefix(largestCount)
            .map { ($0.name, ELFImage.module(ofSymbol: $0.name), $0.size) }
        embedded = try EmbeddedListing(image: path)
    }

    /// Human-readable report.
    public var text: String {
        var t = "image      \(image.path)\n"
        t += "file size  \(image.fileSize) bytes (loadable contents \(image.loadableBytes) bytes)\n"
        t += "PVH entry  0x\(String(pvhEntry, radix: 16)) (XEN_ELFNOTE_PHYS32_ENTRY ok)\n"
        t += "ELF entry  0x\(String(image.entry, radix: 16))\n\nsegments\n"
        for s in image.segments {
            let kind = s.isLoad ? "LOAD" : (s.type == 4 ? "NOTE" : "type \(s.type)")
            let flags = (s.flags & 4 != 0 ? "R" : "-") + (s.isWritable ? "W" : "-") + (s.isExecutable ? "X" : "-")
            t += "  \(kind.padding(toLength: 6, withPad: " ", startingAt: 0)) \(flags) paddr 0x\(String(s.physicalAddress, radix: 16)) "
                + "file \(s.fileSize) mem \(s.memorySize)\n"
        }
        t += "\nsections\n"
        for s in sections {
            t += "  \(s.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(s.size).leftPadded(9)) bytes at 0x\(String(s.address, radix: 16))\n"
        }
        t += "\nsymbol bytes by module\n"
        for m in modules {
            t += "  \(m.module.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(m.bytes).leftPadded(9)) bytes in \(m.symbols) symbols\n"
        }
        t += "\nlargest symbols\n"
        for s in largest {
            t += "  \(String(s.size).leftPadded(8))  \(s.module.padding(toLength: 12, withPad: " ", startingAt: 0)) \(Demangler.shared.demangle(s.name))\n"
        }
        t += "\nembedded files\n"
        if let embedded {
            if let error = embedded.error {
                t += "  INVALID archive (\(embedded.archiveBytes) bytes at 0x\(String(embedded.address, radix: 16))): \(error)\n"
            } else {
                let files = embedded.files
                t += "  \(files.count) files, \(files.reduce(0) { $0 + $1.size }) bytes, in a \(embedded.archiveBytes)-byte "
                    + "archive at 0x\(String(embedded.address, radix: 16))\n"
                for e in embedded.entries ?? [] {
                    t += e.isDirectory ? "  \(String(repeating: " ", count: 10)) \(e.path)/\n" : "  \(String(e.size).leftPadded(10)) \(e.path)\n"
                }
            }
        } else {
            t += "  (no \(Embedder.sectionName) section: the image predates embedded content)\n"
        }
        return t
    }

    /// The `embedded` member of the JSON report: null without the section; else the archive's address and size,
    /// and either `files` (path, size, sha256) and `directories` (paths), or `error`.
    var embeddedJSON: Any {
        guard let embedded else { return NSNull() }
        var object: [String: Any] = ["address": embedded.address, "archiveBytes": embedded.archiveBytes]
        if let error = embedded.error {
            object["error"] = error
        } else {
            object["files"] = embedded.files.map { ["path": $0.path, "size": $0.size, "sha256": $0.sha256] as [String: Any] }
            object["directories"] = (embedded.entries ?? []).filter(\.isDirectory).map(\.path)
        }
        return object
    }

    /// Machine-readable report.
    public var json: String {
        let object: [String: Any] = [
            "image": image.path,
            "fileSize": image.fileSize,
            "loadableBytes": image.loadableBytes,
            "pvhEntry": Int(pvhEntry),
            "elfEntry": image.entry,
            "segments": image.segments.map {
                ["type": $0.type, "flags": $0.flags, "physicalAddress": $0.physicalAddress, "fileSize": $0.fileSize,
                 "memorySize": $0.memorySize] as [String: Any]
            },
            "sections": sections.map { ["name": $0.name, "size": $0.size, "address": $0.address] as [String: Any] },
            "modules": modules.map { ["module": $0.module, "bytes": $0.bytes, "symbols": $0.symbols] as [String: Any] },
            "largestSymbols": largest.map { ["name": $0.name, "module": $0.module, "size": $0.size] as [String: Any] },
            "embedded": embeddedJSON,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
