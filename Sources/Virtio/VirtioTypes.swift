import Interfaces

// Virtio: transports (virtio-pci modern and legacy, virtio-mmio v1 and v2), split virtqueues and the device
// initialization sequence shared by the device drivers (VirtioNet, VirtioBlk). Spec: "Virtual I/O Device (VIRTIO)
// Version 1.2" (OASIS). The device is treated as untrusted: every value it writes into shared memory or exposes
// through registers is validated before use (see `SplitVirtqueue`).

/// A virtio device type (virtio 1.2 §5: "Device Types").
public struct VirtioDeviceType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The device ID as the transport reports it (0 means "no device").
    public var rawValue: UInt32

    /// Wraps a device ID.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// 1: network card (§5.1).
    public static let network = VirtioDeviceType(rawValue: 1)
    /// 2: block device (§5.2).
    public static let block = VirtioDeviceType(rawValue: 2)
    /// 3: console (§5.3).
    public static let console = VirtioDeviceType(rawValue: 3)
    /// 4: entropy source (§5.4).
    public static let entropy = VirtioDeviceType(rawValue: 4)

    /// `net`, `blk`, `console`, `rng`, or `type N`.
    public var description: String {
        switch rawValue {
        case 1: return "net"
        case 2: return "blk"
        case 3: return "console"
        case 4: return "rng"
        default: return "type \(rawValue)"
        }
    }
}

/// A set of feature bits (virtio 1.2 §2.2 and §6). Bits 0-23 are device-type specific (declared in the driver
/// modules), 24-40 are transport and ring features.
public struct VirtioFeatures: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The 64 feature bits.
    public var rawValue: UInt64

    /// Wraps a feature word.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The set holding only feature bit `bit` (0...63).
    public static func bit(_ bit: Int) -> VirtioFeatures { VirtioFeatures(rawValue: 1 << UInt64(bit)) }

    /// 24, legacy only: notify even when the available ring is empty.
    public static let notifyOnEmpty = bit(24)
    /// 27, legacy only: the device accepts any descriptor layout of a request (§2.7.4.3).
    public static let anyLayout = bit(27)
    /// 28: indirect descriptors (§2.7.5.3).
    public static let indirectDescriptors = bit(28)
    /// 29: `used_event` / `avail_event` notification suppression (§2.7.10).
    public static let eventIndex = bit(29)
    /// 32: the device conforms to virtio 1.0 or later (required by modern transports; §6.1).
    public static let version1 = bit(32)
    /// 33: the device's DMA goes through the platform's IOMMU / access rules (§6.1). Accepted when offered: the
    /// guest identity-maps memory and programs no IOMMU, so addresses are physical either way.
    public static let accessPlatform = bit(33)
    /// 34: packed virtqueues (§2.8).
    public static let ringPacked = bit(34)
    /// 35: buffers are used in the order they were made available.
    public static let inOrder = bit(35)
    /// 38: notifications carry extra data (§6.1).
    public static let notificationData = bit(38)
    /// 40: individual virtqueues can be reset.
    public static let ringReset = bit(40)

    /// `0x`-prefixed hexadecimal feature word.
    public var description: String { hex(rawValue) }
}

/// The device status field (virtio 1.2 §2.1).
public struct VirtioDeviceStatus: OptionSet, Hashable, Sendable, CustomStringConvertible {
    /// The status byte.
    public var rawValue: UInt8

    /// Wraps a status byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// 1: the guest noticed the device.
    public static let acknowledge = VirtioDeviceStatus(rawValue: 1)
    /// 2: the guest knows how to drive the device.
    public static let driver = VirtioDeviceStatus(rawValue: 2)
    /// 4: the driver is set up and ready.
    public static let driverOK = VirtioDeviceStatus(rawValue: 4)
    /// 8: feature negotiation is complete.
    public static let featuresOK = VirtioDeviceStatus(rawValue: 8)
    /// 64: the device hit an error it cannot recover from without a reset.
    public static let deviceNeedsReset = VirtioDeviceStatus(rawValue: 64)
    /// 128: the guest gave up on the device.
    public static let failed = VirtioDeviceStatus(rawValue: 128)

    /// A human-readable rendering.
    public var description: String { hex(UInt64(rawValue)) }
}

/// What an interrupt was for, from the ISR status (PCI §4.1.4.5) or InterruptStatus register (MMIO §4.2.2).
public struct VirtioInterruptStatus: OptionSet, Hashable, Sendable {
    /// The status bits.
    public var rawValue: UInt8

    /// Wraps status bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Bit 0: a virtqueue has new used buffers.
    public static let queue = VirtioInterruptStatus(rawValue: 1)
    /// Bit 1: the device configuration changed.
    public static let configuration = VirtioInterruptStatus(rawValue: 2)
}

/// Which transport a device sits behind.
public enum VirtioTransportKind: Equatable, Sendable, CustomStringConvertible {
    /// virtio-pci with the modern (1.0+) capability layout (§4.1.4).
    case pciModern
    /// virtio-pci legacy interface: registers in I/O BAR 0 (§4.1.5 "Legacy Interfaces").
    case pciLegacy
    /// virtio-mmio, register layout version 1 (legacy) or 2 (§4.2).
    case mmio(version: UInt32)

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .pciModern: return "pci-modern"
        case .pciLegacy: return "pci-legacy"
        case .mmio(let version): return "mmio-v\(version)"
        }
    }
}

