import Hardware
import Interfaces

/// A virtio vendor-specific PCI capability (`struct virtio_pci_cap`, virtio 1.2 §4.1.4).
public struct VirtioPCICapability: Equatable, Sendable {
    /// `cfg_type`: 1 common, 2 notify, 3 ISR, 4 device-specific, 5 PCI configuration access, 8 shared memory.
    public var type: UInt8
    /// The BAR holding the structure.
    public var bar: UInt8
    /// `id` (distinguishes several capabilities of one type; shared memory regions).
    public var id: UInt8
    /// Offset of the structure inside the BAR.
    public var offset: UInt32
    /// Length of the structure.
    public var length: UInt32
    /// For notify capabilities: `notify_off_multiplier` (bytes per queue notification offset unit).
    public var notifyOffsetMultiplier: UInt32
    /// Where the capability lies in PCI configuration space.
    public var configOffset: UInt16

    /// Creates a capability record.
    public init(type: UInt8, bar: UInt8, id: UInt8, offset: UInt32, length: UInt32,
                notifyOffsetMultiplier: UInt32, configOffset: UInt16) {
        self.type = type
        self.bar = bar
        self.id = id
        self.offset = offset
        self.length = length
        self.notifyOffsetMultiplier = notifyOffsetMultiplier
        self.configOffset = configOffset
    }

    /// `VIRTIO_PCI_CAP_COMMON_CFG`.
    public static let common: UInt8 = 1
    /// `VIRTIO_PCI_CAP_NOTIFY_CFG`.
    public static let notify: UInt8 = 2
    /// `VIRTIO_PCI_CAP_ISR_CFG`.
    public static let isr: UInt8 = 3
    /// `VIRTIO_PCI_CAP_DEVICE_CFG`.
    public static let device: UInt8 = 4
}

/// Offsets in the modern common configuration structure (`struct virtio_pci_common_cfg`, §4.1.4.3).
public enum VirtioPCICommonRegister {
    /// le32: selects the device feature word.
    public static let deviceFeatureSelect: UInt64 = 0x00
    /// le32: device feature word (read-only).
    public static let deviceFeature: UInt64 = 0x04
    /// le32: selects the driver feature word.
    public static let driverFeatureSelect: UInt64 = 0x08
    /// le32: driver feature word.
    public static let driverFeature: UInt64 = 0x0C
    /// le16: MSI-X vector for configuration changes.
    public static let configMSIXVector: UInt64 = 0x10
    /// le16: number of queues (read-only).
    public static let numQueues: UInt64 = 0x12
    /// u8: device status.
    public static let deviceStatus: UInt64 = 0x14
    /// u8: configuration generation (read-only).
    public static let configGeneration: UInt64 = 0x15
    /// le16: selects the queue the fields below refer to.
    public static let queueSelect: UInt64 = 0x16
    /// le16: queue size (maximum on reset; the driver may lower it).
    public static let queueSize: UInt64 = 0x18
    /// le16: MSI-X vector for the queue.
    public static let queueMSIXVector: UInt64 = 0x1A
    /// le16: 1 enables the queue.
    public static let queueEnable: UInt64 = 0x1C
    /// le16: the queue's notification offset, in units of `notify_off_multiplier` (read-only).
    public static let queueNotifyOffset: UInt64 = 0x1E
    /// le64: descriptor table address.
    public static let queueDescriptor: UInt64 = 0x20
    /// le64: driver area address.
    public static let queueDriver: UInt64 = 0x28
    /// le64: device area address.
    public static let queueDevice: UInt64 = 0x30
    /// Bytes of the structure this driver uses.
    public static let minimumLength: UInt64 = 0x38
}

