import Interfaces
import Virtio

/// Feature bits of virtio-net (virtio 1.2 §5.1.3).
extension VirtioFeatures {
    /// 0 `VIRTIO_NET_F_CSUM`: the device completes partial checksums of transmitted packets.
    public static let netChecksum = VirtioFeatures.bit(0)
    /// 1 `VIRTIO_NET_F_GUEST_CSUM`: received packets may carry partial checksums (`NEEDS_CSUM`) or be marked
    /// already validated (`DATA_VALID`).
    public static let netGuestChecksum = VirtioFeatures.bit(1)
    /// 3 `VIRTIO_NET_F_MTU`: the configuration holds the maximum MTU.
    public static let netMTU = VirtioFeatures.bit(3)
    /// 5 `VIRTIO_NET_F_MAC`: the configuration holds the MAC address.
    public static let netMAC = VirtioFeatures.bit(5)
    /// 15 `VIRTIO_NET_F_MRG_RXBUF`: a received packet may span several receive buffers (`num_buffers`).
    public static let netMergeableReceiveBuffers = VirtioFeatures.bit(15)
    /// 16 `VIRTIO_NET_F_STATUS`: the configuration holds the link status.
    public static let netStatus = VirtioFeatures.bit(16)
}

/// A request to have the device (or, when it cannot, the driver) fill in a transport checksum of a transmitted
/// frame: the Internet checksum of the bytes from `start` to the end of the frame, stored big-endian at
/// `start + offset`. As with virtio-net's `NEEDS_CSUM` (virtio 1.2 §5.1.6.2), the checksum field must already
/// hold the folded pseudo-header sum.
public struct ChecksumOffload: Equatable, Sendable {
    /// Offset of the first covered byte, from the start of the Ethernet frame.
    public var start: Int
    /// Offset of the 16-bit checksum field from `start` (16 for TCP, 6 for UDP).
    public var offset: Int

    /// Describes a checksum to complete.
    public init(start: Int, offset: Int) {
        self.start = start
        self.offset = offset
    }
}

/// The virtio-net driver (virtio 1.2 §5.1): one receive and one transmit queue, implementing `NetworkDevice`.
///
/// - Receive: a fixed pool of buffers is kept posted; `receive(_:)` lends the caller the frame inside the device
///   buffer (no copy) and re-posts the buffer when the closure returns. With `VIRTIO_NET_F_MRG_RXBUF` a frame
///   may span several buffers; such frames (only those) are gathered into one reusable buffer first.
/// - Transmit: a fixed pool of transmit buffers; `transmit` hands the caller the buffer to fill, and buffers
///   come back to the pool when the device returns them (reclaimed on each transmit and on `poll()`).
/// - Checksums: `VIRTIO_NET_F_GUEST_CSUM` is accepted when offered and partial checksums of received frames are
///   completed in place before the frame is lent out; `VIRTIO_NET_F_CSUM` is accepted when offered and used by
///   `transmit(length:checksumOffload:_:)` (which computes the checksum itself when the device cannot).
///   Segmentation offloads (TSO/UFO, GUEST_TSO) are not negotiated.
/// - Interrupts: the runtime's IRQ handler calls `handleInterrupt()`, which only reads (and thereby
///   acknowledges) the interrupt status and refreshes the link state; the network thread then calls `receive`.
///   With `interruptDriven: false` the device is asked not to interrupt and the owner polls.
/// - The device is untrusted: every id, index and length it returns is validated (see `Virtqueue`); bad
///   values are counted in `statistics.errors` and never used to touch memory outside the driver's buffers.
///
/// Not thread-safe: one owner (the network stack) calls it, apart from `handleInterrupt()`, which touches no
/// queue state and may run in interrupt context.
public final class VirtioNet: NetworkDevice {
    /// Tunables of the driver.
    public struct Configuration: Sendable {
        /// Receive buffers kept posted (capped by the queue size).
        public var receiveBuffers = 128
        /// Transmit buffers (capped by the queue size).
        public var transmitBuffers = 64
        /// Bytes per receive buffer when mergeable receive buffers are negotiated (including the 12-byte header);
        /// at least 128.
        public var mergeableBufferSize = 2048
        /// The largest MTU the driver sizes buffers for; a larger device MTU is clamped to it.
        public var maximumMTU = 9000
        /// Preferred queue size (the device's maximum if smaller).
        public var queueSize: UInt16 = 256
        /// Negotiate `VIRTIO_F_EVENT_IDX` when offered.
        public var useEventIndex = true
        /// The virtqueue layouts to use: split rings (default), or packed rings (§2.8) when the device offers them
        /// (`.packedWhenOffered`).
        public var queueFormat = VirtqueueFormat.split
        /// Negotiate `VIRTIO_NET_F_MRG_RXBUF` when offered.
        public var useMergeableBuffers = true
        /// Negotiate `VIRTIO_NET_F_CSUM` and `VIRTIO_NET_F_GUEST_CSUM` when offered.
        public var useChecksumOffload = true
        /// Ask for receive interrupts (true) or poll (false).
        public var interruptDriven = true
        /// The MAC address to use when the device does not provide one (`VIRTIO_NET_F_MAC` not offered): a
        /// locally administered unicast address by default.
        public var fallbackMAC = MACAddress(0x02, 0x00, 0x00, 0x00, 0x00, 0x01)

