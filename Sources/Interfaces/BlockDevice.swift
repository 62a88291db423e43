/// Why a block operation failed.
public enum BlockDeviceError: Error, Equatable, CustomStringConvertible {
    /// The request reaches past the last block.
    case outOfRange(block: UInt64, count: UInt64, capacity: UInt64)
    /// The buffer length is not a whole number of blocks (or is zero).
    case badLength(Int)
    /// The device is read-only.
    case readOnly
    /// The device reported an I/O error for the request.
    case ioError
    /// The device does not support the operation.
    case unsupported
    /// The device misbehaved (an invalid completion), so the request's result is unknown.
    case deviceFault

    public var description: String {
        switch self {
        case .outOfRange(let block, let count, let capacity):
            return "blocks \(block)..<\(block &+ count) are past the end of the device (\(capacity) blocks)"
        case .badLength(let n): return "buffer of \(n) bytes is not a whole number of blocks"
        case .readOnly: return "device is read-only"
        case .ioError: return "device reported an I/O error"
        case .unsupported: return "operation not supported by the device"
        case .deviceFault: return "device returned an invalid completion"
        }
    }
}

/// A device of fixed-size blocks: virtio-blk (VirtioBlk) or a disk in memory.
///
/// Calls block until the request completes (in the guest the calling thread sleeps until the completion
/// interrupt). Buffers must be a whole number of blocks long.
public protocol BlockDevice: AnyObject {
    /// Bytes per block (512 for virtio-blk's addressing unit).
    var blockSize: Int { get }
    /// Number of blocks.
    var blockCount: UInt64 { get }
    /// Whether writes are refused.
    var isReadOnly: Bool { get }
    /// Reads `buffer.count / blockSize` blocks starting at `block`.
    func read(block: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockDeviceError)
    /// Writes `buffer.count / blockSize` blocks starting at `block`.
    func write(block: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockDeviceError)
    /// Makes completed writes durable.
    func flush() throws(BlockDeviceError)
}

extension BlockDevice {
    /// Checks a request against the device's geometry; throws `outOfRange` or `badLength`.
    public func validate(block: UInt64, byteCount: Int) throws(BlockDeviceError) {
        guard byteCount > 0, byteCount % blockSize == 0 else { throw .badLength(byteCount) }
        let count = UInt64(byteCount / blockSize)
        let (end, overflow) = block.addingReportingOverflow(count)
        guard !overflow, end <= blockCount else {
            throw .outOfRange(block: block, count: count, capacity: blockCount)
        }
    }
}

/// A block device in memory: for tests, and for images that want a scratch disk without virtio-blk.
public final class MemoryBlockDevice: BlockDevice {
    public let blockSize: Int
    public let blockCount: UInt64
    public let isReadOnly: Bool
    /// The device's contents.
    public private(set) var storage: [UInt8]

    /// A zero-filled device of `blockCount` blocks of `blockSize` bytes.
    public init(blockCount: UInt64, blockSize: Int = 512, readOnly: Bool = false) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        isReadOnly = readOnly
        storage = [UInt8](repeating: 0, count: Int(blockCount) * blockSize)
    }

    public func read(block: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockDeviceError) {
        try validate(block: block, byteCount: buffer.count)
        let offset = Int(block) * blockSize
        storage.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)])) }
    }

    public func write(block: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockDeviceError) {
        guard !isReadOnly else { throw .readOnly }
        try validate(block: block, byteCount: buffer.count)
        let offset = Int(block) * blockSize
        storage.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)]).copyMemory(from: buffer) }
    }

    public func flush() throws(BlockDeviceError) {}
}
