import Interfaces
import Virtio

/// Feature bits of virtio-blk (virtio 1.2 §5.2.3).
extension VirtioFeatures {
    /// 1 `VIRTIO_BLK_F_SIZE_MAX`: `size_max` bounds the length of one data segment.
    public static let blkSizeMax = VirtioFeatures.bit(1)
    /// 2 `VIRTIO_BLK_F_SEG_MAX`: `seg_max` bounds the number of data segments per request.
    public static let blkSegMax = VirtioFeatures.bit(2)
    /// 5 `VIRTIO_BLK_F_RO`: the device is read-only.
    public static let blkReadOnly = VirtioFeatures.bit(5)
    /// 6 `VIRTIO_BLK_F_BLK_SIZE`: `blk_size` holds the logical block size.
    public static let blkBlockSize = VirtioFeatures.bit(6)
    /// 9 `VIRTIO_BLK_F_FLUSH`: the flush command exists.
    public static let blkFlush = VirtioFeatures.bit(9)
}

/// How a synchronous `VirtioBlk` call waits for its requests.
///
/// `wait(until:)` blocks until `condition()` returns true and returns true, or gives up and returns false (a
/// timeout). `condition` collects completions itself (it calls `VirtioBlk.processCompletions`), so a waiter
/// only has to call it whenever the device may have made progress: a spinning waiter calls it in a loop; the
/// runtime's waiter sleeps the thread between calls and is woken by the device interrupt (after
/// `handleInterrupt()`) or by `VirtioBlk.onCompletion`.
public protocol BlockRequestWaiter: AnyObject {
    /// Waits until `condition()` is true; false when the waiter gave up.
    func wait(until condition: () -> Bool) -> Bool
}

/// A waiter that calls the condition in a loop, at most `limit` times: for polling mode, early boot, tests.
public final class SpinWaiter: BlockRequestWaiter {
    /// Maximum calls of the condition before giving up.
    public let limit: Int

    /// Creates a waiter that gives up after `limit` polls.
    public init(limit: Int = 100_000_000) { self.limit = limit }

    /// Calls `condition` until it holds, at most `limit` times (plus a final check).
    public func wait(until condition: () -> Bool) -> Bool {
        var polls = 0
        while polls < limit {
            if condition() { return true }
            polls += 1
        }
        return condition()
    }
}

/// The virtio-blk driver (virtio 1.2 §5.2), implementing `BlockDevice` on one request queue.
///
/// Underneath the synchronous `BlockDevice` methods is an asynchronous API: `submitRead`, `submitWrite` and
/// `submitFlush` put a request in flight and return a `RequestID`; `processCompletions()` collects finished
/// requests (and calls `onCompletion` for each); `takeResult(_:)` hands a finished request's result to its owner.
/// Several requests are in flight at once (up to `maximumRequestsInFlight`); the synchronous methods split large
/// transfers into requests of at most `maximumTransferBytes` and keep several of them in flight.
///
/// Requests are the chains of §5.2.6: a 16-byte header (type, reserved, sector) the device reads, the data
/// segments (device-writable for reads), and a one-byte status the device writes. Headers and status bytes live
/// in DMA memory allocated once; data is transferred directly to or from the caller's buffer (which must be
/// DMA-capable memory and must stay valid until the request completes).
///
/// The device is untrusted: a status byte other than OK/IOERR/UNSUPP, a used length past the buffers, or a
/// queue fault fails the request with `.deviceFault`; a request that never completes makes the synchronous call
/// time out (per the waiter), after which the device is reset so it can no longer touch the caller's buffer, and
/// every request in flight fails with `.deviceFault`. The driver then stays broken.
///
/// Thread safety: state changes happen under `lock` (pass the scheduler's mutex when several threads share the
/// disk). `handleInterrupt()` only acknowledges the interrupt and may run in interrupt context; completions are
/// collected in thread context.
public final class VirtioBlk: BlockDevice {
    /// Tunables.
    public struct Configuration: Sendable {
        /// Preferred queue size.
        public var queueSize: UInt16 = 128
        /// Requests in flight at most (capped by the queue size).
        public var maximumRequestsInFlight = 32
        /// Data segments per request at most (capped by `seg_max` and the queue size).
        public var maximumSegmentsPerRequest = 16
        /// Largest data segment when the device sets no `size_max`.
        public var defaultSegmentSize = 1 << 20
        /// Negotiate `VIRTIO_F_EVENT_IDX` when offered.
        public var useEventIndex = true
        /// The virtqueue layouts to use: split rings (default), or packed rings (§2.8) when the device offers them
        /// (`.packedWhenOffered`).
        public var queueFormat = VirtqueueFormat.split
        /// Ask for completion interrupts (true) or poll (false).
        public var interruptDriven = true

