import Interfaces
import RamFS

#if os(none)
import Boot
import Hardware
import Memory
#endif

/// Why the build-time content embedded in the image (`unikernel embed`) cannot be used.
public enum EmbeddedFilesError: Error, Equatable, CustomStringConvertible {
    /// The archive in the image is malformed, or (with content verification) a file does not match its digest.
    case archive(ArchiveError)
    /// The archive's header declares `length` bytes at `start`, but that range is not usable RAM: the image was cut
    /// short, or the guest has too little memory to hold it.
    case outsideRAM(start: UInt64, length: UInt64)
    /// RamFS refused the import (a file in the way, a path too long under the mount point, the memory budget).
    case importFailed(RamFS.ImportError)

    /// A sentence.
    public var description: String {
        switch self {
        case .archive(let error): return "embedded content: \(error)"
        case .outsideRAM(let start, let length):
            return "embedded content: \(length) bytes at 0x\(String(start, radix: 16)) do not lie in usable RAM "
                + "(give the guest more memory)"
        case .importFailed(let error): return "embedded content: \(error)"
        }
    }
}

extension System {
    /// The archive `unikernel embed` placed in the image, validated (header, checksum, every entry; file contents are
    /// checked by `EmbeddedArchive.verifyAllContents` or `mountEmbeddedFiles(verifyingContents: true)`).
    ///
    /// The bytes are read in place: the archive lives in its own read-only segment after the image, mapped
    /// read-only, and the frame allocator never hands out its pages, so the view stays valid for the whole run.
    /// Validation happens once (the first call, which also brings up memory); later calls return the same view or
    /// the same error. An image that was never given content holds the empty archive (no entries).
    ///
    /// In hosted mode (a Linux process) there is no embedded content: this is an empty archive.
    public static var embeddedArchive: EmbeddedArchive {
        get throws(EmbeddedFilesError) { try EmbeddedContent.archive() }
    }

    /// Imports the embedded archive into `fileSystem` under `mountPoint` (created if missing) and returns what was
    /// created.
    ///
    /// No file data is copied: each file reads the archive's memory in place (`RamFS.ArchiveContents.unsafeBorrowed`,
    /// which is safe here because that memory belongs to the image for the machine's lifetime). Files stay
    /// writable: the first write to one copies it into RamFS pages (copy-on-write), charged to the RamFS budget then;
    /// the archive itself never changes. Set `fileSystem.isReadOnly` afterwards to freeze the tree.
    ///
    /// With `verifyingContents`, every file's SHA-256 is checked first (reads all embedded bytes once).
    @discardableResult
    public static func mountEmbeddedFiles(into fileSystem: RamFS, at mountPoint: FilePath = "/",
                                          verifyingContents: Bool = false) throws(EmbeddedFilesError)
        -> RamFS.ImportSummary
    {
        let archive = try embeddedArchive
        if verifyingContents {
            do throws(ArchiveError) { try archive.verifyAllContents() } catch { throw .archive(error) }
        }
        do throws(RamFS.ImportError) {
            return try fileSystem.importArchive(archive, at: mountPoint, contents: .unsafeBorrowed)
        } catch {
            throw .importFailed(error)
        }
    }
}

#if os(none)
/// Where the embedded archive lies and what validating it gave. Decided while memory comes up (`setUpMemory` calls
/// `reserve`), before the frame allocator exists.
enum EmbeddedContent {
    /// First byte of the archive (`__embedded_start`).
    nonisolated(unsafe) static var start: UInt64 = 0
    /// Bytes to validate: the declared length when it lies in usable RAM, else the 80-byte header the linker placed.
    nonisolated(unsafe) static var length = EmbeddedArchive.headerSize
    /// The outcome, once known.
    nonisolated(unsafe) static var outcome: Result<EmbeddedArchive, EmbeddedFilesError>? = nil

    /// Reads the archive header at `layout.embeddedStart` (inside the image's own segment, identity-mapped by the
    /// shim) and returns the page-aligned range to keep out of the frame allocator and to map read-only.
    ///
    /// The whole declared length is reserved only if it lies inside one usable RAM region; otherwise just the page
    /// the linker placed is, and `archive()` reports `outsideRAM`. A header without the magic gets the same one page
    /// and is reported by validation.
    static func reserve(layout: KernelLayout, map: MemoryMap) -> Range<UInt64> {
        start = layout.embeddedStart
        let header = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(start)),
                                            count: EmbeddedArchive.headerSize)
        if let declared = EmbeddedArchive.declaredLength(header) {
            let end = start &+ UInt64(declared)
            var inRAM = false
            for region in map.regions where region.kind == .usable {
                if region.start.value <= start, end <= region.end.value, start < end { inRAM = true }
            }
            if inRAM {
                length = declared
            } else {
                outcome = .failure(.outsideRAM(start: start, length: UInt64(declared)))
            }
        }
        let end = (start + UInt64(length) + 4095) & ~4095
        return start..<end
    }

    /// The validated archive, or why there is none (validated on the first call).
    static func archive() throws(EmbeddedFilesError) -> EmbeddedArchive {
        _ = Kernel.memory  // decides `start` and `length`
        if let outcome { return try outcome.get() }
        let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(start)), count: length)
        let result: Result<EmbeddedArchive, EmbeddedFilesError>
        do throws(ArchiveError) {
            result = .success(try EmbeddedArchive(validating: bytes))
        } catch {
            result = .failure(.archive(error))
        }
        CPU.withInterruptsDisabled { if outcome == nil { outcome = result } }
        return try result.get()
    }
}
#else
/// Hosted mode: no image, so no embedded content; the archive is the empty one, in memory allocated once and never
/// freed (so borrowed views of it stay valid).
enum EmbeddedContent {
    static let empty: UnsafeRawBufferPointer = {
        let bytes = EmbeddedArchiveWriter.emptyArchive
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        storage.copyBytes(from: bytes)
        return UnsafeRawBufferPointer(storage)
    }()

    static func archive() throws(EmbeddedFilesError) -> EmbeddedArchive {
        do throws(ArchiveError) { return try EmbeddedArchive(validating: empty) } catch { throw .archive(error) }
    }
}
#endif