        /// The defaults.
        public init() {}
    }

    /// Receive queue index (receiveq1).
    public static let receiveQueueIndex: UInt16 = 0
    /// Transmit queue index (transmitq1).
    public static let transmitQueueIndex: UInt16 = 1
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
    public static let headerNeedsChecksum: UInt8 = 1
    /// `VIRTIO_NET_HDR_F_DATA_VALID`.
    public static let headerDataValid: UInt8 = 2
    /// `VIRTIO_NET_S_LINK_UP`.
    public static let statusLinkUp: UInt16 = 1

    /// The transport.
    public let transport: any VirtioTransport
    /// The negotiated features.
    public let features: VirtioFeatures
    /// The receive queue.
    public let receiveQueue: any Virtqueue
    /// The transmit queue.
    public let transmitQueue: any Virtqueue
    /// Size of the virtio-net header in front of every frame: 12 bytes (10 on a legacy device without
    /// mergeable buffers; §5.1.6).
    public let headerLength: Int
    /// Whether received frames may span several buffers.
    public let mergeableBuffers: Bool
    /// Whether the driver polls (no interrupts requested).
    public let interruptDriven: Bool

    /// The MAC address (from the device, or the configured fallback).
    public let macAddress: MACAddress
    /// The MTU: the device's (`VIRTIO_NET_F_MTU`, clamped to the configured maximum) or 1500.
    public let mtu: Int
    /// Whether the link is up (always true without `VIRTIO_NET_F_STATUS`).
    public private(set) var isLinkUp: Bool
    /// Values the device put in its configuration space that were out of range and replaced by defaults.
    public private(set) var configurationFaults: UInt64 = 0
    /// Frames whose header or checksum instructions were malformed, or whose length the device misreported.
    public private(set) var malformedFrames: UInt64 = 0

    private var counters = NetworkStatistics()
    private let memory: any DMAMemory
    private let receivePool: UnsafeMutableRawPointer
    private let receiveBufferSize: Int
    private let receiveBufferCount: Int
    private let transmitPool: UnsafeMutableRawPointer
    private let transmitBufferSize: Int
    private let transmitBufferCount: Int
    private var freeTransmitBuffers: [UInt16]
    /// Open `beginBatch()` calls, and which queues had buffers published during them (their notifications wait for
    /// the outermost `endBatch()`).
    private var batchDepth = 0
    private var receiveNotificationPending = false
    private var transmitNotificationPending = false
    private let reassembly: UnsafeMutableRawPointer?
    private let maximumFrame: Int
    private let splitHeader: Bool