/// Offsets in the legacy virtio-pci register block in I/O BAR 0 (§4.1.5 "Legacy Interfaces").
public enum VirtioPCILegacyRegister {
    /// le32: device features bits 0-31.
    public static let deviceFeatures: UInt64 = 0x00
    /// le32: driver features bits 0-31.
    public static let driverFeatures: UInt64 = 0x04
    /// le32: page frame number (4096-byte units) of the selected queue; 0 when inactive.
    public static let queueAddress: UInt64 = 0x08
    /// le16: size of the selected queue (read-only; 0 if absent).
    public static let queueSize: UInt64 = 0x0C
    /// le16: selects a queue.
    public static let queueSelect: UInt64 = 0x0E
    /// le16: queue notification.
    public static let queueNotify: UInt64 = 0x10
    /// u8: device status.
    public static let deviceStatus: UInt64 = 0x12
    /// u8: ISR status (reading clears it).
    public static let isrStatus: UInt64 = 0x13
    /// le16, only with MSI-X enabled: configuration vector.
    public static let configMSIXVector: UInt64 = 0x14
    /// le16, only with MSI-X enabled: vector of the selected queue.
    public static let queueMSIXVector: UInt64 = 0x16
    /// Start of the device-specific configuration without MSI-X (0x18 with MSI-X enabled).
    public static let configWithoutMSIX: UInt64 = 0x14
    /// Start of the device-specific configuration with MSI-X enabled.
    public static let configWithMSIX: UInt64 = 0x18
}

/// virtio-pci with the modern capability layout (virtio 1.2 §4.1.4): common configuration, notification, ISR and
/// device configuration structures located by vendor capabilities in memory (or I/O) BARs.
public final class VirtioPCIModernTransport<Window: RegisterWindow>: VirtioTransport {
    /// The device type.
    public let deviceType: VirtioDeviceType
    /// MSI-X table entries to bind; see `VirtioInterruptVectors`.
    public var interruptVectors: VirtioInterruptVectors?
    /// The queue notification offsets the device reported, in bytes into the notify structure, by queue index.
    public private(set) var notifyOffsets: [UInt64?] = []

    private let common: RegisterWindowSlice<Window>
    private let notifyArea: RegisterWindowSlice<Window>
    private let notifyMultiplier: UInt32
    private let isr: RegisterWindowSlice<Window>
    private let device: RegisterWindowSlice<Window>?

    /// Uses the given structures (already checked to lie inside their BARs). Throws `badCapability` when a
    /// structure is too short to hold its registers.
    public init(deviceType: VirtioDeviceType, common: RegisterWindowSlice<Window>,
                notify: RegisterWindowSlice<Window>, notifyOffsetMultiplier: UInt32,
                isr: RegisterWindowSlice<Window>, device: RegisterWindowSlice<Window>?) throws(VirtioError) {
        guard common.size >= VirtioPCICommonRegister.minimumLength else { throw .badCapability(type: VirtioPCICapability.common) }
        guard notify.size >= 2 else { throw .badCapability(type: VirtioPCICapability.notify) }
        guard isr.size >= 1 else { throw .badCapability(type: VirtioPCICapability.isr) }
        self.deviceType = deviceType
        self.common = common
        notifyArea = notify
        notifyMultiplier = notifyOffsetMultiplier
        self.isr = isr
        self.device = device
    }

    /// See `VirtioTransport`.
    public var kind: VirtioTransportKind { .pciModern }
    /// See `VirtioTransport`.
    public var isLegacy: Bool { false }

    /// See `VirtioTransport`.
    public func readStatus() -> VirtioDeviceStatus {
        VirtioDeviceStatus(rawValue: common.read8(at: VirtioPCICommonRegister.deviceStatus))
    }

    /// See `VirtioTransport`.
    public func writeStatus(_ status: VirtioDeviceStatus) {
        common.write8(status.rawValue, at: VirtioPCICommonRegister.deviceStatus)
    }

    /// See `VirtioTransport`.
    public func readDeviceFeatures() -> VirtioFeatures {
        common.write32(0, at: VirtioPCICommonRegister.deviceFeatureSelect)
        let low = common.read32(at: VirtioPCICommonRegister.deviceFeature)
        common.write32(1, at: VirtioPCICommonRegister.deviceFeatureSelect)
        let high = common.read32(at: VirtioPCICommonRegister.deviceFeature)
        return VirtioFeatures(rawValue: UInt64(high) << 32 | UInt64(low))
    }

