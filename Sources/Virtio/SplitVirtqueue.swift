import Hardware
import Interfaces

/// One buffer of a descriptor chain: `length` bytes at device address `address`, which the device either reads
/// (driver → device) or writes (device → driver).
public struct VirtqueueSegment: Equatable, Sendable {
    /// Device (guest-physical) address of the first byte.
    public var address: UInt64
    /// Length in bytes; never zero.
    public var length: UInt32
    /// Whether the device writes the buffer (VIRTQ_DESC_F_WRITE). Writable segments follow all readable ones.
    public var isDeviceWritable: Bool

    /// Describes one buffer.
    public init(address: UInt64, length: UInt32, deviceWritable: Bool) {
        self.address = address
        self.length = length
        isDeviceWritable = deviceWritable
    }
}

/// A descriptor chain the device has returned through the used ring, already validated.
public struct VirtqueueCompletion: Equatable, Sendable {
    /// The chain's head descriptor index (the request's handle while it was in flight).
    public var head: UInt16
    /// The value the driver attached when it submitted the chain.
    public var token: UInt32
    /// Bytes the device says it wrote, clamped to `capacity`. Only the first `length` bytes of the writable
    /// segments hold device data.
    public var length: UInt32
    /// Total length of the chain's device-writable segments.
    public var capacity: UInt32
    /// The length exactly as the device reported it (for diagnostics only).
    public var reportedLength: UInt32
    /// False when the device reported more than `capacity` bytes (a fault; `length` was clamped).
    public var lengthWasValid: Bool { reportedLength <= capacity }
}

/// A way the device broke the split-ring rules (virtio 1.2 §2.7.8, §2.7.14 and the device requirements of
/// §2.7.8.2).
public enum VirtqueueFault: Equatable, Sendable, CustomStringConvertible {
    /// `used.idx` moved further than the number of chains in flight (it can only advance once per chain).
    case usedIndexJump(last: UInt16, reported: UInt16, inFlight: Int)
    /// A used element named a descriptor index at or past the queue size.
    case idOutOfRange(UInt32)
    /// A used element named a descriptor that does not head a chain in flight (never submitted, or already
    /// returned).
    case idNotInFlight(UInt32)
    /// A used element claimed more bytes written than the chain's writable buffers hold.
    case lengthTooLong(head: UInt16, length: UInt32, capacity: UInt32)

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .usedIndexJump(let last, let reported, let inFlight):
            return "used index jumped from \(last) to \(reported) with \(inFlight) chains in flight"
        case .idOutOfRange(let id): return "used element id \(id) out of range"
        case .idNotInFlight(let id): return "used element id \(id) not in flight"
        case .lengthTooLong(let head, let length, let capacity):
            return "used element \(head) length \(length) exceeds buffer capacity \(capacity)"
        }
    }
}

/// How many faults of each kind a virtqueue has seen.
public struct VirtqueueFaultCounters: Equatable, Sendable {
    /// `usedIndexJump` faults.
    public var usedIndexJumps: UInt64 = 0
    /// `idOutOfRange` and `idNotInFlight` faults.
    public var badIDs: UInt64 = 0
    /// `lengthTooLong` faults.
    public var lengthOverruns: UInt64 = 0
    /// All faults.
    public var total: UInt64 { usedIndexJumps + badIDs + lengthOverruns }
    /// No faults yet.
    public init() {}
}

/// Why a chain could not be submitted.
public enum VirtqueueError: Error, Equatable, CustomStringConvertible {
    /// Not enough free descriptors for the chain.
    case noFreeDescriptors
    /// The queue was marked broken after a device fault; it accepts nothing more until it is recreated.
    case broken
    /// A segment of length zero, a readable segment after a writable one, or more than 4 GiB writable.
    case badSegment

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .noFreeDescriptors: return "no free descriptors"
        case .broken: return "virtqueue broken"
        case .badSegment: return "invalid buffer segment"
        }
    }
}