    /// Brings up the virtio-net device behind `transport` (virtio 1.2 §3.1.1, §5.1.5): negotiates features,
    /// reads MAC, status and MTU, creates both queues, posts the receive pool, and sets DRIVER_OK.
    /// All shared memory comes from `memory`, allocated here once. On failure the device is left FAILED/reset.
    public init(transport: any VirtioTransport, memory: any DMAMemory,
                configuration: Configuration = Configuration()) throws(VirtioError) {
        var supported: VirtioFeatures = [.netMAC, .netStatus, .netMTU, .anyLayout]
        if configuration.useEventIndex { supported.insert(.eventIndex) }
        if configuration.queueFormat.offersPacked { supported.insert(.ringPacked) }
        if configuration.useMergeableBuffers { supported.insert(.netMergeableReceiveBuffers) }
        if configuration.useChecksumOffload { supported.formUnion([.netChecksum, .netGuestChecksum]) }
        let features = try VirtioSetup.negotiate(transport, expecting: .network, supported: supported)

        var faults: UInt64 = 0
        // The configuration must hold every field the negotiated features put there (§5.1.4).
        let needed = features.contains(.netMTU) ? 12 : (features.contains(.netStatus) ? 8 : (features.contains(.netMAC) ? 6 : 0))
        if transport.deviceConfigSize < needed {
            VirtioSetup.fail(transport)
            throw .badConfiguration(offset: transport.deviceConfigSize)
        }
        let fields = try VirtioSetup.readConsistently(transport) {
            (mac: MACAddress(transport.readConfig8(at: 0), transport.readConfig8(at: 1), transport.readConfig8(at: 2),
                             transport.readConfig8(at: 3), transport.readConfig8(at: 4), transport.readConfig8(at: 5)),
             status: transport.readConfig16(at: 6), mtu: transport.readConfig16(at: 10))
        }
        var mac = configuration.fallbackMAC
        if features.contains(.netMAC) {
            if fields.mac.isMulticast || fields.mac == .zero { faults += 1 } else { mac = fields.mac }
        }
        var mtu = 1500
        if features.contains(.netMTU) {
            let deviceMTU = Int(fields.mtu)
            if deviceMTU < 68 { faults += 1 } else { mtu = min(deviceMTU, max(configuration.maximumMTU, 68)) }
        }
        let linkUp = features.contains(.netStatus) ? fields.status & Self.statusLinkUp != 0 : true

        let modern = features.contains(.version1)
        let mergeable = features.contains(.netMergeableReceiveBuffers)
        let header = modern || mergeable ? 12 : 10
        let split = !modern && !features.contains(.anyLayout)
        let maxFrame = mtu + 14 + 4  // Ethernet header and one VLAN tag
        let eventIndex = features.contains(.eventIndex)
        let format = features.contains(.ringPacked) ? configuration.queueFormat : .split

        let rxQueue: any Virtqueue
        let txQueue: any Virtqueue
        do throws(VirtioError) {
            rxQueue = try VirtioSetup.makeQueue(transport, index: Self.receiveQueueIndex,
                                                preferredSize: configuration.queueSize, memory: memory,
                                                eventIndex: eventIndex, format: format)
            txQueue = try VirtioSetup.makeQueue(transport, index: Self.transmitQueueIndex,
                                                preferredSize: configuration.queueSize, memory: memory,
                                                eventIndex: eventIndex, format: format)
        } catch {
            Self.abandon(transport)
            throw error
        }
        let descriptorsPerBuffer = split ? 2 : 1
        let rxSize = mergeable ? max(configuration.mergeableBufferSize, 128) : header + maxFrame
        let rxCount = max(1, min(configuration.receiveBuffers, Int(rxQueue.size) / descriptorsPerBuffer))
        let txSize = header + maxFrame
        let txCount = max(1, min(configuration.transmitBuffers, Int(txQueue.size) / descriptorsPerBuffer, 65535))
        guard let rxPool = memory.allocate(byteCount: rxSize * rxCount, alignment: 64) else {
            Self.abandon(transport)
            throw .outOfMemory(bytes: rxSize * rxCount)
        }
        guard let txPool = memory.allocate(byteCount: txSize * txCount, alignment: 64) else {
            Self.abandon(transport)
            memory.deallocate(rxPool)
            throw .outOfMemory(bytes: txSize * txCount)
        }

        self.transport = transport
        self.features = features
        self.memory = memory
        receiveQueue = rxQueue
        transmitQueue = txQueue
        headerLength = header
        mergeableBuffers = mergeable
        splitHeader = split
        interruptDriven = configuration.interruptDriven
        macAddress = mac
        self.mtu = mtu
        isLinkUp = linkUp
        configurationFaults = faults
        receivePool = rxPool
        receiveBufferSize = rxSize
        receiveBufferCount = rxCount
        transmitPool = txPool
        transmitBufferSize = txSize
        transmitBufferCount = txCount
        maximumFrame = maxFrame
        freeTransmitBuffers = []
        freeTransmitBuffers.reserveCapacity(txCount)
        for i in (0..<txCount).reversed() { freeTransmitBuffers.append(UInt16(i)) }
        reassembly = mergeable ? UnsafeMutableRawPointer.allocate(byteCount: maxFrame, alignment: 16) : nil

        // Transmit completions are reclaimed lazily: never ask for transmit interrupts.
        transmitQueue.disableInterrupts()
        if !interruptDriven { receiveQueue.disableInterrupts() }
        for slot in 0..<rxCount {
            guard postReceiveBuffer(slot) else {
                Self.abandon(transport)
                throw .badQueueConfiguration(Self.receiveQueueIndex)
            }
        }
        do throws(VirtioError) {
            try VirtioSetup.finish(transport)
        } catch {
            Self.abandon(transport)
            throw error
        }
        if receiveQueue.shouldNotify() { transport.notify(queue: Self.receiveQueueIndex) }
    }