        /// The defaults.
        public init() {}
    }

    /// Identifies a request while it is in flight and until its result is taken.
    public struct RequestID: Hashable, Sendable {
        /// The request slot.
        public var slot: UInt16
        /// Distinguishes successive uses of the slot.
        public var generation: UInt32
    }

    /// Where a request stands.
    public enum RequestState: Sendable {
        /// Submitted, not yet completed.
        case pending
        /// Completed; the result waits to be taken.
        case completed(Result<Void, BlockDeviceError>)
        /// Not a live request (never submitted, or its result was taken).
        case unknown
    }

    /// Request types (§5.2.6).
    public enum RequestType: UInt32, Sendable {
        /// `VIRTIO_BLK_T_IN`: read.
        case read = 0
        /// `VIRTIO_BLK_T_OUT`: write.
        case write = 1
        /// `VIRTIO_BLK_T_FLUSH`.
        case flush = 4
        /// `VIRTIO_BLK_T_GET_ID`: a 20-byte device identifier.
        case getID = 8
    }

    /// Status byte values (§5.2.6).
    public static let statusOK: UInt8 = 0
    /// `VIRTIO_BLK_S_IOERR`.
    public static let statusIOError: UInt8 = 1
    /// `VIRTIO_BLK_S_UNSUPP`.
    public static let statusUnsupported: UInt8 = 2
    /// virtio-blk addresses the disk in 512-byte sectors whatever the block size.
    public static let sectorSize = 512

    /// The transport.
    public let transport: any VirtioTransport
    /// The negotiated features.
    public let features: VirtioFeatures
    /// The request queue.
    public let queue: any Virtqueue
    /// Bytes per block: `blk_size` when offered and valid, else 512.
    public let blockSize: Int
    /// Number of blocks (`capacity` sectors divided by sectors per block).
    public let blockCount: UInt64
    /// The device's capacity in 512-byte sectors.
    public let capacitySectors: UInt64
    /// Whether the device is read-only (`VIRTIO_BLK_F_RO`).
    public let isReadOnly: Bool
    /// Whether the device has a flush command (`VIRTIO_BLK_F_FLUSH`); without it `flush()` does nothing.
    public let supportsFlush: Bool
    /// Requests that can be in flight at once.
    public let maximumRequestsInFlight: Int
    /// Data bytes one request may carry (a multiple of `blockSize`).
    public let maximumTransferBytes: Int
    /// Largest data segment (`size_max`, or the configured default).
    public let segmentSize: Int
    /// Whether completion interrupts were requested.
    public let interruptDriven: Bool

    /// How synchronous calls wait.
    public var waiter: any BlockRequestWaiter
    /// Called (in thread context, from `processCompletions`) for each request that completes; the runtime uses
    /// it to wake the thread waiting for the request.
    public var onCompletion: ((RequestID) -> Void)?

    /// Configuration values out of range that were replaced by defaults.
    public private(set) var configurationFaults: UInt64 = 0
    /// Requests the device failed with IOERR.
    public private(set) var ioErrors: UInt64 = 0
    /// Requests the device answered with UNSUPP.
    public private(set) var unsupportedRequests: UInt64 = 0
    /// Requests failed because the device misbehaved (bad status byte, bad length, queue fault, timeout).
    public private(set) var deviceFaults: UInt64 = 0
    /// Whether the driver stopped using the device after a fault.
    public private(set) var isBroken = false
    /// Requests completed (with any result).
    public private(set) var completedRequests: UInt64 = 0

