import Hardware
import Interfaces

/// The transport-specific half of a virtio device (virtio 1.2 §4): status, features, queue setup,
/// notifications, interrupt status and the device-specific configuration space. Drivers see only this protocol,
/// so the same driver runs over virtio-pci (modern or legacy) and virtio-mmio (version 1 or 2), and over the
/// simulated devices of the host tests.
///
/// Implementations validate every value the device reports that could make them access memory or registers out
/// of bounds; device-specific configuration reads outside `deviceConfigSize` return all ones.
public protocol VirtioTransport: AnyObject {
    /// Which transport this is.
    var kind: VirtioTransportKind { get }
    /// The device type.
    var deviceType: VirtioDeviceType { get }
    /// Whether the device is driven through a legacy (pre-1.0) interface: at most 32 feature bits, no
    /// FEATURES_OK step, native-endian (here little-endian) configuration, the legacy queue layout.
    var isLegacy: Bool { get }

    /// Reads the device status.
    func readStatus() -> VirtioDeviceStatus
    /// Writes the device status; writing 0 resets the device.
    func writeStatus(_ status: VirtioDeviceStatus)
    /// The features the device offers (bits 32-63 read as zero on legacy transports).
    func readDeviceFeatures() -> VirtioFeatures
    /// Tells the device which features the driver accepted.
    func writeDriverFeatures(_ features: VirtioFeatures)

    /// The number of queues the device reports, or nil when the transport does not say (MMIO, legacy PCI).
    var queueCountHint: Int? { get }
    /// The largest size queue `index` may have; 0 when the queue does not exist.
    func maximumQueueSize(_ index: UInt16) -> UInt16
    /// Whether the driver may choose a queue size below the maximum (legacy PCI fixes it at the maximum).
    var canChooseQueueSize: Bool { get }
    /// How the queue memory must be laid out for this transport.
    var queueLayout: VirtqueueLayout { get }
    /// Tells the device where queue `index` of `size` entries lives and enables it (for legacy transports the
    /// addresses must follow `queueLayout`). Throws when the queue is absent or already enabled, the size is not
    /// allowed, an address cannot be expressed, or the device reports an unusable notification offset.
    func activateQueue(_ index: UInt16, size: UInt16, addresses: VirtqueueAddresses) throws(VirtioError)
    /// Notifies the device that queue `index` has new available buffers.
    func notify(queue index: UInt16)

    /// Reads (and thereby acknowledges, or explicitly acknowledges on MMIO) the interrupt status. With INTx
    /// this also deasserts the interrupt line; call it from the interrupt handler.
    func acknowledgeInterrupt() -> VirtioInterruptStatus

    /// The configuration generation counter (§2.5.1); always 0 on legacy transports.
    func configGeneration() -> UInt32
    /// Bytes of device-specific configuration the transport exposes.
    var deviceConfigSize: Int { get }
    /// Reads the byte at `offset` of the device-specific configuration (all ones if out of range).
    func readConfig8(at offset: Int) -> UInt8
    /// Reads the little-endian 16-bit field at `offset` (all ones if out of range).
    func readConfig16(at offset: Int) -> UInt16
    /// Reads the little-endian 32-bit field at `offset` (all ones if out of range).
    func readConfig32(at offset: Int) -> UInt32
    /// Writes the byte at `offset` of the device-specific configuration (dropped if out of range).
    func writeConfig8(_ value: UInt8, at offset: Int)

    /// MSI-X table entries to bind (PCI only; see `VirtioInterruptVectors`). Set before the driver starts.
    var interruptVectors: VirtioInterruptVectors? { get set }
    /// Binds the configuration-change interrupt to `interruptVectors.configuration`; returns false if the
    /// device refused the vector. Transports without MSI-X return true and do nothing.
    func applyConfigurationInterruptVector() -> Bool
}

/// The device initialization sequence and configuration-space helpers shared by all drivers (virtio 1.2 §3.1).
public enum VirtioSetup {
    /// Upper bound on status polls while waiting for a reset to complete.
    public static let resetPollLimit = 1_000_000