    /// See `VirtioTransport`.
    public func writeDriverFeatures(_ features: VirtioFeatures) {
        common.write32(0, at: VirtioPCICommonRegister.driverFeatureSelect)
        common.write32(UInt32(truncatingIfNeeded: features.rawValue), at: VirtioPCICommonRegister.driverFeature)
        common.write32(1, at: VirtioPCICommonRegister.driverFeatureSelect)
        common.write32(UInt32(truncatingIfNeeded: features.rawValue >> 32), at: VirtioPCICommonRegister.driverFeature)
    }

    /// See `VirtioTransport`.
    public var queueCountHint: Int? { Int(common.read16(at: VirtioPCICommonRegister.numQueues)) }
    /// See `VirtioTransport`.
    public var canChooseQueueSize: Bool { true }
    /// See `VirtioTransport`.
    public var queueLayout: VirtqueueLayout { .separate }

    /// See `VirtioTransport`.
    public func maximumQueueSize(_ index: UInt16) -> UInt16 {
        guard index < common.read16(at: VirtioPCICommonRegister.numQueues) else { return 0 }
        common.write16(index, at: VirtioPCICommonRegister.queueSelect)
        return common.read16(at: VirtioPCICommonRegister.queueSize)
    }

    /// See `VirtioTransport`.
    public func activateQueue(_ index: UInt16, size: UInt16, addresses: VirtqueueAddresses) throws(VirtioError) {
        guard index < common.read16(at: VirtioPCICommonRegister.numQueues) else { throw .queueUnavailable(index) }
        common.write16(index, at: VirtioPCICommonRegister.queueSelect)
        let maximum = common.read16(at: VirtioPCICommonRegister.queueSize)
        guard maximum != 0, common.read16(at: VirtioPCICommonRegister.queueEnable) == 0 else {
            throw .queueUnavailable(index)
        }
        guard size > 0, size <= maximum else { throw .badQueueSize(queue: index, size: UInt32(size)) }
        let notifyOffset = UInt64(common.read16(at: VirtioPCICommonRegister.queueNotifyOffset)) * UInt64(notifyMultiplier)
        guard notifyOffset <= notifyArea.size, notifyArea.size - notifyOffset >= 2 else {
            throw .badQueueConfiguration(index)
        }
        common.write16(size, at: VirtioPCICommonRegister.queueSize)
        if let vector = interruptVectors?.vector(forQueue: index) {
            common.write16(vector, at: VirtioPCICommonRegister.queueMSIXVector)
        }
        write64(addresses.descriptorTable, at: VirtioPCICommonRegister.queueDescriptor)
        write64(addresses.driverArea, at: VirtioPCICommonRegister.queueDriver)
        write64(addresses.deviceArea, at: VirtioPCICommonRegister.queueDevice)
        while notifyOffsets.count <= Int(index) { notifyOffsets.append(nil) }
        notifyOffsets[Int(index)] = notifyOffset
        common.write16(1, at: VirtioPCICommonRegister.queueEnable)
    }

    private func write64(_ value: UInt64, at offset: UInt64) {
        common.write32(UInt32(truncatingIfNeeded: value), at: offset)
        common.write32(UInt32(truncatingIfNeeded: value >> 32), at: offset + 4)
    }

    /// See `VirtioTransport`.
    public func notify(queue index: UInt16) {
        guard Int(index) < notifyOffsets.count, let offset = notifyOffsets[Int(index)] else { return }
        notifyArea.write16(index, at: offset)
    }

    /// See `VirtioTransport`.
    public func acknowledgeInterrupt() -> VirtioInterruptStatus {
        VirtioInterruptStatus(rawValue: isr.read8(at: 0) & 3)
    }

    /// See `VirtioTransport`.
    public func configGeneration() -> UInt32 { UInt32(common.read8(at: VirtioPCICommonRegister.configGeneration)) }

