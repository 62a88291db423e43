/// A virtqueue as drivers use it, whatever its ring format: the split ring (`SplitVirtqueue`, virtio 1.2 §2.7)
/// or the packed ring (`PackedVirtqueue`, §2.8). Both keep their bookkeeping in private memory, validate every
/// value the device writes, count faults, and can be marked broken (see `SplitVirtqueue` for the trust model).
///
/// Every operation is a requirement (none is a protocol extension), so calls through `any Virtqueue` dispatch
/// through the witness table, which Embedded Swift supports.
public protocol Virtqueue: AnyObject {
    /// The queue's index on its device.
    var index: UInt16 { get }
    /// Number of descriptors.
    var size: UInt16 { get }
    /// Whether `VIRTIO_F_EVENT_IDX` was negotiated.
    var usesEventIndex: Bool { get }
    /// Where the device finds the queue's three areas.
    var addresses: VirtqueueAddresses { get }
    /// Whether a device fault stopped the queue.
    var isBroken: Bool { get }
    /// Faults seen so far.
    var faults: VirtqueueFaultCounters { get }
    /// The most recent fault.
    var lastFault: VirtqueueFault? { get }
    /// Descriptors not in any chain in flight.
    var freeDescriptorCount: Int { get }
    /// Chains submitted and not yet returned.
    var inFlightCount: Int { get }
    /// Whether the driver currently asks for used-buffer interrupts.
    var interruptsEnabled: Bool { get }
    /// Notifications the driver decided to send.
    var notificationsRequested: UInt64 { get }

    /// Makes a chain of `count` segments available, segment `i` given by `segment(i)`; readable segments first.
    /// Returns the chain's handle (the head descriptor for split rings, the buffer ID for packed rings).
    @discardableResult
    func submitChain(count: Int, token: UInt32, _ segment: (Int) -> VirtqueueSegment) throws(VirtqueueError) -> UInt16
    /// Makes a one-segment chain available.
    @discardableResult
    func submit(_ a: VirtqueueSegment, token: UInt32) throws(VirtqueueError) -> UInt16
    /// Makes a two-segment chain available.
    @discardableResult
    func submit(_ a: VirtqueueSegment, _ b: VirtqueueSegment, token: UInt32) throws(VirtqueueError) -> UInt16
    /// Makes a three-segment chain available.
    @discardableResult
    func submit(_ a: VirtqueueSegment, _ b: VirtqueueSegment, _ c: VirtqueueSegment,
                token: UInt32) throws(VirtqueueError) -> UInt16
    /// Whether the device wants a notification for the chains published since the last call.
    func shouldNotify() -> Bool
    /// How many used buffers wait to be consumed (validated).
    func usedCount() -> Int
    /// The used buffer `offset` places after the next one, validated, not consumed.
    func peekUsed(at offset: Int) -> VirtqueueCompletion?
    /// Consumes the next used buffer.
    func popUsed() -> VirtqueueCompletion?
    /// Asks the device not to interrupt for used buffers.
    func disableInterrupts()
    /// Asks the device to interrupt for the next used buffer; true when used buffers are already waiting.
    @discardableResult
    func enableInterrupts() -> Bool
    /// Marks the queue broken on the owner's behalf.
    func markBroken()
    /// Returns every chain in flight (after a device reset), calling `body` with each token.
    func reclaimAll(_ body: (UInt32) -> Void)
    /// Keeps the ring memory allocated forever instead of returning it to `DMAMemory` on deinit: for a device
    /// that did not acknowledge a reset and so might still write to it.
    func abandonMemory()
}

extension SplitVirtqueue: Virtqueue {}
