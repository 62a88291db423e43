import Glibc
import Hardware
import Interfaces
import Testing
import Virtio

/// DMA memory for tests: allocations from an arena mapped below 2 GiB (`MAP_32BIT`, so that legacy transports'
/// 32-bit page frame numbers can express queue addresses, as in the guest), each surrounded by canary bytes so
/// that a write outside any allocation (by the driver or, through a driver bug, by the simulated device) is
/// detected. Memory is never reused, so a stale device access cannot hit a new allocation either.
final class GuardedDMAMemory: DMAMemory {
    private struct Allocation { var raw: UnsafeMutableRawPointer; var guardSize: Int; var size: Int }
    private var allocations: [UInt: Allocation] = [:]
    private static let canary: UInt8 = 0xA5
    private static let arenaSize = 16 << 20
    private let arena: UnsafeMutableRawPointer
    private var used = 0
    private(set) var totalAllocated = 0
    /// Fail allocations after this many bytes (to test out-of-memory paths).
    var limit = Int.max

    init() {
        let p = mmap(nil, Self.arenaSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT | MAP_NORESERVE, -1, 0)
        precondition(p != MAP_FAILED && p != nil, "mmap of the DMA arena failed")
        arena = p!
    }

    deinit { munmap(arena, Self.arenaSize) }

    func allocate(byteCount: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        guard totalAllocated + byteCount <= limit else { return nil }
        let guardSize = max(64, alignment)
        let start = (used + guardSize - 1) / guardSize * guardSize
        guard start + byteCount + 2 * guardSize <= Self.arenaSize else { return nil }
        let raw = arena + start
        used = start + byteCount + 2 * guardSize
        raw.initializeMemory(as: UInt8.self, repeating: Self.canary, count: byteCount + 2 * guardSize)
        let pointer = raw + guardSize
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: byteCount)
        allocations[UInt(bitPattern: pointer)] = Allocation(raw: raw, guardSize: guardSize, size: byteCount)
        totalAllocated += byteCount
        return pointer
    }

    func deallocate(_ pointer: UnsafeMutableRawPointer) {
        guard let a = allocations.removeValue(forKey: UInt(bitPattern: pointer)) else {
            Issue.record("deallocating unknown pointer")
            return
        }
        #expect(canariesIntact(a), "canary damaged around a freed allocation")
    }

    private func canariesIntact(_ a: Allocation) -> Bool {
        for i in 0..<a.guardSize {
            if a.raw.load(fromByteOffset: i, as: UInt8.self) != Self.canary { return false }
            if a.raw.load(fromByteOffset: a.guardSize + a.size + i, as: UInt8.self) != Self.canary { return false }
        }
        return true
    }

    /// Whether every live allocation's guard bytes are intact.
    var allCanariesIntact: Bool { allocations.values.allSatisfy(canariesIntact) }
    /// Number of live allocations.
    var liveAllocations: Int { allocations.count }
}

/// Which transport a rig uses.
enum TransportKind: CaseIterable, CustomStringConvertible, Sendable {
    case mmio1, mmio2, pciModern, pciLegacy

    var description: String {
        switch self {
        case .mmio1: return "mmio-v1"
        case .mmio2: return "mmio-v2"
        case .pciModern: return "pci-modern"
        case .pciLegacy: return "pci-legacy"
        }
    }

    var isLegacy: Bool { self == .mmio1 || self == .pciLegacy }
}

/// A simulated device behind a real transport object.
struct Rig {
    let device: SimVirtioDevice
    let transport: any VirtioTransport
    let memory: GuardedDMAMemory
    let outOfRangeAccesses: () -> Int
    let pciWindow: SimPCIWindow?
    let bus: SimPCIBus?
}

let version1: UInt64 = 1 << 32
let eventIndexBit: UInt64 = 1 << 29
let anyLayoutBit: UInt64 = 1 << 27

func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> UInt32(8 * $0)) } }
func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * $0)) } }