    /// See `VirtioTransport`.
    public var deviceConfigSize: Int { Int(device?.size ?? 0) }
    /// See `VirtioTransport`.
    public func readConfig8(at offset: Int) -> UInt8 {
        guard offset >= 0, let device else { return 0xFF }
        return device.read8(at: UInt64(offset))
    }
    /// See `VirtioTransport`.
    public func readConfig16(at offset: Int) -> UInt16 {
        guard offset >= 0, let device else { return 0xFFFF }
        return device.read16(at: UInt64(offset))
    }
    /// See `VirtioTransport`.
    public func readConfig32(at offset: Int) -> UInt32 {
        guard offset >= 0, let device else { return 0xFFFF_FFFF }
        return device.read32(at: UInt64(offset))
    }
    /// See `VirtioTransport`.
    public func writeConfig8(_ value: UInt8, at offset: Int) {
        if offset >= 0, let device { device.write8(value, at: UInt64(offset)) }
    }

    /// See `VirtioTransport`.
    public func applyConfigurationInterruptVector() -> Bool {
        guard let vector = interruptVectors?.configuration else { return true }
        common.write16(vector, at: VirtioPCICommonRegister.configMSIXVector)
        return common.read16(at: VirtioPCICommonRegister.configMSIXVector) == vector
    }

    /// The MSI-X vector the device has bound to queue `index` (`VirtioInterruptVectors.noVector` if none).
    public func queueInterruptVector(_ index: UInt16) -> UInt16 {
        common.write16(index, at: VirtioPCICommonRegister.queueSelect)
        return common.read16(at: VirtioPCICommonRegister.queueMSIXVector)
    }
}

/// virtio-pci through the legacy interface (virtio 1.2 §4.1.5, "Legacy Interfaces"): registers in I/O BAR 0, a
/// fixed queue size, page-frame-number queue addresses. QEMU presents it for `disable-modern=on` and as the
/// legacy half of transitional devices.
public final class VirtioPCILegacyTransport<Window: RegisterWindow>: VirtioTransport {
    /// The device type.
    public let deviceType: VirtioDeviceType
    /// The register window (BAR 0).
    public let window: Window
    /// Whether MSI-X was enabled on the function when the transport was created (it moves the device
    /// configuration from 0x14 to 0x18).
    public let msixEnabled: Bool
    /// MSI-X table entries to bind (only used when `msixEnabled`).
    public var interruptVectors: VirtioInterruptVectors?

    private let config: RegisterWindowSlice<Window>

    /// Uses `window` (the I/O BAR). Enable MSI-X on the function, if wanted, before creating the transport and
    /// pass `msixEnabled: true`.
    public init(deviceType: VirtioDeviceType, window: Window, msixEnabled: Bool) throws(VirtioError) {
        let configStart = msixEnabled ? VirtioPCILegacyRegister.configWithMSIX : VirtioPCILegacyRegister.configWithoutMSIX
        guard window.size >= configStart else { throw .windowTooSmall(window.size) }
        self.deviceType = deviceType
        self.window = window
        self.msixEnabled = msixEnabled
        config = RegisterWindowSlice(window, offset: configStart, size: window.size - configStart)!
    }

    /// See `VirtioTransport`.
    public var kind: VirtioTransportKind { .pciLegacy }
    /// See `VirtioTransport`.
    public var isLegacy: Bool { true }

    /// See `VirtioTransport`.
    public func readStatus() -> VirtioDeviceStatus {
        VirtioDeviceStatus(rawValue: window.read8(at: VirtioPCILegacyRegister.deviceStatus))
    }

    /// See `VirtioTransport`.
    public func writeStatus(_ status: VirtioDeviceStatus) {
        window.write8(status.rawValue, at: VirtioPCILegacyRegister.deviceStatus)
    }

    /// See `VirtioTransport`.
    public func readDeviceFeatures() -> VirtioFeatures {
        VirtioFeatures(rawValue: UInt64(window.read32(at: VirtioPCILegacyRegister.deviceFeatures)))
    }