    deinit {
        reassembly?.deallocate()
        // The device must not touch the buffers after they are freed: reset it first. A device that does not
        // finish its reset might still write to them, so then they (and the rings) are never handed back.
        do throws(VirtioError) {
            try VirtioSetup.reset(transport)
        } catch {
            receiveQueue.abandonMemory()
            transmitQueue.abandonMemory()
            return
        }
        memory.deallocate(receivePool)
        memory.deallocate(transmitPool)
    }

    private static func abandon(_ transport: any VirtioTransport) {
        VirtioSetup.fail(transport)
        try? VirtioSetup.reset(transport)
    }

    // MARK: NetworkDevice

    /// Packet and byte counters; `errors` includes every fault the queues detected, malformed frames, and
    /// out-of-range configuration values.
    public var statistics: NetworkStatistics {
        var s = counters
        s.errors += receiveQueue.faults.total + transmitQueue.faults.total + malformedFrames + configurationFaults
        return s
    }

    /// Lends the next received frame to `body` (the device buffer itself, valid only during the call), then
    /// re-posts the buffer. Malformed frames are dropped and counted, and the next frame is tried. Returns false
    /// when no complete frame is waiting (or the receive queue is broken).
    public func receive(_ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        while true {
            guard let first = receiveQueue.peekUsed(at: 0) else { return false }
            if !mergeableBuffers {
                _ = receiveQueue.popUsed()
                let slot = Int(first.token)
                defer { repost(slot) }
                guard first.lengthWasValid, Int(first.length) >= headerLength else {
                    dropMalformed()
                    continue
                }
                let frame = receivePool + slot * receiveBufferSize
                let length = Int(first.length) - headerLength
                if deliver(header: frame, frame: frame + headerLength, length: length, body) { return true }
                continue
            }

            // Mergeable buffers: the first buffer's header says how many buffers the frame uses.
            let slot0 = Int(first.token)
            let buffer0 = receivePool + slot0 * receiveBufferSize
            guard first.lengthWasValid, Int(first.length) >= headerLength else {
                _ = receiveQueue.popUsed()
                repost(slot0)
                dropMalformed()
                continue
            }
            let count = Int(UInt16(littleEndian: buffer0.loadUnaligned(fromByteOffset: 10, as: UInt16.self)))
            guard count >= 1, count <= receiveBufferCount else {
                _ = receiveQueue.popUsed()
                repost(slot0)
                dropMalformed()
                continue
            }
            if count == 1 {
                _ = receiveQueue.popUsed()
                defer { repost(slot0) }
                if deliver(header: buffer0, frame: buffer0 + headerLength, length: Int(first.length) - headerLength,
                           body) { return true }
                continue
            }
            // Wait until the device has published every buffer of the frame.
            guard receiveQueue.usedCount() >= count else { return false }
            guard let scratch = reassembly else { return false }
            var total = 0
            var fits = true
            for i in 0..<count {
                guard let c = receiveQueue.popUsed() else {  // invalid element: the queue is now broken
                    dropMalformed()
                    return false
                }
                let slot = Int(c.token)
                let source = receivePool + slot * receiveBufferSize
                let skip = i == 0 ? headerLength : 0
                let piece = Int(c.length) - skip
                if !c.lengthWasValid || piece < 0 || total + piece > maximumFrame { fits = false }
                if fits && piece > 0 { (scratch + total).copyMemory(from: source + skip, byteCount: piece) }
                if fits { total += piece }
                if i > 0 { repost(slot) }
            }
            // The first buffer still holds the header; it is re-posted after the frame was handled.
            defer { repost(slot0) }
            guard fits else {
                dropMalformed()
                continue
            }
            if deliver(header: buffer0, frame: scratch, length: total, body) { return true }
        }
    }

