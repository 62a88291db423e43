import Hardware
import Interfaces
import Virtio

/// Register-window plumbing shared by the simulated windows: 8/16/32-bit accesses funnel into
/// `read(offset:width:)` / `write(offset:width:value:)`; accesses outside the window are counted.
protocol SimWindow: RegisterWindow, AnyObject {
    var outOfRangeAccesses: Int { get set }
    func read(_ offset: UInt64, width: Int) -> UInt64
    func write(_ offset: UInt64, width: Int, _ value: UInt64)
}

extension SimWindow {
    private func inRange(_ o: UInt64, _ w: UInt64) -> Bool {
        if o <= size && w <= size - o { return true }
        outOfRangeAccesses += 1
        return false
    }
    func read8(at o: UInt64) -> UInt8 { inRange(o, 1) ? UInt8(truncatingIfNeeded: read(o, width: 1)) : 0xFF }
    func read16(at o: UInt64) -> UInt16 { inRange(o, 2) ? UInt16(truncatingIfNeeded: read(o, width: 2)) : 0xFFFF }
    func read32(at o: UInt64) -> UInt32 { inRange(o, 4) ? UInt32(truncatingIfNeeded: read(o, width: 4)) : 0xFFFF_FFFF }
    func write8(_ v: UInt8, at o: UInt64) { if inRange(o, 1) { write(o, width: 1, UInt64(v)) } }
    func write16(_ v: UInt16, at o: UInt64) { if inRange(o, 2) { write(o, width: 2, UInt64(v)) } }
    func write32(_ v: UInt32, at o: UInt64) { if inRange(o, 4) { write(o, width: 4, UInt64(v)) } }
}

private func setLow(_ x: inout UInt64, _ v: UInt64) { x = (x & 0xFFFF_FFFF_0000_0000) | (v & 0xFFFF_FFFF) }
private func setHigh(_ x: inout UInt64, _ v: UInt64) { x = (x & 0xFFFF_FFFF) | (v << 32) }

// MARK: - virtio-mmio

/// The register window of a virtio-mmio device, version 1 or 2 (virtio 1.2 §4.2.2, §4.2.4).
final class SimMMIOWindow: SimWindow {
    let device: SimVirtioDevice
    var version: UInt32
    var magic: UInt32 = 0x7472_6976
    var size: UInt64 = 0x200
    var outOfRangeAccesses = 0
    private var featureSelect: UInt32 = 0
    private var driverFeatureSelect: UInt32 = 0
    private var queueSelect = 0
    private var pageSize: UInt32 = 0

    init(device: SimVirtioDevice, version: UInt32) {
        self.device = device
        self.version = version
    }

    private var q: Int { queueSelect }
    private var queueExists: Bool { queueSelect < device.queues.count }

    func read(_ o: UInt64, width: Int) -> UInt64 {
        if o >= 0x100 { return device.readConfig(Int(o - 0x100), width: width) }
        switch o {
        case 0x000: return UInt64(magic)
        case 0x004: return UInt64(version)
        case 0x008: return UInt64(device.deviceType)
        case 0x00C: return 0x554D_4551
        case 0x010:
            if featureSelect == 0 { return device.offeredFeatures & 0xFFFF_FFFF }
            return featureSelect == 1 && version == 2 ? device.offeredFeatures >> 32 : 0
        case 0x034: return queueExists ? UInt64(device.queues[q].maxSize) : 0
        case 0x040: return queueExists ? UInt64(device.queues[q].pfn) : 0
        case 0x044: return queueExists && device.queues[q].ready ? 1 : 0
        case 0x060: return UInt64(device.isr)
        case 0x070: return UInt64(device.status)
        case 0x0FC: return UInt64(device.generation)
        default: return 0
        }
    }

    func write(_ o: UInt64, width: Int, _ v: UInt64) {
        if o >= 0x100 {
            device.writeConfig(Int(o - 0x100), width: width, v)
            return
        }
        switch o {
        case 0x014: featureSelect = UInt32(v)
        case 0x020:
            if driverFeatureSelect == 0 { setLow(&device.driverFeatures, v) } else if driverFeatureSelect == 1 { setHigh(&device.driverFeatures, v) }
        case 0x024: driverFeatureSelect = UInt32(v)
        case 0x028: pageSize = UInt32(v)
        case 0x030: queueSelect = Int(v)
        case 0x038: if queueExists { device.queues[q].size = UInt16(v) }
        case 0x03C: if queueExists { device.queues[q].align = UInt32(v) }
        case 0x040: if queueExists { device.activateLegacy(q, pfn: UInt32(v), pageSize: pageSize) }
        case 0x044: if queueExists { device.queues[q].ready = v == 1 }
        case 0x050: device.notify(Int(v))
        case 0x064: device.isr &= ~UInt8(truncatingIfNeeded: v)
        case 0x070: device.writeStatus(UInt8(truncatingIfNeeded: v))
        case 0x080: if queueExists { setLow(&device.queues[q].descriptorTable, v) }
        case 0x084: if queueExists { setHigh(&device.queues[q].descriptorTable, v) }
        case 0x090: if queueExists { setLow(&device.queues[q].driverArea, v) }
        case 0x094: if queueExists { setHigh(&device.queues[q].driverArea, v) }
        case 0x0A0: if queueExists { setLow(&device.queues[q].deviceArea, v) }
        case 0x0A4: if queueExists { setHigh(&device.queues[q].deviceArea, v) }
        default: break
        }
    }
}