/// Puts `device` behind a transport of `kind`. For PCI kinds the transport is made by `VirtioPCI.makeTransport`
/// from a simulated configuration space (virtio capabilities in BAR 4, or the legacy I/O BAR 0).
func makeRig(_ kind: TransportKind, device: SimVirtioDevice, memory: GuardedDMAMemory = GuardedDMAMemory()) throws -> Rig {
    switch kind {
    case .mmio1, .mmio2:
        let window = SimMMIOWindow(device: device, version: kind == .mmio1 ? 1 : 2)
        let transport = try VirtioMMIOTransport(window: window)
        return Rig(device: device, transport: transport, memory: memory, outOfRangeAccesses: { window.outOfRangeAccesses },
                   pciWindow: nil, bus: nil)
    case .pciModern, .pciLegacy:
        let bus = SimPCIBus()
        let address = PCIAddress(bus: 0, device: 3, function: 0)
        let modern = kind == .pciModern
        let f = bus.add(address, vendor: 0x1AF4,
                        device: modern ? 0x1040 + UInt16(device.deviceType) : 0x1000 + UInt16(device.deviceType - 1),
                        classCode: device.deviceType == 1 ? 0x02 : 0x01, subclass: 0, subsystemID: UInt16(device.deviceType),
                        interruptLine: 11, interruptPin: 1)
        let window = SimPCIWindow(device: device, layout: modern ? .modern : .legacy(msix: false))
        if modern {
            bus.setBAR(f, 4, .init(kind: .memory64, size: 0x10000, prefetchable: true), base: 0xFE00_0000)
            bus.setCapabilities(f, [
                (0x40, 0x09, SimPCIBus.virtioCap(type: 1, bar: 4, offset: 0x0, length: 0x38)),
                (0x50, 0x09, SimPCIBus.virtioCap(type: 3, bar: 4, offset: 0x1000, length: 0x4)),
                (0x60, 0x09, SimPCIBus.virtioCap(type: 4, bar: 4, offset: 0x2000, length: UInt32(device.config.count))),
                (0x70, 0x09, SimPCIBus.virtioCap(type: 2, bar: 4, offset: 0x3000, length: 0x1000, multiplier: 4)),
                (0x88, 0x11, le16(3) + le32(0x8000 | 4) + le32(0x9000 | 4)),
            ])
        } else {
            bus.setBAR(f, 0, .init(kind: .io, size: 0x40), base: 0xC000)
        }
        let bars = PCIBAR.probeAll(bus, function: PCIFunction(config: bus, address: address)!)
        let transport = try VirtioPCI.makeTransport(config: bus, function: PCIFunction(config: bus, address: address)!,
                                                    bars: bars) { index, bar in
            modern ? (index == 4 ? window : nil) : (index == 0 ? window : nil)
        }
        return Rig(device: device, transport: transport, memory: memory, outOfRangeAccesses: { window.outOfRangeAccesses },
                   pciWindow: window, bus: bus)
    }
}

/// virtio-net feature bits.
enum NetBits {
    static let csum: UInt64 = 1 << 0
    static let guestCsum: UInt64 = 1 << 1
    static let mtu: UInt64 = 1 << 3
    static let mac: UInt64 = 1 << 5
    static let mrgRxbuf: UInt64 = 1 << 15
    static let status: UInt64 = 1 << 16
}

/// A virtio-net device: MAC 52:54:00:12:34:56, link up, MTU `mtu`, the given features (plus VERSION_1 on modern
/// transports and ANY_LAYOUT on legacy ones unless `anyLayout` is false).
func makeNetDevice(_ kind: TransportKind, features: UInt64 = NetBits.mac | NetBits.status | NetBits.mtu | eventIndexBit,
                   mtu: UInt16 = 1500, queueSize: UInt16 = 256, anyLayout: Bool = true) -> (SimVirtioDevice, SimNetModel) {
    var offered = features
    if !kind.isLegacy { offered |= version1 } else if anyLayout { offered |= anyLayoutBit }
    let config: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56] + le16(1) + le16(1) + le16(mtu)
    let device = SimVirtioDevice(type: 1, features: offered, config: config, queueSizes: [queueSize, queueSize])
    let model = SimNetModel()
    device.attach(model)
    return (device, model)
}

/// virtio-blk feature bits.
enum BlkBits {
    static let sizeMax: UInt64 = 1 << 1
    static let segMax: UInt64 = 1 << 2
    static let ro: UInt64 = 1 << 5
    static let blkSize: UInt64 = 1 << 6
    static let flush: UInt64 = 1 << 9
}

/// A virtio-blk device over a RAM disk of `sectors` sectors.
func makeBlkDevice(_ kind: TransportKind, sectors: Int = 2048,
                   features: UInt64 = BlkBits.flush | BlkBits.sizeMax | BlkBits.segMax | eventIndexBit,
                   sizeMax: UInt32 = 65536, segMax: UInt32 = 8, blockSize: UInt32 = 512,
                   queueSize: UInt16 = 128) -> (SimVirtioDevice, SimBlkModel) {
    var offered = features
    if !kind.isLegacy { offered |= version1 }
    var config = le64(UInt64(sectors)) + le32(sizeMax) + le32(segMax) + [0, 0, 0, 0] + le32(blockSize)
    config += [UInt8](repeating: 0, count: 40 - config.count)
    let device = SimVirtioDevice(type: 2, features: offered, config: config, queueSizes: [queueSize])
    let model = SimBlkModel(sectors: sectors)
    device.attach(model)
    return (device, model)
}

/// A deterministic byte pattern.
func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    let entropy = SeededEntropy(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { entropy.fill($0) }
    return bytes
}

/// An Ethernet frame of `length` bytes: broadcast destination, source 02:00:00:00:00:02, EtherType 0x88B5,
/// then a pattern.
func ethernetFrame(_ length: Int, seed: UInt64) -> [UInt8] {
    var frame = [UInt8](repeating: 0xFF, count: 6) + [0x02, 0, 0, 0, 0, 0x02, 0x88, 0xB5]
    frame += pattern(max(0, length - 14), seed: seed)
    return frame
}

/// A DMA-capable host buffer for block tests (the driver transfers straight into caller buffers).
final class DMABuffer {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(_ count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 512)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
    }
    deinit { pointer.deallocate() }
    var mutable: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: pointer, count: count) }
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: pointer, count: count)) }
    func set(_ bytes: [UInt8]) { bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: min(count, $0.count)) } }
}