    /// Calls `fill` with a transmit buffer of `length` bytes and queues the frame; false (without calling
    /// `fill`) when no buffer is free, the length is zero or above `mtu + 14` (plus a VLAN tag), or the queue
    /// is broken.
    public func transmit(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        transmit(length: length, checksumOffload: nil, fill)
    }

    /// Holds back queue notifications until `endBatch()`: a stack that handles a burst of received frames kicks
    /// the device once for the buffers it gives back and once for the frames it sends (ACKs, responses), instead
    /// of once per frame. Each kick is a trapped MMIO or port write that waits for the hypervisor's device model;
    /// under QEMU TCG it also competes for the big QEMU lock with the thread that delivers received frames. With
    /// EVENT_IDX, QEMU's virtio-net moves `avail_event` to the current index after every frame it receives, so an
    /// unbatched driver kicked the receive queue for nearly every frame. Virtio 1.2 §2.7.13.4 lets a driver batch
    /// notifications, and `shouldNotify` covers every chain published since it was last asked. The receive queue
    /// keeps `receiveBufferCount` buffers posted, so holding its kick for one poll does not starve the device.
    public func beginBatch() { batchDepth += 1 }

    /// Ends the batch; the outermost end notifies each queue that had buffers published during it, if the device
    /// asked for it.
    public func endBatch() {
        guard batchDepth > 0 else { return }
        batchDepth -= 1
        guard batchDepth == 0 else { return }
        if receiveNotificationPending {
            receiveNotificationPending = false
            if receiveQueue.shouldNotify() { transport.notify(queue: Self.receiveQueueIndex) }
        }
        if transmitNotificationPending {
            transmitNotificationPending = false
            if transmitQueue.shouldNotify() { transport.notify(queue: Self.transmitQueueIndex) }
        }
    }

