import Hardware
import Interfaces
import Virtio

// The device side of virtio, simulated in host memory: a device core (status, features, configuration space,
// queues) that transports' simulated register windows talk to, split-ring processing that reads the driver's
// descriptors through their addresses (host pointers, as in the identity-mapped guest), and device models
// (net, blk). A device can be told to misbehave, to test the driver's untrusted-device posture.

@inline(__always) func hostPointer(_ address: UInt64) -> UnsafeMutableRawPointer {
    UnsafeMutableRawPointer(bitPattern: UInt(address))!
}

/// One buffer of a descriptor chain, as the device sees it.
struct SimSegment {
    var address: UInt64
    var length: Int
    var writable: Bool
}

/// Ways the simulated device breaks the rules.
enum Misbehavior: Equatable {
    case none
    /// Used element id past the queue size.
    case idOutOfRange
    /// Used element id that is not the head of a chain in flight.
    case idNotInFlight
    /// Used length far past the chain's writable capacity.
    case lengthPastBuffer
    /// used.idx advanced by more than the queue size.
    case usedIndexJump
    /// Chains are consumed but never returned.
    case neverComplete
    /// Block status byte that is not OK/IOERR/UNSUPP.
    case badStatus
    /// Block device that returns without writing the status byte.
    case statusNotWritten
    /// The same id returned twice.
    case duplicateCompletion
}

/// Device-side state of one queue.
struct SimQueue {
    var maxSize: UInt16
    var size: UInt16
    var descriptorTable: UInt64 = 0
    var driverArea: UInt64 = 0
    var deviceArea: UInt64 = 0
    var ready = false
    var pfn: UInt32 = 0
    var align: UInt32 = 4096
    var msixVector: UInt16 = 0xFFFF
    var lastAvail: UInt16 = 0
    var usedIndex: UInt16 = 0
    var pendingUsed: UInt16 = 0
    var notifications = 0
    // Packed ring state (§2.8): next available position and wrap counter, next used position and wrap counter,
    // descriptors per buffer ID taken, used position at the last interrupt decision.
    var availPosition: UInt16 = 0
    var availWrap = true
    var usedPosition: UInt16 = 0
    var usedWrap = true
    var chainLengths: [UInt16: Int] = [:]
    var usedPositionAtFlush: UInt32 = 0

    init(maxSize: UInt16) {
        self.maxSize = maxSize
        size = maxSize
    }
}

/// What a device type does with its queues.
protocol SimDeviceModel: AnyObject {
    func queueNotified(_ device: SimVirtioDevice, queue: Int)
    func deviceReset(_ device: SimVirtioDevice)
}

/// The transport-independent device core.
final class SimVirtioDevice {
    let deviceType: UInt32
    var offeredFeatures: UInt64
    var driverFeatures: UInt64 = 0
    var status: UInt8 = 0
    var config: [UInt8]
    var generation: UInt32 = 0
    var queues: [SimQueue]
    var isr: UInt8 = 0
    var interrupts = 0
    var configVector: UInt16 = 0xFFFF
    /// Clear FEATURES_OK whatever the driver chose.
    var rejectFeatures = false
    /// Configuration reads that still bump the generation counter (a device changing its configuration while
    /// the driver reads it).
    var generationBumps = 0
    /// A device whose reset never completes (status never reads back 0).
    var stuckStatus = false
    /// Report this notification offset for every queue (modern PCI), instead of the queue index.
    var notifyOffsetOverride: UInt16?
    var misbehavior: Misbehavior = .none
    /// Good completions before misbehaving starts.
    var misbehaveAfter = 0
    private(set) var completions = 0
    var model: (any SimDeviceModel)?
    /// Driver features seen when FEATURES_OK was set.
    private(set) var acceptedFeatures: UInt64 = 0
    private(set) var resets = 0

    init(type: UInt32, features: UInt64, config: [UInt8], queueSizes: [UInt16]) {
        deviceType = type
        offeredFeatures = features
        self.config = config
        queues = queueSizes.map { SimQueue(maxSize: $0) }
    }

    func attach(_ model: any SimDeviceModel) { self.model = model }

