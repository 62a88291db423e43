import RuntimeCore
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
/// The embedded archive, validated once (RuntimeCore's `EmbeddedRegion` decided where it lies while memory came up).
enum EmbeddedContent {
    /// The outcome, once known.
    nonisolated(unsafe) static var outcome: Result<EmbeddedArchive, EmbeddedFilesError>? = nil

    /// The validated archive, or why there is none (validated on the first call).
    static func archive() throws(EmbeddedFilesError) -> EmbeddedArchive {
        _ = Kernel.memory  // decides EmbeddedRegion's start and length
        if let outcome { return try outcome.get() }
        let start = EmbeddedRegion.start
        let result: Result<EmbeddedArchive, EmbeddedFilesError>
        if let declared = EmbeddedRegion.declaredOutsideRAM {
            result = .failure(.outsideRAM(start: start, length: UInt64(declared)))
        } else {
            let bytes = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(start)),
                                               count: EmbeddedRegion.length)
            do throws(ArchiveError) {
                result = .success(try EmbeddedArchive(validating: bytes))
            } catch {
                result = .failure(.archive(error))
            }
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