// MARK: - virtio-pci

/// A BAR of a simulated virtio-pci device: the modern layout (common configuration at 0x0, ISR at 0x1000,
/// device configuration at 0x2000, notifications at 0x3000 with multiplier 4, MSI-X table at 0x8000) or the
/// legacy I/O register block.
final class SimPCIWindow: SimWindow {
    enum Layout { case modern, legacy(msix: Bool) }
    let device: SimVirtioDevice
    let layout: Layout
    var size: UInt64
    var outOfRangeAccesses = 0
    var msixTable = [UInt8](repeating: 0, count: 16 * 4)
    /// Notifications written at an offset that is not the selected queue's.
    var misdirectedNotifications = 0
    private var featureSelect: UInt32 = 0
    private var driverFeatureSelect: UInt32 = 0
    private var queueSelect = 0

    static let commonOffset: UInt64 = 0x0
    static let isrOffset: UInt64 = 0x1000
    static let deviceOffset: UInt64 = 0x2000
    static let notifyOffset: UInt64 = 0x3000
    static let msixOffset: UInt64 = 0x8000

    init(device: SimVirtioDevice, layout: Layout) {
        self.device = device
        self.layout = layout
        switch layout {
        case .modern: size = 0x10000
        case .legacy(let msix): size = msix ? 0x40 : 0x40
        }
    }

    private var q: Int { queueSelect }
    private var queueExists: Bool { queueSelect < device.queues.count }

    func notifyOffset(forQueue i: Int) -> UInt16 { device.notifyOffsetOverride ?? UInt16(i) }

    func read(_ o: UInt64, width: Int) -> UInt64 {
        switch layout {
        case .modern: return readModern(o, width)
        case .legacy(let msix): return readLegacy(o, width, msix)
        }
    }

    func write(_ o: UInt64, width: Int, _ v: UInt64) {
        switch layout {
        case .modern: writeModern(o, width, v)
        case .legacy(let msix): writeLegacy(o, width, v, msix)
        }
    }

    private func readModern(_ o: UInt64, _ width: Int) -> UInt64 {
        if o >= Self.msixOffset && o < Self.msixOffset + UInt64(msixTable.count) {
            var v: UInt64 = 0
            for i in 0..<width { v |= UInt64(msixTable[Int(o - Self.msixOffset) + i]) << UInt64(8 * i) }
            return v
        }
        if o >= Self.deviceOffset && o < Self.deviceOffset + 0x1000 {
            return device.readConfig(Int(o - Self.deviceOffset), width: width)
        }
        if o == Self.isrOffset {
            let v = device.isr
            device.isr = 0
            return UInt64(v)
        }
        switch o {
        case 0x00: return UInt64(featureSelect)
        case 0x04:
            return featureSelect == 0 ? device.offeredFeatures & 0xFFFF_FFFF : (featureSelect == 1 ? device.offeredFeatures >> 32 : 0)
        case 0x08: return UInt64(driverFeatureSelect)
        case 0x0C:
            return driverFeatureSelect == 0 ? device.driverFeatures & 0xFFFF_FFFF : device.driverFeatures >> 32
        case 0x10: return UInt64(device.configVector)
        case 0x12: return UInt64(device.queues.count)
        case 0x14: return UInt64(device.status)
        case 0x15: return UInt64(device.generation & 0xFF)
        case 0x16: return UInt64(queueSelect)
        case 0x18: return queueExists ? UInt64(device.queues[q].size) : 0
        case 0x1A: return queueExists ? UInt64(device.queues[q].msixVector) : 0xFFFF
        case 0x1C: return queueExists && device.queues[q].ready ? 1 : 0
        case 0x1E: return queueExists ? UInt64(notifyOffset(forQueue: q)) : 0
        case 0x20: return queueExists ? device.queues[q].descriptorTable & 0xFFFF_FFFF : 0
        case 0x24: return queueExists ? device.queues[q].descriptorTable >> 32 : 0
        default: return 0
        }
    }