/// A split virtqueue (virtio 1.2 §2.7): descriptor table, available ring and used ring in DMA memory, plus the
/// driver's private bookkeeping.
///
/// Trust model: the device may write anything into the shared memory at any time. Therefore:
/// - the free list, the chain links, each chain's length and writable capacity, and the tokens are kept in
///   private memory; the descriptor table is only ever written, never read back;
/// - every `used.idx` is checked to advance by no more than the number of chains in flight, every used element's
///   id to be a head in flight, every length to fit the chain's writable capacity;
/// - each shared value is read exactly once (volatile) and the local copy is validated and then used.
/// A bad index or id marks the queue broken (`isBroken`): nothing further is consumed or submitted, and the
/// owner is expected to reset the device. A bad length is counted, reported, and clamped.
///
/// Notification suppression: with `VIRTIO_F_EVENT_IDX` (§2.7.10) the driver publishes `used_event` and reads
/// `avail_event`; without it, the `VIRTQ_AVAIL_F_NO_INTERRUPT` / `VIRTQ_USED_F_NO_NOTIFY` flags are used.
///
/// Not thread-safe: one owner (the driver) calls it, with its own interrupt masking if an interrupt handler
/// also touches it.
public final class SplitVirtqueue {
    /// The queue's index on its device.
    public let index: UInt16
    /// Number of descriptors (and ring entries); a power of two, 1...32768.
    public let size: UInt16
    /// Whether `VIRTIO_F_EVENT_IDX` was negotiated.
    public let usesEventIndex: Bool
    /// Where the device finds the three areas.
    public let addresses: VirtqueueAddresses

    /// Whether a device fault stopped the queue.
    public private(set) var isBroken = false
    /// Faults seen so far.
    public private(set) var faults = VirtqueueFaultCounters()
    /// The most recent fault.
    public private(set) var lastFault: VirtqueueFault?
    /// Descriptors not in any chain in flight.
    public private(set) var freeDescriptorCount: Int
    /// Chains submitted and not yet returned.
    public private(set) var inFlightCount = 0
    /// Whether the driver currently asks for used-buffer interrupts.
    public private(set) var interruptsEnabled = true
    /// Notifications the driver decided to send (`shouldNotify` returned true).
    public private(set) var notificationsRequested: UInt64 = 0

    private struct HeadState {
        var inFlight = false
        var count: UInt16 = 0
        var writable: UInt32 = 0
        var token: UInt32 = 0
    }

    private let memory: any DMAMemory
    private let ringPointer: UnsafeMutableRawPointer
    private let ring: MMIORegion            // volatile view of the shared memory
    private let availOffset: UInt64
    private let usedOffset: UInt64
    private let mask: UInt16
    private let links: UnsafeMutablePointer<UInt16>      // free-list and chain links (private)
    private let heads: UnsafeMutablePointer<HeadState>   // per-head state (private)
    private var freeHead: UInt16 = 0
    private var availIndex: UInt16 = 0
    private var lastNotifiedAvailIndex: UInt16 = 0
    private var lastUsedIndex: UInt16 = 0
    /// The validated next used element, once read: it is consumed as read, never re-read from shared memory.
    private var cachedNext: VirtqueueCompletion?
    private var memoryAbandoned = false

    /// Bytes of shared memory a queue of `size` entries needs in `layout` (the descriptor table, the available
    /// ring with `used_event`, and the used ring with `avail_event`, aligned as the layout demands).
    public static func memoryLayout(size: Int, layout: VirtqueueLayout) -> (availOffset: Int, usedOffset: Int, total: Int, alignment: Int) {
        let descriptorBytes = 16 * size
        let availBytes = 6 + 2 * size
        let usedBytes = 6 + 8 * size
        switch layout {
        case .separate:
            let used = (descriptorBytes + availBytes + 3) & ~3
            return (descriptorBytes, used, used + usedBytes, 4096)
        case .legacy(let alignment):
            let a = max(alignment, 16)
            let used = (descriptorBytes + availBytes + a - 1) & ~(a - 1)
            return (descriptorBytes, used, used + usedBytes, a)
        }
    }