    /// See `VirtioTransport`.
    public func writeDriverFeatures(_ features: VirtioFeatures) {
        window.write32(UInt32(truncatingIfNeeded: features.rawValue), at: VirtioPCILegacyRegister.driverFeatures)
    }

    /// See `VirtioTransport`.
    public var queueCountHint: Int? { nil }
    /// See `VirtioTransport`.
    public var canChooseQueueSize: Bool { false }
    /// See `VirtioTransport`.
    public var queueLayout: VirtqueueLayout { .legacy(alignment: 4096) }

    /// See `VirtioTransport`.
    public func maximumQueueSize(_ index: UInt16) -> UInt16 {
        window.write16(index, at: VirtioPCILegacyRegister.queueSelect)
        return window.read16(at: VirtioPCILegacyRegister.queueSize)
    }

    /// See `VirtioTransport`.
    public func activateQueue(_ index: UInt16, size: UInt16, addresses: VirtqueueAddresses) throws(VirtioError) {
        window.write16(index, at: VirtioPCILegacyRegister.queueSelect)
        let deviceSize = window.read16(at: VirtioPCILegacyRegister.queueSize)
        guard deviceSize != 0, window.read32(at: VirtioPCILegacyRegister.queueAddress) == 0 else {
            throw .queueUnavailable(index)
        }
        guard size == deviceSize else { throw .badQueueSize(queue: index, size: UInt32(size)) }
        let layout = SplitVirtqueue.memoryLayout(size: Int(size), layout: queueLayout)
        let pfn = addresses.descriptorTable >> 12
        guard addresses.descriptorTable & 0xFFF == 0, pfn <= UInt64(UInt32.max),
              addresses.driverArea == addresses.descriptorTable + UInt64(layout.availOffset),
              addresses.deviceArea == addresses.descriptorTable + UInt64(layout.usedOffset)
        else { throw .addressNotRepresentable(addresses.descriptorTable) }
        if msixEnabled, let vector = interruptVectors?.vector(forQueue: index) {
            window.write16(vector, at: VirtioPCILegacyRegister.queueMSIXVector)
        }
        window.write32(UInt32(pfn), at: VirtioPCILegacyRegister.queueAddress)
    }

    /// See `VirtioTransport`.
    public func notify(queue index: UInt16) {
        window.write16(index, at: VirtioPCILegacyRegister.queueNotify)
    }

    /// See `VirtioTransport`.
    public func acknowledgeInterrupt() -> VirtioInterruptStatus {
        VirtioInterruptStatus(rawValue: window.read8(at: VirtioPCILegacyRegister.isrStatus) & 3)
    }

    /// See `VirtioTransport`.
    public func configGeneration() -> UInt32 { 0 }

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
    public func applyConfigurationInterruptVector() -> Bool {
        guard msixEnabled, let vector = interruptVectors?.configuration else { return true }
        window.write16(vector, at: VirtioPCILegacyRegister.configMSIXVector)
        return window.read16(at: VirtioPCILegacyRegister.configMSIXVector) == vector
    }
}

/// Finding and opening virtio-pci devices.
public enum VirtioPCI {
    /// The PCI vendor ID of virtio devices.
    public static let vendorID: UInt16 = 0x1AF4

    /// The virtio device type of a PCI function, or nil if it is not a virtio device: device IDs 0x1040 + type
    /// are modern-only, 0x1000-0x103F are transitional and carry the type in the subsystem ID (§4.1.2).
    public static func deviceType(of function: PCIFunction) -> VirtioDeviceType? {
        guard function.vendorID == vendorID else { return nil }
        if function.deviceID >= 0x1040 && function.deviceID <= 0x107F {
            return VirtioDeviceType(rawValue: UInt32(function.deviceID - 0x1040))
        }
        if function.deviceID >= 0x1000 && function.deviceID <= 0x103F {
            if function.subsystemID != 0 { return VirtioDeviceType(rawValue: UInt32(function.subsystemID)) }
            switch function.deviceID {
            case 0x1000: return .network
            case 0x1001: return .block
            case 0x1003: return .console
            case 0x1005: return .entropy
            default: return nil
            }
        }
        return nil
    }