    private func writeModern(_ o: UInt64, _ width: Int, _ v: UInt64) {
        if o >= Self.msixOffset && o < Self.msixOffset + UInt64(msixTable.count) {
            for i in 0..<width { msixTable[Int(o - Self.msixOffset) + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) }
            return
        }
        if o >= Self.deviceOffset && o < Self.deviceOffset + 0x1000 {
            device.writeConfig(Int(o - Self.deviceOffset), width: width, v)
            return
        }
        if o >= Self.notifyOffset && o < Self.notifyOffset + 0x1000 {
            let queue = Int(v)
            if o - Self.notifyOffset != UInt64(notifyOffset(forQueue: queue)) * 4 { misdirectedNotifications += 1 }
            device.notify(queue)
            return
        }
        switch o {
        case 0x00: featureSelect = UInt32(v)
        case 0x08: driverFeatureSelect = UInt32(v)
        case 0x0C:
            if driverFeatureSelect == 0 { setLow(&device.driverFeatures, v) } else if driverFeatureSelect == 1 { setHigh(&device.driverFeatures, v) }
        case 0x10: device.configVector = UInt16(v) < 4 ? UInt16(v) : 0xFFFF  // four table entries
        case 0x14: device.writeStatus(UInt8(truncatingIfNeeded: v))
        case 0x16: queueSelect = Int(v)
        case 0x18: if queueExists { device.queues[q].size = UInt16(v) }
        case 0x1A: if queueExists { device.queues[q].msixVector = UInt16(v) < 4 ? UInt16(v) : 0xFFFF }
        case 0x1C: if queueExists { device.queues[q].ready = v == 1 }
        case 0x20: if queueExists { setLow(&device.queues[q].descriptorTable, v) }
        case 0x24: if queueExists { setHigh(&device.queues[q].descriptorTable, v) }
        case 0x28: if queueExists { setLow(&device.queues[q].driverArea, v) }
        case 0x2C: if queueExists { setHigh(&device.queues[q].driverArea, v) }
        case 0x30: if queueExists { setLow(&device.queues[q].deviceArea, v) }
        case 0x34: if queueExists { setHigh(&device.queues[q].deviceArea, v) }
        default: break
        }
    }

    private func readLegacy(_ o: UInt64, _ width: Int, _ msix: Bool) -> UInt64 {
        let configStart: UInt64 = msix ? 0x18 : 0x14
        if o >= configStart { return device.readConfig(Int(o - configStart), width: width) }
        switch o {
        case 0x00: return device.offeredFeatures & 0xFFFF_FFFF
        case 0x04: return device.driverFeatures & 0xFFFF_FFFF
        case 0x08: return queueExists ? UInt64(device.queues[q].pfn) : 0
        case 0x0C: return queueExists ? UInt64(device.queues[q].maxSize) : 0
        case 0x0E: return UInt64(queueSelect)
        case 0x12: return UInt64(device.status)
        case 0x13:
            let v = device.isr
            device.isr = 0
            return UInt64(v)
        case 0x14: return UInt64(device.configVector)
        case 0x16: return queueExists ? UInt64(device.queues[q].msixVector) : 0xFFFF
        default: return 0
        }
    }

    private func writeLegacy(_ o: UInt64, _ width: Int, _ v: UInt64, _ msix: Bool) {
        let configStart: UInt64 = msix ? 0x18 : 0x14
        if o >= configStart {
            device.writeConfig(Int(o - configStart), width: width, v)
            return
        }
        switch o {
        case 0x04: device.driverFeatures = v & 0xFFFF_FFFF
        case 0x08: if queueExists { device.activateLegacy(q, pfn: UInt32(v), pageSize: 4096) }
        case 0x0E: queueSelect = Int(v)
        case 0x10: device.notify(Int(v))
        case 0x12: device.writeStatus(UInt8(truncatingIfNeeded: v))
        case 0x14: device.configVector = UInt16(v)
        case 0x16: if queueExists { device.queues[q].msixVector = UInt16(v) }
        default: break
        }
    }
}

// MARK: - PCI configuration space

/// A simulated PCI bus: configuration spaces of functions, with BAR sizing semantics (writes of all ones read
/// back the size mask) and read-only IDs.
final class SimPCIBus: PCIConfigurationAccess {
    enum BARKind { case io, memory32, memory64 }
    struct BAR { var kind: BARKind; var size: UInt64; var prefetchable = false }

    final class Function {
        var bytes = [UInt8](repeating: 0, count: 256)
        var bars: [BAR?] = Array(repeating: nil, count: 6)

        func dword(_ o: Int) -> UInt32 {
            UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        }
        func setDword(_ o: Int, _ v: UInt32) {
            for i in 0..<4 { bytes[o + i] = UInt8(truncatingIfNeeded: v >> UInt32(8 * i)) }
        }
        func set16(_ o: Int, _ v: UInt16) {
            bytes[o] = UInt8(v & 0xFF)
            bytes[o + 1] = UInt8(v >> 8)
        }
        func set8(_ o: Int, _ v: UInt8) { bytes[o] = v }
    }