/// Where a virtqueue's three areas may lie, as the transport dictates.
public enum VirtqueueLayout: Equatable, Sendable {
    /// Modern transports: the descriptor table (16-byte aligned), driver area (2-byte) and device area (4-byte)
    /// are given to the device separately (§2.7).
    case separate
    /// Legacy transports: one physically contiguous block whose start is `alignment`-aligned and handed to the
    /// device as a page frame number; the used ring starts at the next `alignment` boundary after the available
    /// ring (§2.7.2 "Legacy Interfaces: A Note on Virtqueue Layout").
    case legacy(alignment: Int)
}

/// The three guest-physical addresses of a split virtqueue.
public struct VirtqueueAddresses: Equatable, Sendable {
    /// The descriptor table.
    public var descriptorTable: UInt64
    /// The driver area (available ring).
    public var driverArea: UInt64
    /// The device area (used ring).
    public var deviceArea: UInt64

    /// Groups three addresses.
    public init(descriptorTable: UInt64, driverArea: UInt64, deviceArea: UInt64) {
        self.descriptorTable = descriptorTable
        self.driverArea = driverArea
        self.deviceArea = deviceArea
    }
}

/// MSI-X vector numbers (indices into the function's MSI-X table, not CPU vectors) to bind to a virtio-pci
/// device's configuration-change interrupt and its queues. Set `VirtioTransport.interruptVectors` before the
/// driver initializes the device; transports without MSI-X ignore it.
public struct VirtioInterruptVectors: Equatable, Sendable {
    /// The table entry for configuration changes, or nil for none.
    public var configuration: UInt16?
    /// The table entry for queue `i` is `queues[min(i, queues.count - 1)]`; empty means none.
    public var queues: [UInt16]

    /// Binds configuration changes to `configuration` and queue `i` to `queues[min(i, count - 1)]`.
    public init(configuration: UInt16?, queues: [UInt16]) {
        self.configuration = configuration
        self.queues = queues
    }

    /// The entry for queue `index`, if any.
    public func vector(forQueue index: UInt16) -> UInt16? {
        guard let last = queues.last else { return nil }
        return Int(index) < queues.count ? queues[Int(index)] : last
    }

    /// The value a device reports for "no vector" (§4.1.5.1.2).
    public static let noVector: UInt16 = 0xFFFF
}

/// Why a virtio device could not be brought up or used.
public enum VirtioError: Error, Equatable, CustomStringConvertible {
    /// The register window does not hold a virtio device (bad magic value or vendor).
    case notVirtio
    /// A register layout version this driver does not know.
    case unsupportedVersion(UInt32)
    /// The slot is empty (device ID 0).
    case noDevice
    /// The device is not of the type the driver handles.
    case wrongDeviceType(expected: VirtioDeviceType, found: VirtioDeviceType)
    /// A required PCI capability or BAR is missing or malformed.
    case badCapability(type: UInt8)
    /// The register window is too small for the transport's registers.
    case windowTooSmall(UInt64)
    /// The device did not complete a reset (status never read back as 0).
    case resetTimeout
    /// The device does not offer features the driver requires.
    case missingFeatures(VirtioFeatures)
    /// The device cleared FEATURES_OK: it rejected the feature subset the driver chose (§3.1.1 step 6).
    case featuresRejected(VirtioFeatures)
    /// The device set DEVICE_NEEDS_RESET.
    case deviceNeedsReset
    /// The queue does not exist (maximum size 0) or is already active.
    case queueUnavailable(UInt16)
    /// The queue size the device demands or allows cannot be used (not a power of two, or too large).
    case badQueueSize(queue: UInt16, size: UInt32)
    /// The device reported a value that makes the queue unusable (e.g. a notification offset outside the BAR).
    case badQueueConfiguration(UInt16)
    /// A queue address the transport cannot express (legacy page frame numbers are 32-bit and page-aligned).
    case addressNotRepresentable(UInt64)
    /// DMA memory could not be allocated.
    case outOfMemory(bytes: Int)
    /// The device's configuration space is too small or holds an out-of-range value.
    case badConfiguration(offset: Int)
    /// The configuration generation kept changing while it was being read.
    case configurationUnstable
    /// The device misbehaved and the driver stopped using it.
    case deviceBroken

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .notVirtio: return "not a virtio device"
        case .unsupportedVersion(let v): return "unsupported virtio-mmio version \(v)"
        case .noDevice: return "no device in slot"
        case .wrongDeviceType(let expected, let found): return "expected a \(expected) device, found \(found)"
        case .badCapability(let type): return "virtio-pci capability \(type) missing or malformed"
        case .windowTooSmall(let size): return "register window of \(size) bytes is too small"
        case .resetTimeout: return "device did not complete reset"
        case .missingFeatures(let f): return "device lacks required features \(f)"
        case .featuresRejected(let f): return "device rejected features \(f)"
        case .deviceNeedsReset: return "device needs reset"
        case .queueUnavailable(let q): return "virtqueue \(q) unavailable"
        case .badQueueSize(let q, let s): return "virtqueue \(q) has unusable size \(s)"
        case .badQueueConfiguration(let q): return "virtqueue \(q) configuration invalid"
        case .addressNotRepresentable(let a): return "address \(hex(a)) not representable by the transport"
        case .outOfMemory(let n): return "out of DMA memory (\(n) bytes)"
        case .badConfiguration(let o): return "device configuration invalid at offset \(o)"
        case .configurationUnstable: return "configuration generation never settled"
        case .deviceBroken: return "device misbehaved and was disabled"
        }
    }
}