    private enum SlotState {
        case free
        case inFlight
        case completed(Result<Void, BlockDeviceError>)
    }

    private struct Slot {
        var state: SlotState = .free
        var generation: UInt32 = 0
        var group: UInt32 = 0
    }

    private static let slotStride = 64      // header @0 (16 bytes), status @16, id @32 (20 bytes)
    private let memory: any DMAMemory
    private let lock: any Lock
    private let slotMemory: UnsafeMutableRawPointer
    private var slots: [Slot]
    private var freeSlots: [UInt16]
    private var nextGroup: UInt32 = 1
    private let maximumSegments: Int

    /// Brings up the virtio-blk device behind `transport` (§3.1.1, §5.2.5): negotiates features, reads the
    /// configuration, creates the request queue, and sets DRIVER_OK.
    ///
    /// A convenience initializer on purpose: a public designated initializer is an entry of the class's vtable,
    /// and Embedded Swift emits the metadata of every class a module uses into that module's single `.data`
    /// section, so the driver would be linked into every image whose runtime merely mentions `VirtioBlk`
    /// (HelloHTTP, which has no disk, carried it). Through this initializer it is linked only where it is called.
    public convenience init(transport: any VirtioTransport, memory: any DMAMemory,
                            configuration: Configuration = Configuration(),
                            waiter: any BlockRequestWaiter = SpinWaiter(), lock: any Lock = NoLock()) throws(VirtioError) {
        try self.init(bringingUp: transport, memory: memory, configuration: configuration, waiter: waiter, lock: lock)
    }

    private init(bringingUp transport: any VirtioTransport, memory: any DMAMemory, configuration: Configuration,
                 waiter: any BlockRequestWaiter, lock: any Lock) throws(VirtioError) {
        var supported: VirtioFeatures = [.blkSizeMax, .blkSegMax, .blkReadOnly, .blkBlockSize, .blkFlush]
        if configuration.useEventIndex { supported.insert(.eventIndex) }
        if configuration.queueFormat.offersPacked { supported.insert(.ringPacked) }
        let features = try VirtioSetup.negotiate(transport, expecting: .block, supported: supported)
        guard transport.deviceConfigSize >= 8 else {
            Self.abandon(transport)
            throw .badConfiguration(offset: 0)
        }
        let fields: (capacity: UInt64, sizeMax: UInt32, segMax: UInt32, blkSize: UInt32)
        do throws(VirtioError) {
            fields = try VirtioSetup.readConsistently(transport) {
                (VirtioSetup.readConfig64(transport, at: 0), transport.readConfig32(at: 8), transport.readConfig32(at: 12),
                 transport.readConfig32(at: 20))
            }
        } catch {
            Self.abandon(transport)
            throw error
        }
        var faults: UInt64 = 0
        var blockSize = Self.sectorSize
        if features.contains(.blkBlockSize) {
            let b = fields.blkSize
            if transport.deviceConfigSize >= 24, b >= 512, b <= 65536, b & (b - 1) == 0 { blockSize = Int(b) } else { faults += 1 }
        }
        var segmentSize = max(configuration.defaultSegmentSize, blockSize)
        if features.contains(.blkSizeMax) {
            if fields.sizeMax >= 512 { segmentSize = min(segmentSize, Int(fields.sizeMax)) } else { faults += 1 }
        }
        var segments = max(1, configuration.maximumSegmentsPerRequest)
        if features.contains(.blkSegMax) {
            if fields.segMax >= 1 { segments = min(segments, Int(fields.segMax)) } else { faults += 1 }
        }
        if segments * segmentSize < blockSize {  // cannot even carry one block: ignore the limits
            faults += 1
            segmentSize = blockSize
            segments = 1
        }

        let q: any Virtqueue
        do throws(VirtioError) {
            q = try VirtioSetup.makeQueue(transport, index: 0, preferredSize: configuration.queueSize, memory: memory,
                                          eventIndex: features.contains(.eventIndex),
                                          format: features.contains(.ringPacked) ? configuration.queueFormat : .split)
        } catch {
            Self.abandon(transport)
            throw error
        }
        segments = min(segments, Int(q.size) - 2)
        guard segments >= 1 else {
            Self.abandon(transport)
            throw .badQueueSize(queue: 0, size: UInt32(q.size))
        }
        let inFlight = max(1, min(configuration.maximumRequestsInFlight, Int(q.size) / (segments + 2), 65535))
        guard let slotMemory = memory.allocate(byteCount: inFlight * Self.slotStride, alignment: 64) else {
            Self.abandon(transport)
            throw .outOfMemory(bytes: inFlight * Self.slotStride)
        }

        self.transport = transport
        self.features = features
        self.memory = memory
        self.lock = lock
        self.waiter = waiter
        queue = q
        self.blockSize = blockSize
        capacitySectors = fields.capacity
        blockCount = fields.capacity / UInt64(blockSize / Self.sectorSize)
        isReadOnly = features.contains(.blkReadOnly)
        supportsFlush = features.contains(.blkFlush)
        self.segmentSize = segmentSize
        maximumSegments = segments
        let transfer = min(segments * segmentSize, Int(UInt32.max))
        maximumTransferBytes = max(blockSize, transfer / blockSize * blockSize)
        maximumRequestsInFlight = inFlight
        interruptDriven = configuration.interruptDriven
        configurationFaults = faults
        self.slotMemory = slotMemory
        slots = [Slot](repeating: Slot(), count: inFlight)
        freeSlots = []
        freeSlots.reserveCapacity(inFlight)
        for i in (0..<inFlight).reversed() { freeSlots.append(UInt16(i)) }
        if !interruptDriven { queue.disableInterrupts() }
        do throws(VirtioError) {
            try VirtioSetup.finish(transport)
        } catch {
            Self.abandon(transport)
            throw error
        }
    }