    var negotiated: UInt64 { driverFeatures }
    var eventIndex: Bool { negotiated & (1 << 29) != 0 }
    var packed: Bool { negotiated & (1 << 34) != 0 }
    var isDriverOK: Bool { status & 4 != 0 }

    func reset() {
        status = 0
        driverFeatures = 0
        isr = 0
        configVector = 0xFFFF
        for i in queues.indices { queues[i] = SimQueue(maxSize: queues[i].maxSize) }
        resets += 1
        model?.deviceReset(self)
    }

    func writeStatus(_ value: UInt8) {
        if value == 0 {
            if stuckStatus { return }
            reset()
            return
        }
        var v = value
        if v & 8 != 0 && status & 8 == 0 {
            if rejectFeatures || driverFeatures & ~offeredFeatures != 0 { v &= ~8 } else { acceptedFeatures = driverFeatures }
        }
        status = v
    }

    func notify(_ queue: Int) {
        guard queue < queues.count else { return }
        queues[queue].notifications += 1
        guard isDriverOK else { return }
        model?.queueNotified(self, queue: queue)
    }

    /// Changes the configuration space and raises a configuration interrupt.
    func changeConfig(_ body: (inout [UInt8]) -> Void) {
        body(&config)
        generation &+= 1
        isr |= 2
        interrupts += 1
    }

    // MARK: Config space access (little-endian)

    func readConfig(_ offset: Int, width: Int) -> UInt64 {
        if generationBumps > 0 {
            generationBumps -= 1
            generation &+= 1
        }
        var v: UInt64 = 0
        for i in 0..<width {
            let b: UInt64 = offset + i < config.count ? UInt64(config[offset + i]) : 0xFF
            v |= b << UInt64(8 * i)
        }
        return v
    }

