import Hardware
import Interfaces

/// A packed virtqueue (virtio 1.2 §2.8): one ring of descriptors that the driver marks available and the device
/// overwrites with used descriptors, tracked by wrap counters, plus the driver and device event-suppression
/// structures (§2.8.10). Needs `VIRTIO_F_RING_PACKED` (modern transports only).
///
/// Layout in DMA memory: the descriptor ring (16 bytes per entry; address, length, buffer ID, flags), then the
/// driver event suppression structure (4 bytes), then the device event suppression structure (4 bytes).
///
/// Buffer IDs are handed out from a private pool; each in-flight ID records its chain's descriptor count,
/// writable capacity and token in private memory. The device is untrusted exactly as for `SplitVirtqueue`: a
/// used descriptor must carry an ID that is in flight (else the queue breaks), its length must fit the chain's
/// writable capacity (else it is clamped and counted), and each shared value is read once. The ring position
/// the driver consumes next is derived from its own records (the chain length of each returned ID), never from
/// the device.
///
/// Event suppression uses the (position, wrap counter) pairs of §2.8.10 compared in the 2N-long cycle formed by
/// position and wrap counter, which is the split ring's `vring_need_event` test without 16-bit overflow
/// subtleties.
public final class PackedVirtqueue: Virtqueue {
    /// See `Virtqueue`.
    public let index: UInt16
    /// See `Virtqueue`.
    public let size: UInt16
    /// See `Virtqueue`.
    public let usesEventIndex: Bool
    /// See `Virtqueue`.
    public let addresses: VirtqueueAddresses
    /// See `Virtqueue`.
    public private(set) var isBroken = false
    /// See `Virtqueue`.
    public private(set) var faults = VirtqueueFaultCounters()
    /// See `Virtqueue`.
    public private(set) var lastFault: VirtqueueFault?
    /// See `Virtqueue`.
    public private(set) var freeDescriptorCount: Int
    /// See `Virtqueue`.
    public private(set) var inFlightCount = 0
    /// See `Virtqueue`.
    public private(set) var interruptsEnabled = true
    /// See `Virtqueue`.
    public private(set) var notificationsRequested: UInt64 = 0

    /// Descriptor flag bits (§2.8.1): NEXT, WRITE, AVAIL (bit 7), USED (bit 15).
    static let flagNext: UInt16 = 1
    static let flagWrite: UInt16 = 2
    static let flagAvail: UInt16 = 1 << 7
    static let flagUsed: UInt16 = 1 << 15
    /// Event suppression flags (§2.8.10): enable, disable, descriptor-specific (needs EVENT_IDX).
    static let eventEnable: UInt16 = 0
    static let eventDisable: UInt16 = 1
    static let eventDescriptor: UInt16 = 2

    private struct BufferState {
        var inFlight = false
        var count: UInt16 = 0
        var writable: UInt32 = 0
        var token: UInt32 = 0
    }

    private let memory: any DMAMemory
    private let ringPointer: UnsafeMutableRawPointer
    private let ring: MMIORegion
    private let driverEventOffset: UInt64
    private let deviceEventOffset: UInt64
    private let buffers: UnsafeMutablePointer<BufferState>
    private var freeIDs: [UInt16]
    private var nextAvail: UInt16 = 0
    private var availWrap = true
    private var addedSinceNotify = 0
    private var lastUsed: UInt16 = 0
    private var usedWrap = true
    private var cachedNext: VirtqueueCompletion?
    private var memoryAbandoned = false

    /// Bytes of shared memory a packed queue of `size` entries needs: ring, driver area, device area.
    public static func memoryLayout(size: Int) -> (driverOffset: Int, deviceOffset: Int, total: Int) {
        (16 * size, 16 * size + 4, 16 * size + 8)
    }