    deinit {
        // Stop the device (and wait for it) before its memory goes away; if it never finishes the reset it might
        // still write, so the memory is then never handed back.
        do throws(VirtioError) {
            try VirtioSetup.reset(transport)
        } catch {
            queue.abandonMemory()
            return
        }
        memory.deallocate(slotMemory)
    }

    private static func abandon(_ transport: any VirtioTransport) {
        VirtioSetup.fail(transport)
        try? VirtioSetup.reset(transport)
    }

    // MARK: Asynchronous API

    /// Starts reading `buffer.count / blockSize` blocks at `block` into `buffer`, which must stay valid until
    /// the request completes. Returns nil when no request slot or descriptors are free (collect completions and
    /// retry). Throws for a request outside the disk, a length that is not a whole number of blocks or exceeds
    /// `maximumTransferBytes` (`badLength`), or a broken device (`deviceFault`).
    public func submitRead(block: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockDeviceError) -> RequestID? {
        try validate(block: block, byteCount: buffer.count)
        guard buffer.count <= maximumTransferBytes, let base = buffer.baseAddress else { throw .badLength(buffer.count) }
        return try submit(.read, sector: block * UInt64(blockSize / Self.sectorSize), data: base, length: buffer.count,
                          group: 0)
    }

    /// Starts writing `buffer.count / blockSize` blocks from `buffer` at `block`; see `submitRead`. Throws
    /// `readOnly` on a read-only device.
    public func submitWrite(block: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockDeviceError) -> RequestID? {
        guard !isReadOnly else { throw .readOnly }
        try validate(block: block, byteCount: buffer.count)
        guard buffer.count <= maximumTransferBytes, let base = buffer.baseAddress else { throw .badLength(buffer.count) }
        return try submit(.write, sector: block * UInt64(blockSize / Self.sectorSize), data: UnsafeMutableRawPointer(mutating: base),
                          length: buffer.count, group: 0)
    }

    /// Starts a flush (`unsupported` when the device has no flush command).
    public func submitFlush() throws(BlockDeviceError) -> RequestID? {
        guard supportsFlush else { throw .unsupported }
        return try submit(.flush, sector: 0, data: nil, length: 0, group: 0)
    }