    /// Resets the device: writes 0 to the status and waits until it reads back 0 (§4.1.4.3.2 and §4.2.3.1.1
    /// require the wait). Throws `resetTimeout` when the device never finishes.
    public static func reset(_ transport: any VirtioTransport) throws(VirtioError) {
        transport.writeStatus([])
        var polls = 0
        while transport.readStatus().rawValue != 0 {
            polls += 1
            if polls >= resetPollLimit { throw .resetTimeout }
        }
    }

    /// Steps 1-6 of §3.1.1: reset, ACKNOWLEDGE, DRIVER, read the offered features, write the accepted subset
    /// (`offered ∩ supported`), and, on non-legacy transports, set FEATURES_OK and re-read it to confirm the
    /// device accepted the subset. `VIRTIO_F_VERSION_1` is required on modern transports and never offered to a
    /// legacy one; `VIRTIO_F_ACCESS_PLATFORM` is accepted when offered (identity-mapped DMA, no IOMMU).
    /// On any failure the device is set to FAILED and the error is thrown.
    ///
    /// - Parameters:
    ///   - expecting: the device type the driver handles (checked first), or nil for any.
    ///   - supported: every feature the driver can use.
    ///   - required: features without which the driver cannot work (a subset of `supported`).
    /// - Returns: the negotiated features.
    public static func negotiate(_ transport: any VirtioTransport, expecting: VirtioDeviceType?,
                                 supported: VirtioFeatures,
                                 required: VirtioFeatures = []) throws(VirtioError) -> VirtioFeatures {
        if let expecting, transport.deviceType != expecting {
            throw .wrongDeviceType(expected: expecting, found: transport.deviceType)
        }
        try reset(transport)
        transport.writeStatus([.acknowledge])
        transport.writeStatus([.acknowledge, .driver])
        let offered = transport.readDeviceFeatures()
        var wanted = supported.union(.accessPlatform)
        var needed = required
        if transport.isLegacy {
            wanted.subtract(.version1)
            wanted.rawValue &= 0xFFFF_FFFF
            needed.rawValue &= 0xFFFF_FFFF
        } else {
            wanted.insert(.version1)
            needed.insert(.version1)
        }
        let missing = needed.subtracting(offered)
        guard missing.isEmpty else {
            fail(transport)
            throw .missingFeatures(missing)
        }
        let accepted = offered.intersection(wanted)
        transport.writeDriverFeatures(accepted)
        if !transport.isLegacy {
            transport.writeStatus([.acknowledge, .driver, .featuresOK])
            let status = transport.readStatus()
            guard status.contains(.featuresOK) else {
                fail(transport)
                throw .featuresRejected(accepted)
            }
        }
        if transport.interruptVectors != nil { _ = transport.applyConfigurationInterruptVector() }
        return accepted
    }

    /// Step 8 of §3.1.1: sets DRIVER_OK. Throws (after setting FAILED) when the device reports
    /// DEVICE_NEEDS_RESET.
    public static func finish(_ transport: any VirtioTransport) throws(VirtioError) {
        let status = transport.readStatus()
        guard !status.contains(.deviceNeedsReset), !status.contains(.failed) else {
            fail(transport)
            throw .deviceNeedsReset
        }
        transport.writeStatus(status.union(.driverOK))
    }

    /// Sets FAILED (§3.1.1: "the driver gave up on the device"). The device stops using the queues only after a
    /// reset; call `reset` before releasing queue memory.
    public static func fail(_ transport: any VirtioTransport) {
        transport.writeStatus(transport.readStatus().union(.failed))
    }

    /// `makeQueue(..., format:)` with the packed ring when `packed` is true.
    public static func makeQueue(_ transport: any VirtioTransport, index: UInt16, preferredSize: UInt16,
                                 memory: any DMAMemory, eventIndex: Bool,
                                 packed: Bool) throws(VirtioError) -> any Virtqueue {
        try makeQueue(transport, index: index, preferredSize: preferredSize, memory: memory, eventIndex: eventIndex,
                      format: packed ? .packedWhenOffered : .split)
    }

