import Hardware
import Interfaces
import Testing
import Virtio
import VirtioBlk

/// A waiter that lets a held simulated device process its requests between polls (the host stand-in for the
/// device running concurrently), giving up after `limit` polls.
final class DeviceDrivingWaiter: BlockRequestWaiter {
    let model: SimBlkModel
    let device: SimVirtioDevice
    let limit: Int
    private(set) var waits = 0
    init(model: SimBlkModel, device: SimVirtioDevice, limit: Int = 1000) {
        self.model = model
        self.device = device
        self.limit = limit
    }
    func wait(until condition: () -> Bool) -> Bool {
        waits += 1
        for _ in 0..<limit {
            if condition() { return true }
            model.processAll(device)
        }
        return condition()
    }
}

/// A lock that checks it is used in balanced pairs.
final class CheckingLock: Lock {
    private(set) var depth = 0
    private(set) var acquisitions = 0
    func lock() {
        #expect(depth == 0, "lock taken twice")
        depth += 1
        acquisitions += 1
    }
    func unlock() {
        #expect(depth == 1, "unlock without lock")
        depth -= 1
    }
}

@Suite("VirtioBlk")
struct VirtioBlkTests {
    @Test("geometry and features from the configuration", arguments: TransportKind.allCases)
    func geometry(kind: TransportKind) throws {
        let (device, _) = makeBlkDevice(kind, sectors: 3000, sizeMax: 4096, segMax: 4)
        let rig = try makeRig(kind, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        #expect(blk.blockSize == 512 && blk.blockCount == 3000 && blk.capacitySectors == 3000)
        #expect(!blk.isReadOnly && blk.supportsFlush)
        #expect(blk.segmentSize == 4096 && blk.maximumTransferBytes == 16384)
        #expect(blk.maximumRequestsInFlight == min(32, Int(blk.queue.size) / 6))
        #expect(blk.configurationFaults == 0)
    }

    @Test("multi-sector writes and reads match the disk, with transfers split across requests",
          arguments: TransportKind.allCases)
    func readWrite(kind: TransportKind) throws {
        let (device, model) = makeBlkDevice(kind, sectors: 1024, sizeMax: 4096, segMax: 2)
        let rig = try makeRig(kind, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        let random = SeededEntropy(seed: 99)
        for round in 0..<40 {
            let count = Int(random.next64() % 64) + 1
            let block = random.next64() % UInt64(1024 - count)
            let data = pattern(count * 512, seed: UInt64(round))
            let buffer = DMABuffer(count * 512)
            buffer.set(data)
            try blk.write(block: block, from: UnsafeRawBufferPointer(buffer.mutable))
            #expect(Array(model.disk[Int(block) * 512..<(Int(block) + count) * 512]) == data)
            let back = DMABuffer(count * 512)
            try blk.read(block: block, into: back.mutable)
            #expect(back.bytes == data)
        }
        #expect(model.maxDataSegments <= 2)
        #expect(blk.requestsInFlight == 0 && blk.deviceFaults == 0 && blk.queue.faults.total == 0)
        #expect(rig.memory.allCanariesIntact && rig.outOfRangeAccesses() == 0)
    }

    @Test("several requests in flight complete together through the asynchronous API")
    func severalInFlight() throws {
        let (device, model) = makeBlkDevice(.pciModern, sectors: 512)
        model.hold = true
        for i in 0..<model.disk.count { model.disk[i] = UInt8(truncatingIfNeeded: i / 512) }
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        var completed: [VirtioBlk.RequestID] = []
        blk.onCompletion = { completed.append($0) }
        let buffers = (0..<8).map { _ in DMABuffer(1024) }
        var ids: [VirtioBlk.RequestID] = []
        for (i, b) in buffers.enumerated() {
            ids.append(try #require(try blk.submitRead(block: UInt64(10 * i), into: b.mutable)))
        }
        #expect(blk.requestsInFlight == 8 && model.requests == 0)
        #expect(blk.processCompletions() == 0)
        if case .pending = blk.state(of: ids[3]) {} else { Issue.record("request should be pending") }
        #expect(blk.takeResult(ids[3]) == nil)
        model.processAll(device)
        #expect(model.requests == 8)
        #expect(device.interrupts == 1)  // one used-index update, one interrupt
        #expect(blk.handleInterrupt() == [.queue])
        #expect(blk.processCompletions() == 8)
        #expect(Set(completed) == Set(ids))
        for (i, id) in ids.enumerated() {
            guard case .success = try #require(blk.takeResult(id)) else {
                Issue.record("request failed")
                continue
            }
            #expect(buffers[i].bytes == [UInt8](repeating: UInt8(10 * i), count: 512) + [UInt8](repeating: UInt8(10 * i + 1), count: 512))
            if case .unknown = blk.state(of: id) {} else { Issue.record("taken request still known") }
        }
        #expect(blk.requestsInFlight == 0)
    }

    @Test("the synchronous API keeps several requests of one transfer in flight")
    func synchronousSplitting() throws {
        let (device, model) = makeBlkDevice(.mmio2, sectors: 2048, sizeMax: 4096, segMax: 1)
        model.hold = true
        let rig = try makeRig(.mmio2, device: device)
        let waiter = DeviceDrivingWaiter(model: model, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory, waiter: waiter)
        let data = pattern(64 * 1024, seed: 4)
        let buffer = DMABuffer(data.count)
        buffer.set(data)
        try blk.write(block: 100, from: UnsafeRawBufferPointer(buffer.mutable))
        #expect(model.requests == 16)          // 64 KiB in 4 KiB requests
        #expect(waiter.waits == 1)             // all submitted before the first wait
        #expect(Array(model.disk[100 * 512..<(100 * 512 + data.count)]) == data)
        let back = DMABuffer(data.count)
        try blk.read(block: 100, into: back.mutable)
        #expect(back.bytes == data)
    }

    @Test("flush reaches the device; without VIRTIO_BLK_F_FLUSH it does nothing")
    func flush() throws {
        let (device, model) = makeBlkDevice(.pciLegacy)
        let rig = try makeRig(.pciLegacy, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        try blk.flush()
        #expect(model.flushes == 1)
        let (device2, model2) = makeBlkDevice(.mmio2, features: 0)
        let rig2 = try makeRig(.mmio2, device: device2)
        let blk2 = try VirtioBlk(transport: rig2.transport, memory: rig2.memory)
        #expect(!blk2.supportsFlush)
        try blk2.flush()
        #expect(model2.requests == 0)
        #expect(throws: BlockDeviceError.unsupported) { try blk2.submitFlush() }
    }

    @Test("device errors surface as typed errors: IOERR and UNSUPP")
    func deviceErrors() throws {
        let (device, model) = makeBlkDevice(.pciModern)
        model.failingSectors = [77]
        model.unsupportedTypes = [4]
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        let buffer = DMABuffer(4096)
        #expect(throws: BlockDeviceError.ioError) { try blk.read(block: 72, into: buffer.mutable) }
        #expect(throws: BlockDeviceError.ioError) { try blk.write(block: 77, from: UnsafeRawBufferPointer(buffer.mutable)) }
        #expect(throws: BlockDeviceError.unsupported) { try blk.flush() }
        try blk.read(block: 78, into: buffer.mutable)
        #expect(blk.ioErrors == 2 && blk.unsupportedRequests == 1 && blk.deviceFaults == 0 && !blk.isBroken)
        #expect(blk.requestsInFlight == 0)
    }

    @Test("requests outside the disk or of bad length are refused before reaching the device")
    func validation() throws {
        let (device, model) = makeBlkDevice(.mmio1, sectors: 100)
        let rig = try makeRig(.mmio1, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        let buffer = DMABuffer(1024)
        #expect(throws: BlockDeviceError.outOfRange(block: 99, count: 2, capacity: 100)) {
            try blk.read(block: 99, into: buffer.mutable)
        }
        #expect(throws: BlockDeviceError.outOfRange(block: UInt64.max, count: 2, capacity: 100)) {
            try blk.read(block: UInt64.max, into: buffer.mutable)
        }
        #expect(throws: BlockDeviceError.badLength(100)) {
            try blk.read(block: 0, into: UnsafeMutableRawBufferPointer(rebasing: buffer.mutable[0..<100]))
        }
        #expect(throws: BlockDeviceError.badLength(0)) {
            try blk.read(block: 0, into: UnsafeMutableRawBufferPointer(rebasing: buffer.mutable[0..<0]))
        }
        #expect(model.requests == 0)
        // The device itself must refuse a sector past the end.
        let id = try #require(try blk.submitUnchecked(.read, sector: 100, data: buffer.mutable))
        blk.processCompletions()
        if case .failure(.ioError)? = blk.takeResult(id) {} else { Issue.record("expected IOERR") }
    }