    /// `transmit(length:_:)` with a checksum to complete: the device does it when `VIRTIO_NET_F_CSUM` was
    /// negotiated, otherwise the driver computes it after `fill` returns. A request whose checksum field does not
    /// lie inside the frame is refused (false, counted as a transmit drop).
    public func transmit(length: Int, checksumOffload: ChecksumOffload?,
                         _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        reclaimTransmitBuffers()
        guard length > 0, length <= maximumFrame, !transmitQueue.isBroken else {
            counters.transmitDrops += 1
            return false
        }
        if let c = checksumOffload {
            guard c.start >= 0, c.offset >= 0, c.start < length, c.offset <= length - c.start - 2,
                  c.start <= 0xFFFF, c.offset <= 0xFFFF
            else {
                counters.transmitDrops += 1
                return false
            }
        }
        guard let slot = freeTransmitBuffers.popLast() else {
            counters.transmitDrops += 1
            return false
        }
        let buffer = transmitPool + Int(slot) * transmitBufferSize
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: headerLength)
        let frame = buffer + headerLength
        fill(UnsafeMutableRawBufferPointer(start: frame, count: length))
        if let c = checksumOffload {
            if features.contains(.netChecksum) {
                buffer.storeBytes(of: Self.headerNeedsChecksum, as: UInt8.self)
                buffer.storeBytes(of: UInt16(c.start).littleEndian, toByteOffset: 6, as: UInt16.self)
                buffer.storeBytes(of: UInt16(c.offset).littleEndian, toByteOffset: 8, as: UInt16.self)
            } else {
                Self.completeChecksum(frame, length: length, start: c.start, offset: c.offset)
            }
        }
        let address = memory.deviceAddress(of: buffer)
        do throws(VirtqueueError) {
            if splitHeader {
                try transmitQueue.submit(
                    VirtqueueSegment(address: address, length: UInt32(headerLength), deviceWritable: false),
                    VirtqueueSegment(address: address + UInt64(headerLength), length: UInt32(length), deviceWritable: false),
                    token: UInt32(slot))
            } else {
                try transmitQueue.submit(
                    VirtqueueSegment(address: address, length: UInt32(headerLength + length), deviceWritable: false),
                    token: UInt32(slot))
            }
        } catch {
            freeTransmitBuffers.append(slot)
            counters.transmitDrops += 1
            return false
        }
        if batchDepth > 0 {
            transmitNotificationPending = true
        } else if transmitQueue.shouldNotify() {
            transport.notify(queue: Self.transmitQueueIndex)
        }
        counters.transmittedPackets += 1
        counters.transmittedBytes += UInt64(length)
        return true
    }

    // MARK: Interrupts and polling

    /// Called from the device's interrupt handler: reads and acknowledges the interrupt status (deasserting an
    /// INTx line) and, on a configuration change, re-reads the link status. Touches no queue state. Returns
    /// what the interrupt was for; the runtime then wakes the thread that calls `receive`.
    @discardableResult
    public func handleInterrupt() -> VirtioInterruptStatus {
        let status = transport.acknowledgeInterrupt()
        if status.contains(.configuration) { handleConfigurationChange() }
        return status
    }

    /// Re-reads the link status (for an MSI-X configuration vector, or after `handleInterrupt` saw a change).
    public func handleConfigurationChange() {
        guard features.contains(.netStatus) else { return }
        isLinkUp = transport.readConfig16(at: 6) & Self.statusLinkUp != 0
    }

    /// Reclaims completed transmit buffers; returns true when received frames are waiting.
    @discardableResult
    public func poll() -> Bool {
        reclaimTransmitBuffers()
        return hasReceivedFrames
    }

    /// Whether the device has returned receive buffers not yet consumed.
    public var hasReceivedFrames: Bool { receiveQueue.usedCount() > 0 }

    /// Turns receive interrupts on or off (e.g. off while a busy network thread polls). Turning them on returns
    /// true when frames are already waiting, which no interrupt will announce.
    @discardableResult
    public func setReceiveInterrupts(_ enabled: Bool) -> Bool {
        if enabled { return receiveQueue.enableInterrupts() }
        receiveQueue.disableInterrupts()
        return false
    }

    /// Transmit buffers currently free.
    public var freeTransmitBufferCount: Int { freeTransmitBuffers.count }
    /// Receive buffers currently posted to the device.
    public var postedReceiveBufferCount: Int { receiveQueue.inFlightCount }
    /// Total receive buffers in the pool.
    public var receiveBufferTotal: Int { receiveBufferCount }
    /// Total transmit buffers in the pool.
    public var transmitBufferTotal: Int { transmitBufferCount }
    /// Whether either queue was stopped after a device fault.
    public var isBroken: Bool { receiveQueue.isBroken || transmitQueue.isBroken }

    // MARK: Internals

    private func reclaimTransmitBuffers() {
        while let c = transmitQueue.popUsed() {
            if Int(c.token) < transmitBufferCount { freeTransmitBuffers.append(UInt16(c.token)) }
        }
    }

    private func dropMalformed() {
        malformedFrames += 1
        counters.receiveDrops += 1
    }

    /// Validates the header of a received frame, completes a partial checksum, and lends the frame to `body`.
    /// Returns false (after counting) when the frame was dropped.
    private func deliver(header: UnsafeMutableRawPointer, frame: UnsafeMutableRawPointer, length: Int,
                         _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard length >= 14, length <= maximumFrame else {
            if length > maximumFrame { malformedFrames += 1 }
            counters.receiveDrops += 1
            return false
        }
        let flags = header.load(as: UInt8.self)
        if flags & Self.headerNeedsChecksum != 0 {
            guard features.contains(.netGuestChecksum) else {
                dropMalformed()
                return false
            }
            let start = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
            let offset = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt16.self)))
            guard start < length, offset <= length - start - 2 else {
                dropMalformed()
                return false
            }
            Self.completeChecksum(frame, length: length, start: start, offset: offset)
        }
        counters.receivedPackets += 1
        counters.receivedBytes += UInt64(length)
        body(UnsafeRawBufferPointer(start: frame, count: length))
        return true
    }

    private func repost(_ slot: Int) {
        guard postReceiveBuffer(slot) else { return }
        if batchDepth > 0 {
            receiveNotificationPending = true
        } else if receiveQueue.shouldNotify() {
            transport.notify(queue: Self.receiveQueueIndex)
        }
    }

    private func postReceiveBuffer(_ slot: Int) -> Bool {
        let buffer = receivePool + slot * receiveBufferSize
        let address = memory.deviceAddress(of: buffer)
        do throws(VirtqueueError) {
            if splitHeader {
                try receiveQueue.submit(
                    VirtqueueSegment(address: address, length: UInt32(headerLength), deviceWritable: true),
                    VirtqueueSegment(address: address + UInt64(headerLength),
                                     length: UInt32(receiveBufferSize - headerLength), deviceWritable: true),
                    token: UInt32(slot))
            } else {
                try receiveQueue.submit(
                    VirtqueueSegment(address: address, length: UInt32(receiveBufferSize), deviceWritable: true),
                    token: UInt32(slot))
            }
            return true
        } catch {
            return false
        }
    }

    /// Stores the Internet checksum (RFC 1071) of `frame[start..<length]` big-endian at `start + offset`; the
    /// caller has checked that the field lies inside the frame.
    static func completeChecksum(_ frame: UnsafeMutableRawPointer, length: Int, start: Int, offset: Int) {
        let sum = internetChecksum(UnsafeRawBufferPointer(start: frame + start, count: length - start))
        frame.storeBytes(of: sum.bigEndian, toByteOffset: start + offset, as: UInt16.self)
    }

    /// The ones'-complement of the ones'-complement sum of `bytes` as big-endian 16-bit words (RFC 1071).
    public static func internetChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var sum: UInt64 = 0
        var i = 0
        let n = bytes.count
        while i + 1 < n {
            sum += UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
            i += 2
        }
        if i < n { sum += UInt64(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}