    var functions: [PCIAddress: Function] = [:]
    private(set) var reads = 0

    func read32(_ address: PCIAddress, offset: UInt16) -> UInt32 {
        reads += 1
        guard let f = functions[address], offset < 256 else { return 0xFFFF_FFFF }
        return f.dword(Int(offset & 0xFC))
    }

    func write32(_ address: PCIAddress, offset: UInt16, _ value: UInt32) {
        guard let f = functions[address], offset < 256 else { return }
        let o = Int(offset & 0xFC)
        if o == 0 || o == 8 { return }  // IDs and class are read-only
        if o >= 0x10 && o < 0x28 {
            let index = (o - 0x10) / 4
            f.setDword(o, barValue(f, index, value))
            return
        }
        f.setDword(o, value)
    }

    private func barValue(_ f: Function, _ index: Int, _ value: UInt32) -> UInt32 {
        if let bar = f.bars[index] {
            switch bar.kind {
            case .io: return (value & ~UInt32(bar.size - 1) & ~0x3) | 1
            case .memory32: return (value & ~UInt32(bar.size - 1) & ~0xF) | (bar.prefetchable ? 8 : 0)
            case .memory64:
                return (value & ~UInt32(truncatingIfNeeded: bar.size - 1) & ~0xF) | 4 | (bar.prefetchable ? 8 : 0)
            }
        }
        if index > 0, let lower = f.bars[index - 1], lower.kind == .memory64 {
            return value & ~UInt32(truncatingIfNeeded: (lower.size - 1) >> 32)
        }
        return 0
    }

    /// Adds a function with a type 0 (or 1 for bridges) header.
    @discardableResult
    func add(_ address: PCIAddress, vendor: UInt16, device: UInt16, classCode: UInt8, subclass: UInt8,
             headerType: UInt8 = 0, multifunction: Bool = false, subsystemID: UInt16 = 0,
             interruptLine: UInt8 = 0, interruptPin: UInt8 = 0) -> Function {
        let f = Function()
        f.set16(0, vendor)
        f.set16(2, device)
        f.set8(0x0A, subclass)
        f.set8(0x0B, classCode)
        f.set8(0x0E, headerType | (multifunction ? 0x80 : 0))
        f.set16(0x2C, vendor)
        f.set16(0x2E, subsystemID)
        f.set8(0x3C, interruptLine)
        f.set8(0x3D, interruptPin)
        functions[address] = f
        return f
    }

    /// Installs BAR `index` at `base`.
    func setBAR(_ f: Function, _ index: Int, _ bar: BAR, base: UInt64) {
        f.bars[index] = bar
        switch bar.kind {
        case .io: f.setDword(0x10 + 4 * index, UInt32(base) | 1)
        case .memory32: f.setDword(0x10 + 4 * index, UInt32(base) | (bar.prefetchable ? 8 : 0))
        case .memory64:
            f.setDword(0x10 + 4 * index, UInt32(truncatingIfNeeded: base) | 4 | (bar.prefetchable ? 8 : 0))
            f.setDword(0x14 + 4 * index, UInt32(truncatingIfNeeded: base >> 32))
        }
    }

    /// Writes a capability list: each entry (id, body bytes after the two header bytes) at the given offset,
    /// linked in order, and sets the status bit and capabilities pointer.
    func setCapabilities(_ f: Function, _ caps: [(offset: Int, id: UInt8, body: [UInt8])]) {
        f.set16(0x06, f.bytes[6] == 0 ? 0x10 : UInt16(f.bytes[6]) | 0x10)
        f.set8(0x34, UInt8(caps.first?.offset ?? 0))
        for (i, cap) in caps.enumerated() {
            f.set8(cap.offset, cap.id)
            f.set8(cap.offset + 1, i + 1 < caps.count ? UInt8(caps[i + 1].offset) : 0)
            for (j, b) in cap.body.enumerated() { f.set8(cap.offset + 2 + j, b) }
        }
    }

    /// The body (after id and next) of a `virtio_pci_cap` of `type` in BAR `bar` at `offset` of `length` bytes.
    static func virtioCap(type: UInt8, bar: UInt8, offset: UInt32, length: UInt32, multiplier: UInt32? = nil) -> [UInt8] {
        var body: [UInt8] = [multiplier == nil ? 16 : 20, type, bar, 0, 0, 0]
        for v in [offset, length] + (multiplier.map { [$0] } ?? []) {
            for i in 0..<4 { body.append(UInt8(truncatingIfNeeded: v >> UInt32(8 * i))) }
        }
        return body
    }
}