    func writeConfig(_ offset: Int, width: Int, _ value: UInt64) {
        for i in 0..<width where offset + i < config.count {
            config[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
        }
    }

    // MARK: Ring access (device side)

    func activateLegacy(_ q: Int, pfn: UInt32, pageSize: UInt32) {
        queues[q].pfn = pfn
        guard pfn != 0 else { return }
        let size = UInt64(queues[q].size)
        let base = UInt64(pfn) * UInt64(pageSize)
        let align = UInt64(queues[q].align)
        queues[q].descriptorTable = base
        queues[q].driverArea = base + 16 * size
        let availEnd = base + 16 * size + 6 + 2 * size
        queues[q].deviceArea = (availEnd + align - 1) / align * align
        queues[q].ready = true
    }

    private func load16(_ a: UInt64) -> UInt16 { hostPointer(a).loadUnaligned(as: UInt16.self) }
    private func store16(_ a: UInt64, _ v: UInt16) { hostPointer(a).storeBytes(of: v, as: UInt16.self) }

    /// Split ring with EVENT_IDX: sets `avail_event` to the driver's current available index, so the next chain the
    /// driver publishes crosses it and needs a notification. QEMU's virtio-net does this after every frame it
    /// receives (`virtio_queue_set_notification` rewrites `avail_event` whether it enables or disables).
    func requestNotificationForNextChain(_ qi: Int) {
        let q = queues[qi]
        store16(q.deviceArea + 4 + 8 * UInt64(q.size), load16(q.driverArea + 2))
    }

    /// Chains the driver made available and the device has not taken (split rings only).
    func availableCount(_ qi: Int) -> Int {
        let q = queues[qi]
        guard q.ready else { return 0 }
        if packed {
            var n = 0
            while peekPacked(qi, offset: n) != nil { n += 1 }
            return n
        }
        return Int(load16(q.driverArea + 2) &- q.lastAvail)
    }

    /// The chain `offset` places after the next available one, without taking it.
    func peekAvailable(_ qi: Int, offset: Int = 0) -> (head: UInt16, segments: [SimSegment])? {
        if packed {
            guard let p = peekPacked(qi, offset: offset) else { return nil }
            return (p.id, p.segments)
        }
        guard availableCount(qi) > offset else { return nil }
        let q = queues[qi]
        let slot = UInt64((q.lastAvail &+ UInt16(offset)) % q.size)
        let head = load16(q.driverArea + 4 + 2 * slot)
        guard let segments = readChain(qi, head: head) else { return nil }
        return (head, segments)
    }

    /// Takes the next available chain (for packed rings, `head` is the buffer ID).
    func popAvailable(_ qi: Int) -> (head: UInt16, segments: [SimSegment])? {
        if packed {
            guard let p = peekPacked(qi, offset: 0) else { return nil }
            queues[qi].availPosition = p.nextPosition
            queues[qi].availWrap = p.nextWrap
            queues[qi].chainLengths[p.id] = p.segments.count
            let q = queues[qi]
            if eventIndex {  // device event suppression: notify me when the driver reaches my position
                store16(q.deviceArea, q.availPosition | (q.availWrap ? 0x8000 : 0))
                store16(q.deviceArea + 2, 2)
            }
            return (p.id, p.segments)
        }
        guard let chain = peekAvailable(qi) else { return nil }
        queues[qi].lastAvail &+= 1
        if eventIndex {
            let q = queues[qi]
            store16(q.deviceArea + 4 + 8 * UInt64(q.size), q.lastAvail)  // avail_event
        }
        return chain
    }

    /// Packed ring: the available chain `offset` chains after the device's position.
    private func peekPacked(_ qi: Int, offset: Int)
        -> (id: UInt16, segments: [SimSegment], nextPosition: UInt16, nextWrap: Bool)? {
        let q = queues[qi]
        guard q.ready else { return nil }
        var position = q.availPosition
        var wrap = q.availWrap
        for chain in 0...offset {
            var segments: [SimSegment] = []
            var id: UInt16 = 0
            while true {
                let d = hostPointer(q.descriptorTable + 16 * UInt64(position))
                let flags = d.loadUnaligned(fromByteOffset: 14, as: UInt16.self)
                let avail = flags & (1 << 7) != 0
                let used = flags & (1 << 15) != 0
                guard avail == wrap, used != wrap, segments.count < Int(q.size) else { return nil }
                segments.append(SimSegment(address: d.loadUnaligned(as: UInt64.self),
                                           length: Int(d.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                                           writable: flags & 2 != 0))
                id = d.loadUnaligned(fromByteOffset: 12, as: UInt16.self)
                position += 1
                if position == q.size {
                    position = 0
                    wrap.toggle()
                }
                if flags & 1 == 0 { break }
            }
            if chain == offset { return (id, segments, position, wrap) }
        }
        return nil
    }

    func readChain(_ qi: Int, head: UInt16) -> [SimSegment]? {
        let q = queues[qi]
        var segments: [SimSegment] = []
        var index = head
        while true {
            guard index < q.size, segments.count < Int(q.size) else { return nil }
            let d = hostPointer(q.descriptorTable + 16 * UInt64(index))
            let address = d.loadUnaligned(as: UInt64.self)
            let length = d.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
            let flags = d.loadUnaligned(fromByteOffset: 12, as: UInt16.self)
            let next = d.loadUnaligned(fromByteOffset: 14, as: UInt16.self)
            segments.append(SimSegment(address: address, length: Int(length), writable: flags & 2 != 0))
            guard flags & 1 != 0 else { break }
            index = next
        }
        return segments
    }

    /// Writes a used element (not yet published), applying any misbehavior.
    func pushUsed(_ qi: Int, head: UInt16, length: Int, capacity: Int) {
        let misbehave = misbehavior != .none && completions >= misbehaveAfter
        completions += 1
        if packed {
            pushUsedPacked(qi, id: head, length: length, capacity: capacity, misbehave: misbehave)
            return
        }
        var id = UInt32(head)
        var len = UInt32(length)
        var q = queues[qi]
        if misbehave {
            switch misbehavior {
            case .idOutOfRange: id = UInt32(q.size) + 3
            case .idNotInFlight: id = UInt32((head + 1) % q.size)
            case .lengthPastBuffer: len = UInt32(capacity) + 100_000
            case .neverComplete: return
            case .usedIndexJump:
                q.usedIndex &+= q.size + 1
                queues[qi] = q
                store16(q.deviceArea + 2, q.usedIndex)
                return
            default: break
            }
        }
        let slot = UInt64((q.usedIndex &+ q.pendingUsed) % q.size)
        let e = hostPointer(q.deviceArea + 4 + 8 * slot)
        e.storeBytes(of: id, as: UInt32.self)
        e.storeBytes(of: len, toByteOffset: 4, as: UInt32.self)
        q.pendingUsed += 1
        if misbehave && misbehavior == .duplicateCompletion {
            let slot2 = UInt64((q.usedIndex &+ q.pendingUsed) % q.size)
            let e2 = hostPointer(q.deviceArea + 4 + 8 * slot2)
            e2.storeBytes(of: id, as: UInt32.self)
            e2.storeBytes(of: len, toByteOffset: 4, as: UInt32.self)
            q.pendingUsed += 1
        }
        queues[qi] = q
    }

    /// Packed ring: writes the used descriptor at the device's used position (flags last) and advances it by the
    /// buffer's chain length.
    private func pushUsedPacked(_ qi: Int, id: UInt16, length: Int, capacity: Int, misbehave: Bool) {
        var q = queues[qi]
        let chain = q.chainLengths.removeValue(forKey: id) ?? 1
        var writtenID = id
        var len = UInt32(length)
        var copies = 1
        if misbehave {
            switch misbehavior {
            case .idOutOfRange: writtenID = q.size + 3
            case .idNotInFlight: writtenID = (id + 1) % q.size
            case .lengthPastBuffer: len = UInt32(capacity) + 100_000
            case .neverComplete: return
            case .duplicateCompletion: copies = 2
            default: break
            }
        }
        for _ in 0..<copies {
            let d = hostPointer(q.descriptorTable + 16 * UInt64(q.usedPosition))
            d.storeBytes(of: len, toByteOffset: 8, as: UInt32.self)
            d.storeBytes(of: writtenID, toByteOffset: 12, as: UInt16.self)
            d.storeBytes(of: q.usedWrap ? UInt16(0x8080) : 0, toByteOffset: 14, as: UInt16.self)
            let next = Int(q.usedPosition) + chain
            if next >= Int(q.size) { q.usedWrap.toggle() }
            q.usedPosition = UInt16(next % Int(q.size))
        }
        q.pendingUsed += 1
        queues[qi] = q
    }

    /// Publishes pushed used elements (one used.idx update) and interrupts if the driver asked for it.
    func flushUsed(_ qi: Int) {
        if packed {
            var q = queues[qi]
            guard q.pendingUsed > 0 else { return }
            q.pendingUsed = 0
            let n = 2 * UInt32(q.size)
            let new = UInt32(q.usedPosition) + (q.usedWrap ? 0 : UInt32(q.size))
            let old = q.usedPositionAtFlush
            q.usedPositionAtFlush = new
            queues[qi] = q
            let offWrap = load16(q.driverArea)
            let flags = load16(q.driverArea + 2) & 3
            let interrupt: Bool
            if flags == 2 {
                let event = UInt32(offWrap & 0x7FFF) + (offWrap & 0x8000 != 0 ? 0 : UInt32(q.size))
                interrupt = (new + n - event - 1) % n < (new + n - old) % n
            } else {
                interrupt = flags == 0
            }
            if interrupt {
                isr |= 1
                interrupts += 1
            }
            return
        }
        var q = queues[qi]
        guard q.pendingUsed > 0 else { return }
        let old = q.usedIndex
        let new = old &+ q.pendingUsed
        q.usedIndex = new
        q.pendingUsed = 0
        queues[qi] = q
        store16(q.deviceArea + 2, new)
        let interrupt: Bool
        if eventIndex {
            let usedEvent = load16(q.driverArea + 4 + 2 * UInt64(q.size))
            interrupt = (new &- usedEvent &- 1) < (new &- old)
        } else {
            interrupt = load16(q.driverArea) & 1 == 0
        }
        if interrupt {
            isr |= 1
            interrupts += 1
        }
    }

    /// Copies `bytes` into the writable segments (skipping `skip` bytes of them first); returns bytes written.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer, to segments: [SimSegment], skip: Int = 0) -> Int {
        var remaining = bytes.count
        var source = 0
        var toSkip = skip
        for s in segments where s.writable && remaining > 0 {
            var offset = 0
            if toSkip > 0 {
                let k = min(toSkip, s.length)
                toSkip -= k
                offset = k
            }
            let n = min(remaining, s.length - offset)
            if n > 0 {
                hostPointer(s.address + UInt64(offset)).copyMemory(from: bytes.baseAddress! + source, byteCount: n)
                source += n
                remaining -= n
            }
        }
        return source
    }

    /// Gathers the readable segments' bytes.
    func gather(_ segments: [SimSegment]) -> [UInt8] {
        var out: [UInt8] = []
        for s in segments where !s.writable {
            out.append(contentsOf: UnsafeRawBufferPointer(start: hostPointer(s.address), count: s.length))
        }
        return out
    }
}

// MARK: - Device models

/// virtio-net: transmitted frames are recorded (and echoed back when `echo`), frames are delivered into the
/// receive buffers the driver posted, using several buffers per frame when mergeable buffers were negotiated.
final class SimNetModel: SimDeviceModel {
    var echo = true
    /// Leave transmitted chains unprocessed until `releaseTransmit`.
    var holdTransmit = false
    /// Write this num_buffers value instead of the true one.
    var corruptNumBuffers: UInt16?
    private(set) var transmitted: [[UInt8]] = []
    private(set) var transmittedHeaders: [[UInt8]] = []
    private(set) var transmittedSegmentCounts: [Int] = []
    /// Frames waiting for receive buffers (with optional partial-checksum instructions).
    private(set) var backlog: [(frame: [UInt8], checksum: (start: Int, offset: Int)?)] = []
    private(set) var delivered = 0
    private(set) var buffersUsed = 0