    /// Allocates and zeroes a packed queue of `size` entries (1...32768) in `memory`.
    public init(index: UInt16, size: UInt16, memory: any DMAMemory, eventIndex: Bool) throws(VirtioError) {
        guard size > 0, size <= 32768 else { throw .badQueueSize(queue: index, size: UInt32(size)) }
        let l = Self.memoryLayout(size: Int(size))
        guard let pointer = memory.allocate(byteCount: l.total, alignment: 4096) else { throw .outOfMemory(bytes: l.total) }
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: l.total)
        self.index = index
        self.size = size
        self.memory = memory
        usesEventIndex = eventIndex
        ringPointer = pointer
        ring = MMIORegion(unsafeBase: UInt64(UInt(bitPattern: pointer)), size: UInt64(l.total))
        driverEventOffset = UInt64(l.driverOffset)
        deviceEventOffset = UInt64(l.deviceOffset)
        let base = memory.deviceAddress(of: pointer)
        addresses = VirtqueueAddresses(descriptorTable: base, driverArea: base + UInt64(l.driverOffset),
                                       deviceArea: base + UInt64(l.deviceOffset))
        buffers = .allocate(capacity: Int(size))
        buffers.initialize(repeating: BufferState(), count: Int(size))
        freeIDs = []
        freeIDs.reserveCapacity(Int(size))
        for id in (0..<Int(size)).reversed() { freeIDs.append(UInt16(id)) }
        freeDescriptorCount = Int(size)
    }

    deinit {
        buffers.deallocate()
        if !memoryAbandoned { memory.deallocate(ringPointer) }
    }

    /// See `Virtqueue`.
    public func abandonMemory() { memoryAbandoned = true }

    // MARK: Submitting

    /// See `Virtqueue`.
    @discardableResult
    public func submit(_ a: VirtqueueSegment, token: UInt32) throws(VirtqueueError) -> UInt16 {
        try submitChain(count: 1, token: token) { _ in a }
    }

    /// See `Virtqueue`.
    @discardableResult
    public func submit(_ a: VirtqueueSegment, _ b: VirtqueueSegment, token: UInt32) throws(VirtqueueError) -> UInt16 {
        try submitChain(count: 2, token: token) { $0 == 0 ? a : b }
    }

    /// See `Virtqueue`.
    @discardableResult
    public func submit(_ a: VirtqueueSegment, _ b: VirtqueueSegment, _ c: VirtqueueSegment,
                       token: UInt32) throws(VirtqueueError) -> UInt16 {
        try submitChain(count: 3, token: token) { $0 == 0 ? a : ($0 == 1 ? b : c) }
    }

    /// Writes the chain's descriptors in ring order (§2.8.6), the buffer ID in each, and the first descriptor's
    /// flags last, after a barrier, so the device never sees a partial chain (§2.8.21.1). Returns the buffer ID.
    @discardableResult
    public func submitChain(count: Int, token: UInt32,
                            _ segment: (Int) -> VirtqueueSegment) throws(VirtqueueError) -> UInt16 {
        guard !isBroken else { throw .broken }
        guard count > 0 else { throw .badSegment }
        guard count <= freeDescriptorCount, let id = freeIDs.last else { throw .noFreeDescriptors }
        var writable: UInt64 = 0
        var sawWritable = false
        for i in 0..<count {
            let s = segment(i)
            guard s.length > 0, !(sawWritable && !s.isDeviceWritable) else { throw .badSegment }
            if s.isDeviceWritable {
                sawWritable = true
                writable += UInt64(s.length)
            }
        }
        guard writable <= UInt64(UInt32.max) else { throw .badSegment }
        freeIDs.removeLast()

        let start = nextAvail
        var position = nextAvail
        var wrap = availWrap
        var firstFlags: UInt16 = 0
        for i in 0..<count {
            let s = segment(i)
            var flags: UInt16 = wrap ? Self.flagAvail : Self.flagUsed
            if i < count - 1 { flags |= Self.flagNext }
            if s.isDeviceWritable { flags |= Self.flagWrite }
            let at = UInt64(position) * 16
            ring.write64(s.address, at: at)
            ring.write32(s.length, at: at + 8)
            ring.write16(id, at: at + 12)
            if i == 0 { firstFlags = flags } else { ring.write16(flags, at: at + 14) }
            position += 1
            if position == size {
                position = 0
                wrap.toggle()
            }
        }
        MemoryBarrier.compiler()  // every other descriptor before the first one's flags (x86 keeps store order)
        ring.write16(firstFlags, at: UInt64(start) * 16 + 14)
        nextAvail = position
        availWrap = wrap
        addedSinceNotify += count
        freeDescriptorCount -= count
        buffers[Int(id)] = BufferState(inFlight: true, count: UInt16(count), writable: UInt32(writable), token: token)
        inFlightCount += 1
        return id
    }

    /// Position `p` with wrap counter `w` as a point in the 2N-long cycle.
    @inline(__always) private func cycle(_ p: UInt16, _ w: Bool) -> UInt32 { UInt32(p) + (w ? 0 : UInt32(size)) }

    /// Whether `event` lies in `[old, new)` of the 2N cycle (§2.8.10: the device asked to be notified, or the
    /// driver to be interrupted, when that descriptor position is reached).
    @inline(__always) private func crossed(event: UInt32, new: UInt32, old: UInt32) -> Bool {
        let n = 2 * UInt32(size)
        return (new + n - event - 1) % n < (new + n - old) % n
    }

    /// Whether the device wants a notification for the descriptors made available since the last call: its
    /// event suppression flags say enable, or (with EVENT_IDX) the descriptor position it named was reached.
    public func shouldNotify() -> Bool {
        MemoryBarrier.full()
        let added = addedSinceNotify
        addedSinceNotify = 0
        guard added > 0, !isBroken else { return false }
        let offWrap = ring.read16(at: deviceEventOffset)
        let flags = ring.read16(at: deviceEventOffset + 2) & 3
        let notify: Bool
        if flags == Self.eventDescriptor && usesEventIndex {
            let offset = offWrap & 0x7FFF
            guard offset < size else { return true }  // nonsense: notify rather than stall
            let new = cycle(nextAvail, availWrap)
            let n = 2 * UInt32(size)
            let old = (new + n - UInt32(min(added, Int(n) - 1))) % n
            notify = crossed(event: cycle(offset, offWrap & 0x8000 != 0), new: new, old: old)
        } else {
            notify = flags != Self.eventDisable
        }
        if notify { notificationsRequested &+= 1 }
        return notify
    }

    // MARK: Completions

    /// Reads and validates the used descriptor at `position` if the device has written one there (its AVAIL and
    /// USED bits both equal `wrap`). Returns nil if not used yet; records a fault and breaks the queue for an ID
    /// that is not in flight (only when `record` is true).
    private func usedDescriptor(at position: UInt16, wrap: Bool, record: Bool) -> VirtqueueCompletion? {
        let at = UInt64(position) * 16
        let flags = ring.read16(at: at + 14)
        let avail = flags & Self.flagAvail != 0
        let used = flags & Self.flagUsed != 0
        guard avail == used, used == wrap else { return nil }
        MemoryBarrier.compiler()  // the descriptor body was written before its flags
        let length = ring.read32(at: at + 8)
        let id = ring.read16(at: at + 12)
        guard id < size else {
            if record { fault(.idOutOfRange(UInt32(id))) }
            return nil
        }
        let state = buffers[Int(id)]
        guard state.inFlight else {
            if record { fault(.idNotInFlight(UInt32(id))) }
            return nil
        }
        return VirtqueueCompletion(head: id, token: state.token, length: min(length, state.writable),
                                   capacity: state.writable, reportedLength: length)
    }

    private func fault(_ f: VirtqueueFault) {
        lastFault = f
        faults.badIDs += 1
        isBroken = true
    }

    /// Counts used descriptors from the next one on, following each returned ID's chain length; stops at the
    /// first position not yet used or holding an invalid ID (which `popUsed` will report).
    public func usedCount() -> Int {
        guard !isBroken else { return 0 }
        var count = 0
        var position = lastUsed
        var wrap = usedWrap
        var seen = 0
        while count < inFlightCount {
            guard let c = (count == 0 ? cachedNext : nil) ?? usedDescriptor(at: position, wrap: wrap, record: false)
            else { break }
            count += 1
            seen += Int(buffers[Int(c.head)].count)
            if seen > Int(size) { break }
            let next = UInt32(position) + UInt32(buffers[Int(c.head)].count)
            if next >= UInt32(size) { wrap.toggle() }
            position = UInt16(next % UInt32(size))
        }
        return count
    }

    /// The used buffer `offset` places after the next one, validated, not consumed (an invalid ID at offset 0
    /// breaks the queue).
    public func peekUsed(at offset: Int) -> VirtqueueCompletion? {
        guard !isBroken, offset >= 0 else { return nil }
        if offset == 0 {
            if let cachedNext { return cachedNext }
            cachedNext = usedDescriptor(at: lastUsed, wrap: usedWrap, record: true)
            return cachedNext
        }
        var position = lastUsed
        var wrap = usedWrap
        for i in 0...offset {
            guard let c = (i == 0 ? peekUsed(at: 0) : usedDescriptor(at: position, wrap: wrap, record: false)) else {
                return nil
            }
            if i == offset { return c }
            let next = UInt32(position) + UInt32(buffers[Int(c.head)].count)
            if next >= UInt32(size) { wrap.toggle() }
            position = UInt16(next % UInt32(size))
        }
        return nil
    }

    /// Consumes the next used buffer, returning its descriptors and ID to the driver.
    public func popUsed() -> VirtqueueCompletion? {
        guard let c = peekUsed(at: 0) else { return nil }
        cachedNext = nil
        if !c.lengthWasValid {
            lastFault = .lengthTooLong(head: c.head, length: c.reportedLength, capacity: c.capacity)
            faults.lengthOverruns += 1
        }
        let count = buffers[Int(c.head)].count
        buffers[Int(c.head)].inFlight = false
        freeIDs.append(c.head)
        freeDescriptorCount += Int(count)
        inFlightCount -= 1
        let next = UInt32(lastUsed) + UInt32(count)
        if next >= UInt32(size) { usedWrap.toggle() }
        lastUsed = UInt16(next % UInt32(size))
        if usesEventIndex && interruptsEnabled { writeDriverEvent() }
        return c
    }

    private func writeDriverEvent() {
        ring.write16(lastUsed | (usedWrap ? 0x8000 : 0), at: driverEventOffset)
        ring.write16(Self.eventDescriptor, at: driverEventOffset + 2)
    }

    // MARK: Interrupt suppression

    /// Sets the driver event suppression flags to "disable" (§2.8.10).
    public func disableInterrupts() {
        interruptsEnabled = false
        ring.write16(Self.eventDisable, at: driverEventOffset + 2)
    }

    /// Asks for an interrupt at the next used descriptor (descriptor-specific with EVENT_IDX, else "enable");
    /// true when used buffers are already waiting.
    @discardableResult
    public func enableInterrupts() -> Bool {
        interruptsEnabled = true
        if usesEventIndex {
            writeDriverEvent()
        } else {
            ring.write16(Self.eventEnable, at: driverEventOffset + 2)
        }
        MemoryBarrier.full()
        return usedCount() > 0
    }

    // MARK: Recovery

    /// See `Virtqueue`.
    public func markBroken() { isBroken = true }

    /// See `Virtqueue`.
    public func reclaimAll(_ body: (UInt32) -> Void) {
        cachedNext = nil
        for id in 0..<Int(size) where buffers[id].inFlight {
            buffers[id].inFlight = false
            freeIDs.append(UInt16(id))
            freeDescriptorCount += Int(buffers[id].count)
            inFlightCount -= 1
            body(buffers[id].token)
        }
    }
}
