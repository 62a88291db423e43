import Hardware
import Interfaces

/// Register offsets of virtio-mmio (virtio 1.2 §4.2.2; legacy registers from §4.2.4).
public enum VirtioMMIORegister {
    /// "virt" (0x74726976).
    public static let magicValue: UInt64 = 0x000
    /// 1 legacy, 2 modern.
    public static let version: UInt64 = 0x004
    /// Device type; 0 means an empty slot.
    public static let deviceID: UInt64 = 0x008
    /// Subsystem vendor ID.
    public static let vendorID: UInt64 = 0x00C
    /// Device features, 32 bits selected by `deviceFeaturesSelect`.
    public static let deviceFeatures: UInt64 = 0x010
    /// Selects which 32 feature bits `deviceFeatures` shows.
    public static let deviceFeaturesSelect: UInt64 = 0x014
    /// Driver features, 32 bits selected by `driverFeaturesSelect`.
    public static let driverFeatures: UInt64 = 0x020
    /// Selects which 32 feature bits `driverFeatures` sets.
    public static let driverFeaturesSelect: UInt64 = 0x024
    /// Legacy: the guest page size, the unit of `queuePFN`.
    public static let guestPageSize: UInt64 = 0x028
    /// Selects the queue the queue registers refer to.
    public static let queueSelect: UInt64 = 0x030
    /// Maximum size of the selected queue; 0 if it does not exist.
    public static let queueNumMax: UInt64 = 0x034
    /// Size of the selected queue.
    public static let queueNum: UInt64 = 0x038
    /// Legacy: alignment of the used ring.
    public static let queueAlign: UInt64 = 0x03C
    /// Legacy: page frame number of the queue; 0 when inactive.
    public static let queuePFN: UInt64 = 0x040
    /// Version 2: 1 when the selected queue is enabled.
    public static let queueReady: UInt64 = 0x044
    /// Queue notification (the queue index).
    public static let queueNotify: UInt64 = 0x050
    /// Interrupt status bits.
    public static let interruptStatus: UInt64 = 0x060
    /// Interrupt acknowledge: write the status bits handled.
    public static let interruptACK: UInt64 = 0x064
    /// Device status.
    public static let status: UInt64 = 0x070
    /// Version 2: descriptor table address (low, high at +4).
    public static let queueDescLow: UInt64 = 0x080
    /// Version 2: driver area address (low, high at +4).
    public static let queueDriverLow: UInt64 = 0x090
    /// Version 2: device area address (low, high at +4).
    public static let queueDeviceLow: UInt64 = 0x0A0
    /// Version 2: configuration generation.
    public static let configGeneration: UInt64 = 0x0FC
    /// Start of the device-specific configuration.
    public static let config: UInt64 = 0x100
    /// The magic value.
    public static let magic: UInt32 = 0x7472_6976
}

/// A virtio-mmio device (virtio 1.2 §4.2): version 2, or version 1 (the legacy interface of §4.2.4, which QEMU's
/// `microvm` presents unless told `-global virtio-mmio.force-legacy=false`).
///
/// `Window` is the device's register window: an `MMIORegion` in the guest, a simulated device in host tests.
public final class VirtioMMIOTransport<Window: RegisterWindow>: VirtioTransport {
    /// The register window (at least 0x100 bytes).
    public let window: Window
    /// The register layout version, 1 or 2.
    public let version: UInt32
    /// The device type (never 0).
    public let deviceType: VirtioDeviceType
    /// The subsystem vendor ID.
    public let vendorID: UInt32
    /// Page size used for legacy queue page frame numbers.
    public static var legacyPageSize: Int { 4096 }
    /// Unused on MMIO (no MSI-X); kept for the protocol.
    public var interruptVectors: VirtioInterruptVectors?

    private let config: RegisterWindowSlice<Window>

    /// Checks the magic value, version and device ID of `window`. Throws `notVirtio`, `unsupportedVersion`,
    /// `noDevice` (an empty slot) or `windowTooSmall`.
    public init(window: Window) throws(VirtioError) {
        guard window.size >= VirtioMMIORegister.config else { throw .windowTooSmall(window.size) }
        guard window.read32(at: VirtioMMIORegister.magicValue) == VirtioMMIORegister.magic else { throw .notVirtio }
        let version = window.read32(at: VirtioMMIORegister.version)
        guard version == 1 || version == 2 else { throw .unsupportedVersion(version) }
        let id = window.read32(at: VirtioMMIORegister.deviceID)
        guard id != 0 else { throw .noDevice }
        self.window = window
        self.version = version
        deviceType = VirtioDeviceType(rawValue: id)
        vendorID = window.read32(at: VirtioMMIORegister.vendorID)
        config = RegisterWindowSlice(window, offset: VirtioMMIORegister.config,
                                     size: window.size - VirtioMMIORegister.config)!
    }

    /// See `VirtioTransport`.
    public var kind: VirtioTransportKind { .mmio(version: version) }
    /// See `VirtioTransport`.
    public var isLegacy: Bool { version == 1 }

    /// See `VirtioTransport`.
    public func readStatus() -> VirtioDeviceStatus {
        VirtioDeviceStatus(rawValue: UInt8(truncatingIfNeeded: window.read32(at: VirtioMMIORegister.status)))
    }

    /// See `VirtioTransport`.
    public func writeStatus(_ status: VirtioDeviceStatus) {
        window.write32(UInt32(status.rawValue), at: VirtioMMIORegister.status)
    }