    init() {}

    func headerLength(_ device: SimVirtioDevice) -> Int {
        device.negotiated & (1 << 32) != 0 || device.negotiated & (1 << 15) != 0 ? 12 : 10
    }

    func deviceReset(_ device: SimVirtioDevice) {
        backlog.removeAll()
    }

    func queueNotified(_ device: SimVirtioDevice, queue: Int) {
        if queue == 1 && !holdTransmit {
            let header = headerLength(device)
            while let (head, segments) = device.popAvailable(1) {
                let bytes = device.gather(segments)
                transmittedHeaders.append(Array(bytes.prefix(header)))
                transmittedSegmentCounts.append(segments.count)
                let frame = Array(bytes.dropFirst(header))
                transmitted.append(frame)
                if echo { backlog.append((frame, nil)) }
                device.pushUsed(1, head: head, length: 0, capacity: 0)
            }
            device.flushUsed(1)
        }
        deliverBacklog(device)
    }

    /// Processes held transmit chains.
    func releaseTransmit(_ device: SimVirtioDevice) {
        holdTransmit = false
        queueNotified(device, queue: 1)
    }

    /// Queues `frame` for delivery and delivers what fits.
    func inject(_ frame: [UInt8], checksum: (start: Int, offset: Int)? = nil, into device: SimVirtioDevice) {
        backlog.append((frame, checksum))
        deliverBacklog(device)
    }