    /// Creates queue `index` and hands it to the device: the size is the largest power of two not above
    /// `preferredSize` and the device's maximum (or exactly the device's size when the transport fixes it). The
    /// queue is a packed ring (§2.8) when `format` offers one (only valid once `VIRTIO_F_RING_PACKED` was
    /// negotiated, which needs a modern transport; pass `.split` otherwise), else a split ring (§2.7).
    public static func makeQueue(_ transport: any VirtioTransport, index: UInt16, preferredSize: UInt16,
                                 memory: any DMAMemory, eventIndex: Bool,
                                 format: VirtqueueFormat = .split) throws(VirtioError) -> any Virtqueue {
        let maximum = transport.maximumQueueSize(index)
        guard maximum > 0 else { throw .queueUnavailable(index) }
        let size: UInt16
        if transport.canChooseQueueSize {
            var s: UInt16 = 1
            let limit = min(maximum, max(preferredSize, 1))
            while s <= limit / 2 && s < 32768 { s <<= 1 }
            size = s
        } else {
            guard maximum & (maximum - 1) == 0, maximum <= 32768 else {
                throw .badQueueSize(queue: index, size: UInt32(maximum))
            }
            size = maximum
        }
        let queue: any Virtqueue
        if let makePacked = format.makePacked {
            guard transport.queueLayout == .separate else { throw .badQueueConfiguration(index) }
            queue = try makePacked(index, size, memory, eventIndex)
        } else {
            queue = try SplitVirtqueue(index: index, size: size, layout: transport.queueLayout, memory: memory,
                                       eventIndex: eventIndex)
        }
        try transport.activateQueue(index, size: size, addresses: queue.addresses)
        return queue
    }

    /// Runs `body` until the configuration generation is the same before and after it (§2.5.1), so multi-field
    /// reads are consistent. Gives up after 16 attempts.
    public static func readConsistently<T>(_ transport: any VirtioTransport,
                                           _ body: () -> T) throws(VirtioError) -> T {
        for _ in 0..<16 {
            let before = transport.configGeneration()
            let value = body()
            if transport.configGeneration() == before { return value }
        }
        throw .configurationUnstable
    }

    /// Reads a little-endian 64-bit configuration field as two 32-bit halves (use inside `readConsistently`).
    public static func readConfig64(_ transport: any VirtioTransport, at offset: Int) -> UInt64 {
        UInt64(transport.readConfig32(at: offset)) | UInt64(transport.readConfig32(at: offset + 4)) << 32
    }
}

/// The virtqueue layouts a driver is willing to use (§2.6). The split ring (§2.7) is what every device supports;
/// the packed ring (§2.8) is used only when the device offers `VIRTIO_F_RING_PACKED` and the driver accepts it.
///
/// A value that carries the packed ring's constructor rather than a flag: the packed ring's code is linked only into
/// images that name `.packedWhenOffered`, not into every image that has a virtio driver.
public struct VirtqueueFormat: Sendable {
    /// Creates a packed ring (index, size, memory, event index); nil when only split rings are used.
    let makePacked: (@Sendable (UInt16, UInt16, any DMAMemory, Bool) throws(VirtioError) -> any Virtqueue)?

    /// Split rings only (the default; `VIRTIO_F_RING_PACKED` is not negotiated).
    public static let split = VirtqueueFormat(makePacked: nil)

    /// Negotiate `VIRTIO_F_RING_PACKED` when the device offers it and then use packed rings.
    public static let packedWhenOffered = VirtqueueFormat { index, size, memory, eventIndex throws(VirtioError) in
        try PackedVirtqueue(index: index, size: size, memory: memory, eventIndex: eventIndex)
    }

    /// Whether `VIRTIO_F_RING_PACKED` is to be negotiated.
    public var offersPacked: Bool { makePacked != nil }
}