    /// The virtio capabilities of the function at `address`, in list order. Capabilities shorter than the
    /// 16-byte `virtio_pci_cap` (20 bytes for notify) are skipped.
    public static func capabilities<Config: PCIConfigurationAccess>(_ config: Config,
                                                                    address: PCIAddress) -> [VirtioPCICapability] {
        var result: [VirtioPCICapability] = []
        for cap in PCICapabilities.list(config, address: address) where cap.id == PCICapability.vendorSpecificID {
            let o = cap.offset
            let length = config.read8(address, offset: o + 2)
            let type = config.read8(address, offset: o + 3)
            guard length >= 16, o + 16 <= 256 else { continue }
            var multiplier: UInt32 = 0
            if type == VirtioPCICapability.notify {
                guard length >= 20, o + 20 <= 256 else { continue }
                multiplier = config.read32(address, offset: o + 16)
            }
            result.append(VirtioPCICapability(
                type: type, bar: config.read8(address, offset: o + 4), id: config.read8(address, offset: o + 5),
                offset: config.read32(address, offset: o + 8), length: config.read32(address, offset: o + 12),
                notifyOffsetMultiplier: multiplier, configOffset: o))
        }
        return result
    }

    /// Opens the virtio-pci function `function`: the modern interface when the function has the common, notify
    /// and ISR capabilities (each the first of its type that lies inside an existing BAR), otherwise the legacy
    /// interface in BAR 0 (an I/O BAR). `bars` is the result of `PCIBAR.probeAll`; `window(index, bar)` returns
    /// the register window of BAR `index` (in the guest, `bar.window` after mapping a memory BAR). Turns on
    /// decoding and bus mastering. Enable MSI-X beforehand if it will be used.
    public static func makeTransport<Config: PCIConfigurationAccess, Window: RegisterWindow>(
        config: Config, function: PCIFunction, bars: [PCIBAR?], preferLegacy: Bool = false,
        window: (Int, PCIBAR) -> Window?
    ) throws(VirtioError) -> any VirtioTransport {
        guard let type = deviceType(of: function) else { throw .notVirtio }
        PCIBAR.enableDecodingAndBusMaster(config, function: function)

        func slice(_ cap: VirtioPCICapability) -> RegisterWindowSlice<Window>? {
            guard Int(cap.bar) < bars.count, let bar = bars[Int(cap.bar)], let w = window(Int(cap.bar), bar) else {
                return nil
            }
            return RegisterWindowSlice(w, offset: UInt64(cap.offset), size: UInt64(cap.length))
        }
        func first(_ type: UInt8, in caps: [VirtioPCICapability]) -> (VirtioPCICapability, RegisterWindowSlice<Window>)? {
            for cap in caps where cap.type == type {
                if let s = slice(cap) { return (cap, s) }
            }
            return nil
        }

        let caps = capabilities(config, address: function.address)
        if !preferLegacy, let common = first(VirtioPCICapability.common, in: caps),
           let notify = first(VirtioPCICapability.notify, in: caps), let isr = first(VirtioPCICapability.isr, in: caps) {
            return try VirtioPCIModernTransport(
                deviceType: type, common: common.1, notify: notify.1,
                notifyOffsetMultiplier: notify.0.notifyOffsetMultiplier, isr: isr.1,
                device: first(VirtioPCICapability.device, in: caps)?.1)
        }
        guard function.deviceID < 0x1040, !bars.isEmpty, let bar0 = bars[0], !bar0.isMemory,
              let w = window(0, bar0) else {
            throw .badCapability(type: VirtioPCICapability.common)
        }
        let msix = (try? PCIMSIX.parse(config, address: function.address))?.isEnabled(config: config) ?? false
        return try VirtioPCILegacyTransport(deviceType: type, window: w, msixEnabled: msix)
    }
}