    func deliverBacklog(_ device: SimVirtioDevice) {
        guard device.isDriverOK else { return }
        while let first = backlog.first, deliver(first.frame, checksum: first.checksum, device) {
            backlog.removeFirst()
        }
    }

    private func deliver(_ frame: [UInt8], checksum: (start: Int, offset: Int)?, _ device: SimVirtioDevice) -> Bool {
        let header = headerLength(device)
        let mergeable = device.negotiated & (1 << 15) != 0
        var packet = [UInt8](repeating: 0, count: header) + frame
        if let checksum {
            packet[0] = 1  // NEEDS_CSUM
            packet[6] = UInt8(checksum.start & 0xFF); packet[7] = UInt8(checksum.start >> 8)
            packet[8] = UInt8(checksum.offset & 0xFF); packet[9] = UInt8(checksum.offset >> 8)
        }
        // How many buffers does the packet need?
        var needed = 0
        var capacity = 0
        while capacity < packet.count {
            guard let chain = device.peekAvailable(0, offset: needed) else { return false }
            capacity += chain.segments.filter(\.writable).reduce(0) { $0 + $1.length }
            needed += 1
            if !mergeable { break }
        }
        if capacity < packet.count { return false }  // non-mergeable buffer too small: keep waiting
        if header == 12 {
            let n = corruptNumBuffers ?? UInt16(needed)
            packet[10] = UInt8(n & 0xFF)
            packet[11] = UInt8(n >> 8)
        }
        var offset = 0
        for _ in 0..<needed {
            let (head, segments) = device.popAvailable(0)!
            let cap = segments.filter(\.writable).reduce(0) { $0 + $1.length }
            let n = min(cap, packet.count - offset)
            _ = packet.withUnsafeBytes { p in
                device.write(UnsafeRawBufferPointer(rebasing: p[offset..<(offset + n)]), to: segments)
            }
            device.pushUsed(0, head: head, length: n, capacity: cap)
            offset += n
            buffersUsed += 1
        }
        device.flushUsed(0)
        delivered += 1
        return true
    }
}

/// virtio-blk: a RAM disk of 512-byte sectors. With `hold`, requests wait until `processAll()`.
final class SimBlkModel: SimDeviceModel {
    var disk: [UInt8]
    var readOnly = false
    var hold = false
    var failingSectors: Set<UInt64> = []
    /// Request types answered with UNSUPP.
    var unsupportedTypes: Set<UInt32> = []
    private(set) var flushes = 0
    private(set) var requests = 0
    private(set) var maxDataSegments = 0
    let serial: [UInt8] = Array("SIMBLK-0001".utf8)