    /// See `VirtioTransport`.
    public func readDeviceFeatures() -> VirtioFeatures {
        window.write32(0, at: VirtioMMIORegister.deviceFeaturesSelect)
        let low = window.read32(at: VirtioMMIORegister.deviceFeatures)
        window.write32(1, at: VirtioMMIORegister.deviceFeaturesSelect)
        let high = window.read32(at: VirtioMMIORegister.deviceFeatures)
        return VirtioFeatures(rawValue: UInt64(high) << 32 | UInt64(low))
    }

    /// See `VirtioTransport`.
    public func writeDriverFeatures(_ features: VirtioFeatures) {
        window.write32(0, at: VirtioMMIORegister.driverFeaturesSelect)
        window.write32(UInt32(truncatingIfNeeded: features.rawValue), at: VirtioMMIORegister.driverFeatures)
        window.write32(1, at: VirtioMMIORegister.driverFeaturesSelect)
        window.write32(UInt32(truncatingIfNeeded: features.rawValue >> 32), at: VirtioMMIORegister.driverFeatures)
    }

    /// See `VirtioTransport`.
    public var queueCountHint: Int? { nil }
    /// See `VirtioTransport`.
    public var canChooseQueueSize: Bool { true }
    /// See `VirtioTransport`.
    public var queueLayout: VirtqueueLayout { version == 1 ? .legacy(alignment: Self.legacyPageSize) : .separate }

    /// See `VirtioTransport`.
    public func maximumQueueSize(_ index: UInt16) -> UInt16 {
        window.write32(UInt32(index), at: VirtioMMIORegister.queueSelect)
        return UInt16(clamping: window.read32(at: VirtioMMIORegister.queueNumMax))
    }

    /// See `VirtioTransport`.
    public func activateQueue(_ index: UInt16, size: UInt16, addresses: VirtqueueAddresses) throws(VirtioError) {
        window.write32(UInt32(index), at: VirtioMMIORegister.queueSelect)
        let active = version == 1 ? window.read32(at: VirtioMMIORegister.queuePFN)
                                  : window.read32(at: VirtioMMIORegister.queueReady)
        let maximum = window.read32(at: VirtioMMIORegister.queueNumMax)
        guard active == 0, maximum != 0 else { throw .queueUnavailable(index) }
        guard size > 0, UInt32(size) <= maximum else { throw .badQueueSize(queue: index, size: UInt32(size)) }
        window.write32(UInt32(size), at: VirtioMMIORegister.queueNum)
        if version == 1 {
            let page = UInt64(Self.legacyPageSize)
            let pfn = addresses.descriptorTable / page
            let layout = SplitVirtqueue.memoryLayout(size: Int(size), layout: queueLayout)
            guard addresses.descriptorTable % page == 0, pfn <= UInt64(UInt32.max),
                  addresses.driverArea == addresses.descriptorTable + UInt64(layout.availOffset),
                  addresses.deviceArea == addresses.descriptorTable + UInt64(layout.usedOffset)
            else { throw .addressNotRepresentable(addresses.descriptorTable) }
            window.write32(UInt32(page), at: VirtioMMIORegister.guestPageSize)
            window.write32(UInt32(page), at: VirtioMMIORegister.queueAlign)
            window.write32(UInt32(pfn), at: VirtioMMIORegister.queuePFN)
        } else {
            write64(addresses.descriptorTable, at: VirtioMMIORegister.queueDescLow)
            write64(addresses.driverArea, at: VirtioMMIORegister.queueDriverLow)
            write64(addresses.deviceArea, at: VirtioMMIORegister.queueDeviceLow)
            window.write32(1, at: VirtioMMIORegister.queueReady)
        }
    }

    private func write64(_ value: UInt64, at offset: UInt64) {
        window.write32(UInt32(truncatingIfNeeded: value), at: offset)
        window.write32(UInt32(truncatingIfNeeded: value >> 32), at: offset + 4)
    }

    /// See `VirtioTransport`.
    public func notify(queue index: UInt16) {
        window.write32(UInt32(index), at: VirtioMMIORegister.queueNotify)
    }

    /// See `VirtioTransport`.
    public func acknowledgeInterrupt() -> VirtioInterruptStatus {
        let status = window.read32(at: VirtioMMIORegister.interruptStatus)
        if status != 0 { window.write32(status, at: VirtioMMIORegister.interruptACK) }
        return VirtioInterruptStatus(rawValue: UInt8(truncatingIfNeeded: status & 3))
    }

    /// See `VirtioTransport`.
    public func configGeneration() -> UInt32 {
        version == 1 ? 0 : window.read32(at: VirtioMMIORegister.configGeneration)
    }

    /// See `VirtioTransport`.
    public var deviceConfigSize: Int { Int(config.size) }
    /// See `VirtioTransport`.
    public func readConfig8(at offset: Int) -> UInt8 { offset < 0 ? 0xFF : config.read8(at: UInt64(offset)) }
    /// See `VirtioTransport`.
    public func readConfig16(at offset: Int) -> UInt16 { offset < 0 ? 0xFFFF : config.read16(at: UInt64(offset)) }
    /// See `VirtioTransport`.
    public func readConfig32(at offset: Int) -> UInt32 { offset < 0 ? 0xFFFF_FFFF : config.read32(at: UInt64(offset)) }
    /// See `VirtioTransport`.
    public func writeConfig8(_ value: UInt8, at offset: Int) { if offset >= 0 { config.write8(value, at: UInt64(offset)) } }
    /// See `VirtioTransport`.
    public func applyConfigurationInterruptVector() -> Bool { true }
}