    /// Starts a request without the geometry checks, for device conformance tests (the self-check uses it to
    /// see that the device rejects a sector past the end). `data` must be DMA memory valid until completion.
    public func submitUnchecked(_ type: RequestType, sector: UInt64,
                                data: UnsafeMutableRawBufferPointer?) throws(BlockDeviceError) -> RequestID? {
        let length = data?.count ?? 0
        guard length <= maximumTransferBytes else { throw .badLength(length) }
        return try submit(type, sector: sector, data: data?.baseAddress, length: length, group: 0)
    }

    /// Collects every request the device has completed, records its result, and calls `onCompletion` for it.
    /// If the queue turned out broken, resets the device and fails every request in flight. Returns the number of
    /// requests completed. Call it in thread context (not from the interrupt handler).
    @discardableResult
    public func processCompletions() -> Int {
        var completedIDs = 0
        lock.lock()
        while let c = queue.popUsed() {
            let slot = Int(c.token)
            guard slot < slots.count, case .inFlight = slots[slot].state else { continue }
            let result: Result<Void, BlockDeviceError>
            if !c.lengthWasValid {
                deviceFaults += 1
                result = .failure(.deviceFault)
            } else {
                result = interpret(status: slotMemory.load(fromByteOffset: slot * Self.slotStride + 16, as: UInt8.self))
            }
            slots[slot].state = .completed(result)
            completedRequests += 1
            completedIDs += 1
            let id = RequestID(slot: UInt16(slot), generation: slots[slot].generation)
            if let hook = onCompletion {
                lock.unlock()
                hook(id)
                lock.lock()
            }
        }
        if queue.isBroken && !isBroken { completedIDs += shutDown() }
        lock.unlock()
        return completedIDs
    }

    /// Where request `id` stands.
    public func state(of id: RequestID) -> RequestState {
        lock.lock()
        defer { lock.unlock() }
        guard Int(id.slot) < slots.count, slots[Int(id.slot)].generation == id.generation else { return .unknown }
        switch slots[Int(id.slot)].state {
        case .free: return .unknown
        case .inFlight: return .pending
        case .completed(let r): return .completed(r)
        }
    }

    /// The result of completed request `id`, freeing its slot; nil while it is pending (or unknown).
    public func takeResult(_ id: RequestID) -> Result<Void, BlockDeviceError>? {
        lock.lock()
        defer { lock.unlock() }
        guard Int(id.slot) < slots.count, slots[Int(id.slot)].generation == id.generation,
              case .completed(let r) = slots[Int(id.slot)].state else { return nil }
        release(Int(id.slot))
        return r
    }

    /// Requests in flight.
    public var requestsInFlight: Int {
        lock.lock()
        defer { lock.unlock() }
        return queue.inFlightCount
    }

    /// Called from the device's interrupt handler: reads and acknowledges the interrupt status (deasserting an
    /// INTx line). Completions are collected by `processCompletions()` in thread context; the runtime wakes the
    /// waiting threads after this returns.
    @discardableResult
    public func handleInterrupt() -> VirtioInterruptStatus {
        transport.acknowledgeInterrupt()
    }

    // MARK: BlockDevice