    init(sectors: Int) {
        disk = [UInt8](repeating: 0, count: sectors * 512)
    }

    func deviceReset(_ device: SimVirtioDevice) {}

    func queueNotified(_ device: SimVirtioDevice, queue: Int) {
        if !hold { processAll(device) }
    }

    func processAll(_ device: SimVirtioDevice) {
        while let (head, segments) = device.popAvailable(0) {
            let (written, capacity) = handle(segments, device)
            device.pushUsed(0, head: head, length: written, capacity: capacity)
        }
        device.flushUsed(0)
    }

    private func handle(_ segments: [SimSegment], _ device: SimVirtioDevice) -> (Int, Int) {
        requests += 1
        let capacity = segments.filter(\.writable).reduce(0) { $0 + $1.length }
        guard segments.count >= 2, !segments[0].writable, segments[0].length >= 16,
              let statusSegment = segments.last, statusSegment.writable else { return (0, capacity) }
        let header = hostPointer(segments[0].address)
        let type = header.loadUnaligned(as: UInt32.self)
        let sector = header.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let data = Array(segments[1..<(segments.count - 1)])
        maxDataSegments = max(maxDataSegments, data.count)
        let dataBytes = data.reduce(0) { $0 + $1.length }
        var status: UInt8 = 0
        var written = 0
        let start = Int(clamping: sector) &* 512
        let inRange = sector < UInt64(disk.count / 512) && start + dataBytes <= disk.count
        let failing = (0..<UInt64((dataBytes + 511) / 512)).contains { failingSectors.contains(sector + $0) }
        switch unsupportedTypes.contains(type) ? UInt32.max : type {
        case 0:  // IN
            if !inRange || failing || data.contains(where: { !$0.writable }) { status = 1; break }
            var offset = start
            for s in data {
                disk.withUnsafeBytes { d in
                    hostPointer(s.address).copyMemory(from: d.baseAddress! + offset, byteCount: s.length)
                }
                offset += s.length
            }
            written = dataBytes
        case 1:  // OUT
            if !inRange || failing || readOnly || data.contains(where: { $0.writable }) { status = 1; break }
            var offset = start
            for s in data {
                disk.withUnsafeMutableBytes { d in
                    (d.baseAddress! + offset).copyMemory(from: hostPointer(s.address), byteCount: s.length)
                }
                offset += s.length
            }
        case 4:  // FLUSH
            flushes += 1
        case 8:  // GET_ID
            if let s = data.first, s.writable {
                var id = serial + [UInt8](repeating: 0, count: 20 - serial.count)
                _ = id.withUnsafeMutableBytes { device.write(UnsafeRawBufferPointer($0), to: [s]) }
                written = 20
            } else {
                status = 1
            }
        default:
            status = 2  // UNSUPP
        }
        let misbehave = device.misbehavior != .none && device.completions >= device.misbehaveAfter
        if misbehave && device.misbehavior == .badStatus { status = 7 }
        if !(misbehave && device.misbehavior == .statusNotWritten) {
            hostPointer(statusSegment.address).storeBytes(of: status, as: UInt8.self)
        }
        return (written + 1, capacity)
    }
}