    /// Allocates and zeroes a queue of `size` entries in `memory`, laid out as `layout` requires. The queue is
    /// not yet known to the device: pass `addresses` to `VirtioTransport.activateQueue`.
    public init(index: UInt16, size: UInt16, layout: VirtqueueLayout, memory: any DMAMemory,
                eventIndex: Bool) throws(VirtioError) {
        guard size > 0, size <= 32768, size & (size - 1) == 0 else {
            throw .badQueueSize(queue: index, size: UInt32(size))
        }
        if case .legacy(let alignment) = layout, alignment <= 0 || alignment & (alignment - 1) != 0 {
            throw .badQueueConfiguration(index)
        }
        let l = Self.memoryLayout(size: Int(size), layout: layout)
        guard let pointer = memory.allocate(byteCount: l.total, alignment: l.alignment) else {
            throw .outOfMemory(bytes: l.total)
        }
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: l.total)
        self.index = index
        self.size = size
        self.memory = memory
        usesEventIndex = eventIndex
        mask = size - 1
        ringPointer = pointer
        ring = MMIORegion(unsafeBase: UInt64(UInt(bitPattern: pointer)), size: UInt64(l.total))
        availOffset = UInt64(l.availOffset)
        usedOffset = UInt64(l.usedOffset)
        let base = memory.deviceAddress(of: pointer)
        addresses = VirtqueueAddresses(descriptorTable: base, driverArea: base + UInt64(l.availOffset),
                                       deviceArea: base + UInt64(l.usedOffset))
        links = .allocate(capacity: Int(size))
        heads = .allocate(capacity: Int(size))
        for i in 0..<Int(size) {
            links[i] = UInt16(truncatingIfNeeded: i + 1)
            (heads + i).initialize(to: HeadState())
        }
        freeDescriptorCount = Int(size)
    }

    deinit {
        links.deallocate()
        heads.deallocate()
        if !memoryAbandoned { memory.deallocate(ringPointer) }
    }

    /// See `Virtqueue`.
    public func abandonMemory() { memoryAbandoned = true }

    // MARK: Submitting

    /// Makes a one-segment chain available. Returns its head index.
    @discardableResult
    public func submit(_ a: VirtqueueSegment, token: UInt32) throws(VirtqueueError) -> UInt16 {
        try submitChain(count: 1, token: token) { _ in a }
    }

    /// Makes a two-segment chain available (readable segments first). Returns its head index.
    @discardableResult
    public func submit(_ a: VirtqueueSegment, _ b: VirtqueueSegment, token: UInt32) throws(VirtqueueError) -> UInt16 {
        try submitChain(count: 2, token: token) { $0 == 0 ? a : b }
    }

    /// Makes a three-segment chain available (readable segments first). Returns its head index.
    @discardableResult
    public func submit(_ a: VirtqueueSegment, _ b: VirtqueueSegment, _ c: VirtqueueSegment,
                       token: UInt32) throws(VirtqueueError) -> UInt16 {
        try submitChain(count: 3, token: token) { $0 == 0 ? a : ($0 == 1 ? b : c) }
    }

    /// Makes a chain of `count` segments available, segment `i` given by `segment(i)` (called twice per
    /// segment: once to validate, once to write). Readable segments must precede writable ones. The chain is
    /// published to the device at once; call `shouldNotify()` afterwards (after a batch, if several) and notify
    /// the device if it returns true.
    @discardableResult
    public func submitChain(count: Int, token: UInt32,
                            _ segment: (Int) -> VirtqueueSegment) throws(VirtqueueError) -> UInt16 {
        guard !isBroken else { throw .broken }
        guard count > 0 else { throw .badSegment }
        guard count <= freeDescriptorCount else { throw .noFreeDescriptors }
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

        let head = freeHead
        var d = head
        for i in 0..<count {
            let s = segment(i)
            let last = i == count - 1
            let flags: UInt16 = (last ? 0 : 1) | (s.isDeviceWritable ? 2 : 0)  // NEXT = 1, WRITE = 2
            let at = UInt64(d) * 16
            ring.write64(s.address, at: at)
            ring.write32(s.length, at: at + 8)
            ring.write16(flags, at: at + 12)
            ring.write16(last ? 0 : links[Int(d)], at: at + 14)
            if !last { d = links[Int(d)] }
        }
        freeHead = links[Int(d)]
        freeDescriptorCount -= count
        heads[Int(head)] = HeadState(inFlight: true, count: UInt16(count), writable: UInt32(writable), token: token)
        inFlightCount += 1

        // Available ring entry, then the index (§2.7.13): x86 keeps stores in order, the compiler must too.
        ring.write16(head, at: availOffset + 4 + 2 * UInt64(availIndex & mask))
        MemoryBarrier.compiler()
        availIndex &+= 1
        ring.write16(availIndex, at: availOffset + 2)
        return head
    }

    /// Whether the device wants a notification for the chains published since the last call (§2.7.13.4): with
    /// EVENT_IDX, whether the new available index passed `avail_event`; otherwise, whether the device left
    /// `VIRTQ_USED_F_NO_NOTIFY` clear. Issues the full barrier that orders the index store before these loads.
    public func shouldNotify() -> Bool {
        MemoryBarrier.full()
        let new = availIndex
        let old = lastNotifiedAvailIndex
        lastNotifiedAvailIndex = new
        guard new != old, !isBroken else { return false }
        let notify: Bool
        if usesEventIndex {
            let event = ring.read16(at: usedOffset + 4 + 8 * UInt64(size))
            notify = (new &- event &- 1) < (new &- old)
        } else {
            notify = ring.read16(at: usedOffset) & 1 == 0
        }
        if notify { notificationsRequested &+= 1 }
        return notify
    }

    // MARK: Completions

    /// How many used elements the device has published that the driver has not consumed. Validates `used.idx`
    /// (a jump past the chains in flight breaks the queue and returns 0).
    public func usedCount() -> Int {
        guard !isBroken else { return 0 }
        let reported = ring.read16(at: usedOffset + 2)
        let delta = Int(reported &- lastUsedIndex)
        guard delta <= inFlightCount else {
            record(.usedIndexJump(last: lastUsedIndex, reported: reported, inFlight: inFlightCount))
            faults.usedIndexJumps += 1
            isBroken = true
            return 0
        }
        return delta
    }

    /// The used element `offset` places after the next one, validated but not consumed; nil when there is none
    /// (or the element is invalid, which breaks the queue). Used by drivers that must see several elements of one
    /// packet (mergeable receive buffers) before consuming any.
    public func peekUsed(at offset: Int = 0) -> VirtqueueCompletion? {
        if offset == 0, let cachedNext, !isBroken { return cachedNext }
        guard offset >= 0, usedCount() > offset else { return nil }
        MemoryBarrier.compiler()  // the elements were written before the index (§2.7.8); x86 keeps load order
        let at = usedOffset + 4 + 8 * UInt64((lastUsedIndex &+ UInt16(truncatingIfNeeded: offset)) & mask)
        let id = ring.read32(at: at)
        let length = ring.read32(at: at + 4)
        guard id < UInt32(size) else {
            record(.idOutOfRange(id))
            faults.badIDs += 1
            isBroken = true
            return nil
        }
        let state = heads[Int(id)]
        guard state.inFlight else {
            record(.idNotInFlight(id))
            faults.badIDs += 1
            isBroken = true
            return nil
        }
        let completion = VirtqueueCompletion(head: UInt16(id), token: state.token, length: min(length, state.writable),
                                             capacity: state.writable, reportedLength: length)
        if offset == 0 { cachedNext = completion }
        return completion
    }

    /// Consumes the next used element: validates it, returns its chain's descriptors to the free list and
    /// returns it; nil when none is waiting or the queue is (or just became) broken.
    public func popUsed() -> VirtqueueCompletion? {
        guard let completion = peekUsed() else { return nil }
        cachedNext = nil
        if !completion.lengthWasValid {
            record(.lengthTooLong(head: completion.head, length: completion.reportedLength,
                                  capacity: completion.capacity))
            faults.lengthOverruns += 1
        }
        lastUsedIndex &+= 1
        freeChain(completion.head)
        if usesEventIndex && interruptsEnabled {
            ring.write16(lastUsedIndex, at: availOffset + 4 + 2 * UInt64(size))  // used_event
        }
        return completion
    }

    private func freeChain(_ head: UInt16) {
        let state = heads[Int(head)]
        heads[Int(head)].inFlight = false
        var d = head
        var remaining = state.count
        while remaining > 1 {
            d = links[Int(d)]
            remaining -= 1
        }
        links[Int(d)] = freeHead
        freeHead = head
        freeDescriptorCount += Int(state.count)
        inFlightCount -= 1
    }

    private func record(_ fault: VirtqueueFault) { lastFault = fault }

    // MARK: Interrupt suppression

    /// Asks the device not to interrupt for used buffers (a hint; §2.7.10). With EVENT_IDX, `used_event` is set
    /// just behind the consumed index, so it is not reached until the index wraps.
    public func disableInterrupts() {
        interruptsEnabled = false
        if usesEventIndex {
            ring.write16(lastUsedIndex &- 1, at: availOffset + 4 + 2 * UInt64(size))
        } else {
            ring.write16(1, at: availOffset)  // VIRTQ_AVAIL_F_NO_INTERRUPT
        }
    }

    /// Asks the device to interrupt when it uses the next buffer. Returns true when used buffers are already
    /// waiting (the device may have used them before it saw the request): the caller must process them rather
    /// than wait for an interrupt that may never come.
    @discardableResult
    public func enableInterrupts() -> Bool {
        interruptsEnabled = true
        if usesEventIndex {
            ring.write16(lastUsedIndex, at: availOffset + 4 + 2 * UInt64(size))
        } else {
            ring.write16(0, at: availOffset)
        }
        MemoryBarrier.full()
        return usedCount() > 0
    }

    // MARK: Recovery

    /// Marks the queue broken on the owner's behalf (e.g. a request timed out).
    public func markBroken() { isBroken = true }

    /// Returns every chain in flight to the free list, calling `body` with each one's token. Only call this once
    /// the device can no longer touch the chains (after a device reset). The queue stays broken if it was.
    public func reclaimAll(_ body: (UInt32) -> Void) {
        cachedNext = nil
        for head in 0..<Int(size) where heads[head].inFlight {
            let token = heads[head].token
            freeChain(UInt16(head))
            body(token)
        }
    }
}