    /// Reads `buffer.count / blockSize` blocks starting at `block`, as several requests in flight when the
    /// buffer is larger than `maximumTransferBytes`.
    public func read(block: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(BlockDeviceError) {
        try validate(block: block, byteCount: buffer.count)
        guard let base = buffer.baseAddress else { throw .badLength(0) }
        try transfer(.read, block: block, base: base, length: buffer.count)
    }

    /// Writes `buffer.count / blockSize` blocks starting at `block`.
    public func write(block: UInt64, from buffer: UnsafeRawBufferPointer) throws(BlockDeviceError) {
        guard !isReadOnly else { throw .readOnly }
        try validate(block: block, byteCount: buffer.count)
        guard let base = buffer.baseAddress else { throw .badLength(0) }
        try transfer(.write, block: block, base: UnsafeMutableRawPointer(mutating: base), length: buffer.count)
    }

    /// Makes completed writes durable (`VIRTIO_BLK_T_FLUSH`). Without `VIRTIO_BLK_F_FLUSH` the device offers no
    /// way to flush (it writes through, or cannot be asked to), so this returns at once.
    public func flush() throws(BlockDeviceError) {
        guard supportsFlush else { return }
        try transfer(.flush, block: 0, base: nil, length: 0)
    }

    /// The device's identifier string (`VIRTIO_BLK_T_GET_ID`, up to 20 bytes, NUL padding removed).
    public func deviceIdentifier() throws(BlockDeviceError) -> [UInt8] {
        let id = try runOne(.getID, sector: 0, data: nil, length: 0)
        let slot = Int(id.slot)
        var bytes: [UInt8] = []
        let source = slotMemory + slot * Self.slotStride + 32
        for i in 0..<20 {
            let b = source.load(fromByteOffset: i, as: UInt8.self)
            if b == 0 { break }
            bytes.append(b)
        }
        lock.lock()
        release(slot)
        lock.unlock()
        return bytes
    }

    // MARK: Internals

    private func interpret(status: UInt8) -> Result<Void, BlockDeviceError> {
        switch status {
        case Self.statusOK: return .success(())
        case Self.statusIOError:
            ioErrors += 1
            return .failure(.ioError)
        case Self.statusUnsupported:
            unsupportedRequests += 1
            return .failure(.unsupported)
        default:
            deviceFaults += 1
            return .failure(.deviceFault)
        }
    }

    private func release(_ slot: Int) {
        slots[slot].state = .free
        slots[slot].group = 0
        slots[slot].generation &+= 1
        freeSlots.append(UInt16(slot))
    }

    private func submit(_ type: RequestType, sector: UInt64, data: UnsafeMutableRawPointer?, length: Int,
                        group: UInt32) throws(BlockDeviceError) -> RequestID? {
        lock.lock()
        defer { lock.unlock() }
        guard !isBroken, !queue.isBroken else { throw .deviceFault }
        let dataSegments = length == 0 ? (type == .getID ? 1 : 0) : (length + segmentSize - 1) / segmentSize
        guard dataSegments <= maximumSegments || type == .getID else { throw .badLength(length) }
        guard queue.freeDescriptorCount >= dataSegments + 2, let slot16 = freeSlots.popLast() else { return nil }
        let slot = Int(slot16)
        let meta = slotMemory + slot * Self.slotStride
        meta.storeBytes(of: type.rawValue.littleEndian, as: UInt32.self)
        meta.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        meta.storeBytes(of: sector.littleEndian, toByteOffset: 8, as: UInt64.self)
        meta.storeBytes(of: UInt8(0xFF), toByteOffset: 16, as: UInt8.self)  // sentinel: not a valid status
        let metaAddress = memory.deviceAddress(of: meta)
        let deviceWrites = type == .read || type == .getID
        let idBuffer = type == .getID
        let dataAddress: UInt64 = idBuffer ? metaAddress + 32 : (data.map { memory.deviceAddress(of: $0) } ?? 0)
        let dataLength = idBuffer ? 20 : length
        let segment = segmentSize
        let count = dataSegments + 2
        do throws(VirtqueueError) {
            try queue.submitChain(count: count, token: UInt32(slot)) { i in
                if i == 0 { return VirtqueueSegment(address: metaAddress, length: 16, deviceWritable: false) }
                if i == count - 1 { return VirtqueueSegment(address: metaAddress + 16, length: 1, deviceWritable: true) }
                let offset = (i - 1) * segment
                return VirtqueueSegment(address: dataAddress + UInt64(offset),
                                        length: UInt32(min(segment, dataLength - offset)), deviceWritable: deviceWrites)
            }
        } catch {
            freeSlots.append(slot16)
            if error == .broken { throw .deviceFault }
            return nil
        }
        slots[slot].state = .inFlight
        slots[slot].group = group
        if queue.shouldNotify() { transport.notify(queue: 0) }
        return RequestID(slot: slot16, generation: slots[slot].generation)
    }

    /// Submits one request (waiting for a free slot if necessary) and waits for it to complete. On success
    /// returns its id with the slot still held (the caller reads any data from slot memory, then releases it);
    /// otherwise throws the request's error.
    private func runOne(_ type: RequestType, sector: UInt64, data: UnsafeMutableRawPointer?,
                        length: Int) throws(BlockDeviceError) -> RequestID {
        var id: RequestID?
        var submitError: BlockDeviceError?
        let group = newGroup()
        let ok = waiter.wait {
            if id == nil {
                do throws(BlockDeviceError) {
                    id = try submit(type, sector: sector, data: data, length: length, group: group)
                } catch {
                    submitError = error
                    return true
                }
                if id == nil {
                    processCompletions()
                    return false
                }
            }
            processCompletions()
            if let id, case .pending = state(of: id) { return false }
            return true
        }
        if let submitError { throw submitError }
        if !ok { timedOut() }
        guard let id else { throw .deviceFault }
        switch state(of: id) {
        case .completed(.success): return id
        case .completed(.failure(let e)):
            _ = takeResult(id)
            throw e
        default:
            throw .deviceFault
        }
    }

    private func newGroup() -> UInt32 {
        lock.lock()
        defer { lock.unlock() }
        let g = nextGroup
        nextGroup = nextGroup &+ 1 == 0 ? 1 : nextGroup &+ 1
        return g
    }

    /// The synchronous transfer: splits the buffer into requests of at most `maximumTransferBytes`, keeps as
    /// many in flight as slots allow, and waits for all of them. Throws the first error after every request of
    /// the transfer has finished (so no request still targets the caller's buffer when it returns).
    private func transfer(_ type: RequestType, block: UInt64, base: UnsafeMutableRawPointer?,
                          length: Int) throws(BlockDeviceError) {
        let group = newGroup()
        let sectorsPerBlock = UInt64(blockSize / Self.sectorSize)
        var offset = 0
        var outstanding = 0
        var firstError: BlockDeviceError?
        var submitError: BlockDeviceError?
        var allSubmitted = false

        func submitMore() {
            while !allSubmitted && submitError == nil {
                let chunk = min(maximumTransferBytes, length - offset)
                let sector = (block + UInt64(offset / blockSize)) * sectorsPerBlock
                do throws(BlockDeviceError) {
                    guard try submit(type, sector: sector, data: base.map { $0 + offset }, length: chunk,
                                     group: group) != nil else { return }
                } catch {
                    submitError = error
                    return
                }
                outstanding += 1
                offset += chunk
                if offset >= length { allSubmitted = true }
            }
        }

        func collect() {
            lock.lock()
            for i in 0..<slots.count where slots[i].group == group {
                if case .completed(let r) = slots[i].state {
                    if case .failure(let e) = r, firstError == nil { firstError = e }
                    release(i)
                    outstanding -= 1
                }
            }
            lock.unlock()
        }

        submitMore()
        let ok = waiter.wait {
            processCompletions()
            collect()
            if firstError == nil && submitError == nil { submitMore() }
            return outstanding == 0 && (allSubmitted || firstError != nil || submitError != nil)
        }
        if !ok {
            timedOut()
            collect()
            throw .deviceFault
        }
        if let firstError { throw firstError }
        if let submitError { throw submitError }
    }

    /// A request did not complete in time: stop the device so it cannot touch the buffers any more, and fail
    /// everything in flight.
    private func timedOut() {
        lock.lock()
        queue.markBroken()
        deviceFaults += 1
        _ = shutDown()
        lock.unlock()
    }

    /// Resets the device (it must not access the queue or buffers afterwards, §2.1 / §3.1.1) and completes every
    /// request in flight with `.deviceFault`. Called with the lock held. Returns the number of requests failed.
    private func shutDown() -> Int {
        isBroken = true
        VirtioSetup.fail(transport)
        try? VirtioSetup.reset(transport)
        var failed = 0
        queue.reclaimAll { token in
            let slot = Int(token)
            guard slot < slots.count, case .inFlight = slots[slot].state else { return }
            slots[slot].state = .completed(.failure(.deviceFault))
            failed += 1
        }
        return failed
    }
}