    @Test("a read-only device refuses writes locally")
    func readOnly() throws {
        let (device, model) = makeBlkDevice(.pciModern, features: BlkBits.ro)
        model.readOnly = true
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        #expect(blk.isReadOnly)
        let buffer = DMABuffer(512)
        #expect(throws: BlockDeviceError.readOnly) { try blk.write(block: 0, from: UnsafeRawBufferPointer(buffer.mutable)) }
        #expect(throws: BlockDeviceError.readOnly) { try blk.submitWrite(block: 0, from: UnsafeRawBufferPointer(buffer.mutable)) }
        #expect(model.requests == 0)
        try blk.read(block: 0, into: buffer.mutable)
    }

    @Test("a 4 KiB logical block size scales block numbers to sectors")
    func largeBlocks() throws {
        let (device, model) = makeBlkDevice(.pciModern, sectors: 800,
                                            features: BlkBits.blkSize | BlkBits.flush, blockSize: 4096)
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        #expect(blk.blockSize == 4096 && blk.blockCount == 100)
        let data = pattern(8192, seed: 8)
        let buffer = DMABuffer(8192)
        buffer.set(data)
        try blk.write(block: 3, from: UnsafeRawBufferPointer(buffer.mutable))
        #expect(Array(model.disk[3 * 4096..<5 * 4096]) == data)
        #expect(throws: BlockDeviceError.badLength(512)) {
            try blk.read(block: 0, into: UnsafeMutableRawBufferPointer(rebasing: buffer.mutable[0..<512]))
        }
        #expect(throws: BlockDeviceError.outOfRange(block: 99, count: 2, capacity: 100)) {
            try blk.read(block: 99, into: buffer.mutable)
        }
    }

    @Test("configuration values out of range are replaced and counted")
    func badConfiguration() throws {
        let (device, _) = makeBlkDevice(.pciModern, features: BlkBits.blkSize | BlkBits.sizeMax | BlkBits.segMax,
                                        sizeMax: 3, segMax: 0, blockSize: 1000)
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        #expect(blk.blockSize == 512 && blk.configurationFaults == 3)
        let buffer = DMABuffer(2048)
        try blk.read(block: 0, into: buffer.mutable)
    }

    @Test("GET_ID returns the device's identifier")
    func deviceIdentifier() throws {
        let (device, _) = makeBlkDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        #expect(try blk.deviceIdentifier() == Array("SIMBLK-0001".utf8))
        #expect(blk.requestsInFlight == 0)
    }

    @Test("bad status bytes and lengths from the device fail the request with deviceFault",
          arguments: [Misbehavior.badStatus, .statusNotWritten, .lengthPastBuffer])
    func badCompletions(misbehavior: Misbehavior) throws {
        let (device, _) = makeBlkDevice(.pciModern)
        device.misbehavior = misbehavior
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        let buffer = DMABuffer(1024)
        #expect(throws: BlockDeviceError.deviceFault) { try blk.read(block: 5, into: buffer.mutable) }
        #expect(blk.deviceFaults == 1 && blk.requestsInFlight == 0)
        #expect(rig.memory.allCanariesIntact)
    }

    @Test("a device that never completes: the call times out, the device is reset, everything in flight fails")
    func neverCompletes() throws {
        let (device, model) = makeBlkDevice(.mmio2)
        device.misbehavior = .neverComplete
        let rig = try makeRig(.mmio2, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory, waiter: SpinWaiter(limit: 1000))
        let other = DMABuffer(512)
        let pending = try #require(try blk.submitRead(block: 1, into: other.mutable))
        let buffer = DMABuffer(2048)
        #expect(throws: BlockDeviceError.deviceFault) { try blk.read(block: 5, into: buffer.mutable) }
        #expect(blk.isBroken && device.status == 0 && model.requests == 2)
        if case .failure(.deviceFault)? = blk.takeResult(pending) {} else { Issue.record("in-flight request not failed") }
        #expect(throws: BlockDeviceError.deviceFault) { try blk.read(block: 5, into: buffer.mutable) }
        #expect(throws: BlockDeviceError.deviceFault) { try blk.flush() }
        #expect(blk.requestsInFlight == 0)
    }

    @Test("queue faults (bad ids, used index jumps) fail the requests and stop the driver",
          arguments: [Misbehavior.idOutOfRange, .idNotInFlight, .usedIndexJump, .duplicateCompletion])
    func queueFaults(misbehavior: Misbehavior) throws {
        let (device, model) = makeBlkDevice(.pciModern)
        model.hold = true
        device.misbehavior = misbehavior
        device.misbehaveAfter = 2
        let rig = try makeRig(.pciModern, device: device)
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        let buffers = (0..<4).map { _ in DMABuffer(512) }
        let ids = try buffers.enumerated().map { try #require(try blk.submitRead(block: UInt64($0.offset), into: $0.element.mutable)) }
        model.processAll(device)
        blk.processCompletions()
        var ok = 0
        var faults = 0
        for id in ids {
            switch blk.takeResult(id) {
            case .success?: ok += 1
            case .failure(.deviceFault)?: faults += 1
            default: Issue.record("unexpected result")
            }
        }
        #expect(ok + faults == 4 && faults >= 1)
        // Bad ids are caught element by element: the two good completions before them stand. An index jump (or a
        // duplicate that makes the used index pass the chains in flight) is caught before any element is read.
        if misbehavior == .idOutOfRange || misbehavior == .idNotInFlight { #expect(ok == 2) }
        #expect(blk.isBroken && blk.queue.faults.total >= 1 && device.status == 0)
        #expect(rig.memory.allCanariesIntact && rig.outOfRangeAccesses() == 0)
    }

    @Test("the lock is taken in balanced pairs, also around the completion hook")
    func locking() throws {
        let (device, _) = makeBlkDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        let lock = CheckingLock()
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory, lock: lock)
        var hooks = 0
        blk.onCompletion = { _ in
            #expect(lock.depth == 0)
            hooks += 1
        }
        let buffer = DMABuffer(4096)
        try blk.write(block: 0, from: UnsafeRawBufferPointer(buffer.mutable))
        try blk.read(block: 0, into: buffer.mutable)
        try blk.flush()
        #expect(hooks == 3 && lock.depth == 0 && lock.acquisitions > 3)
    }

    @Test("polling mode asks for no interrupts")
    func pollingMode() throws {
        let (device, _) = makeBlkDevice(.pciModern)
        let rig = try makeRig(.pciModern, device: device)
        var configuration = VirtioBlk.Configuration()
        configuration.interruptDriven = false
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory, configuration: configuration)
        let buffer = DMABuffer(512)
        for _ in 0..<10 { try blk.read(block: 0, into: buffer.mutable) }
        #expect(device.interrupts == 0)
    }

    @Test("packed virtqueue: transfers and several requests in flight", arguments: [TransportKind.mmio2, .pciModern])
    func packedRing(kind: TransportKind) throws {
        let (device, model) = makeBlkDevice(kind, sectors: 1024,
                                            features: BlkBits.flush | BlkBits.sizeMax | BlkBits.segMax | eventIndexBit | packedBit,
                                            sizeMax: 4096, segMax: 2, queueSize: 64)
        let rig = try makeRig(kind, device: device)
        var configuration = VirtioBlk.Configuration()
        configuration.queueFormat = .packedWhenOffered
        let blk = try VirtioBlk(transport: rig.transport, memory: rig.memory, configuration: configuration)
        #expect(blk.queue is PackedVirtqueue)
        let random = SeededEntropy(seed: 5)
        for round in 0..<60 {
            let count = Int(random.next64() % 48) + 1
            let block = random.next64() % UInt64(1024 - count)
            let data = pattern(count * 512, seed: UInt64(round))
            let buffer = DMABuffer(count * 512)
            buffer.set(data)
            try blk.write(block: block, from: UnsafeRawBufferPointer(buffer.mutable))
            let back = DMABuffer(count * 512)
            try blk.read(block: block, into: back.mutable)
            #expect(back.bytes == data)
        }
        try blk.flush()
        model.hold = true
        let buffers = (0..<blk.maximumRequestsInFlight).map { _ in DMABuffer(512) }
        let ids = try buffers.enumerated().map { try #require(try blk.submitRead(block: UInt64($0.offset), into: $0.element.mutable)) }
        #expect(try blk.submitRead(block: 0, into: DMABuffer(512).mutable) == nil)  // all slots busy
        model.processAll(device)
        #expect(blk.processCompletions() == ids.count)
        for id in ids { if case .success? = blk.takeResult(id) {} else { Issue.record("request failed") } }
        #expect(blk.deviceFaults == 0 && blk.queue.faults.total == 0)
        #expect(rig.memory.allCanariesIntact)
    }

    @Test("differential: random operations through `any BlockDevice` agree with MemoryBlockDevice",
          arguments: [TransportKind.mmio1, .pciModern])
    func differential(kind: TransportKind) throws {
        let (device, _) = makeBlkDevice(kind, sectors: 256, sizeMax: 2048, segMax: 3)
        let rig = try makeRig(kind, device: device)
        let virtio: any BlockDevice = try VirtioBlk(transport: rig.transport, memory: rig.memory)
        let model: any BlockDevice = MemoryBlockDevice(blockCount: 256)
        let random = SeededEntropy(seed: 2024)
        func outcome(_ body: () throws(BlockDeviceError) -> Void) -> BlockDeviceError? {
            do throws(BlockDeviceError) { try body(); return nil } catch { return error }
        }
        for step in 0..<400 {
            let block = random.next64() % 270
            let bytes = Int(random.next64() % 24) * 512 + (random.next64() % 10 == 0 ? 100 : 0)
            let a = DMABuffer(max(bytes, 1)), b = DMABuffer(max(bytes, 1))
            let viewA = UnsafeMutableRawBufferPointer(rebasing: a.mutable[0..<bytes])
            let viewB = UnsafeMutableRawBufferPointer(rebasing: b.mutable[0..<bytes])
            switch random.next64() % 3 {
            case 0:
                let data = pattern(bytes, seed: UInt64(step))
                a.set(data); b.set(data)
                let e1 = outcome { () throws(BlockDeviceError) in try virtio.write(block: block, from: UnsafeRawBufferPointer(viewA)) }
                let e2 = outcome { () throws(BlockDeviceError) in try model.write(block: block, from: UnsafeRawBufferPointer(viewB)) }
                #expect(e1 == e2)
            case 1:
                let e1 = outcome { () throws(BlockDeviceError) in try virtio.read(block: block, into: viewA) }
                let e2 = outcome { () throws(BlockDeviceError) in try model.read(block: block, into: viewB) }
                #expect(e1 == e2)
                #expect(a.bytes == b.bytes)
            default:
                #expect(outcome { () throws(BlockDeviceError) in try virtio.flush() } == nil)
            }
        }
        #expect(virtio.blockCount == model.blockCount && virtio.blockSize == model.blockSize)
    }
}
