import Hardware
import Interfaces
import Testing
@testable import Virtio

let packedBit: UInt64 = 1 << 34

/// A virtqueue (split, or packed) wired directly to a simulated device's queue 0 (no transport).
func makeQueuePair(size: UInt16, eventIndex: Bool, packed: Bool = false) throws -> (any Virtqueue, SimVirtioDevice, GuardedDMAMemory) {
    let memory = GuardedDMAMemory()
    let queue: any Virtqueue = packed
        ? try PackedVirtqueue(index: 0, size: size, memory: memory, eventIndex: eventIndex)
        : try SplitVirtqueue(index: 0, size: size, layout: .separate, memory: memory, eventIndex: eventIndex)
    let features = (eventIndex ? eventIndexBit : 0) | (packed ? packedBit : 0)
    let device = SimVirtioDevice(type: 1, features: features, config: [], queueSizes: [size])
    device.driverFeatures = features
    device.queues[0].descriptorTable = queue.addresses.descriptorTable
    device.queues[0].driverArea = queue.addresses.driverArea
    device.queues[0].deviceArea = queue.addresses.deviceArea
    device.queues[0].ready = true
    return (queue, device, memory)
}

func readable(_ address: UInt64, _ length: UInt32) -> VirtqueueSegment {
    VirtqueueSegment(address: address, length: length, deviceWritable: false)
}

func writable(_ address: UInt64, _ length: UInt32) -> VirtqueueSegment {
    VirtqueueSegment(address: address, length: length, deviceWritable: true)
}

@Suite("Split virtqueue")
struct VirtqueueTests {
    @Test("a chain reaches the device in order with the right flags and comes back with its token", arguments: [false, true])
    func roundTrip(packed: Bool) throws {
        let (queue, device, memory) = try makeQueuePair(size: 8, eventIndex: false, packed: packed)
        let head = try queue.submit(readable(0x1000, 16), writable(0x2000, 512), writable(0x3000, 1), token: 77)
        #expect(queue.freeDescriptorCount == 5 && queue.inFlightCount == 1)
        let (deviceHead, segments) = try #require(device.popAvailable(0))
        #expect(deviceHead == head)
        #expect(segments.map(\.address) == [0x1000, 0x2000, 0x3000])
        #expect(segments.map(\.length) == [16, 512, 1])
        #expect(segments.map(\.writable) == [false, true, true])
        #expect(queue.popUsed() == nil)
        device.pushUsed(0, head: deviceHead, length: 300, capacity: 513)
        device.flushUsed(0)
        #expect(queue.usedCount() == 1)
        let c = try #require(queue.popUsed())
        #expect(c.token == 77 && c.length == 300 && c.capacity == 513 && c.lengthWasValid && c.head == head)
        #expect(queue.freeDescriptorCount == 8 && queue.inFlightCount == 0 && queue.faults.total == 0)
        #expect(memory.allCanariesIntact)
    }

    @Test("submission refuses bad segments and a full table without changing state", arguments: [false, true])
    func refusals(packed: Bool) throws {
        let (queue, _, _) = try makeQueuePair(size: 4, eventIndex: false, packed: packed)
        #expect(throws: VirtqueueError.badSegment) { try queue.submit(readable(0x1000, 0), token: 0) }
        #expect(throws: VirtqueueError.badSegment) { try queue.submit(writable(0x1000, 8), readable(0x2000, 8), token: 0) }
        #expect(throws: VirtqueueError.badSegment) { try queue.submitChain(count: 0, token: 0) { _ in readable(1, 1) } }
        try queue.submit(readable(0x1000, 8), readable(0x1000, 8), readable(0x1000, 8), token: 1)
        #expect(throws: VirtqueueError.noFreeDescriptors) { try queue.submit(readable(0x1000, 8), readable(0x1000, 8), token: 2) }
        #expect(queue.freeDescriptorCount == 1 && queue.inFlightCount == 1)
        try queue.submit(readable(0x1000, 8), token: 3)
        #expect(queue.freeDescriptorCount == 0)
    }

    @Test("queue sizes must be powers of two up to 32768; legacy layout aligns the used ring")
    func sizesAndLayout() throws {
        let memory = GuardedDMAMemory()
        #expect(throws: VirtioError.badQueueSize(queue: 2, size: 6)) {
            try SplitVirtqueue(index: 2, size: 6, layout: .separate, memory: memory, eventIndex: false)
        }
        #expect(throws: VirtioError.badQueueSize(queue: 0, size: 0)) {
            try SplitVirtqueue(index: 0, size: 0, layout: .separate, memory: memory, eventIndex: false)
        }
        let legacy = SplitVirtqueue.memoryLayout(size: 256, layout: .legacy(alignment: 4096))
        #expect(legacy.availOffset == 4096 && legacy.usedOffset == 8192 && legacy.total == 8192 + 6 + 8 * 256)
        let modern = SplitVirtqueue.memoryLayout(size: 8, layout: .separate)
        #expect(modern.availOffset == 128 && modern.usedOffset == 152 && modern.total == 152 + 70)
        memory.limit = 100
        #expect(throws: VirtioError.outOfMemory(bytes: modern.total)) {
            try SplitVirtqueue(index: 0, size: 8, layout: .separate, memory: memory, eventIndex: false)
        }
    }

    @Test("randomized: out-of-order completion across index wrap-around matches a model",
          arguments: [(false, false), (true, false), (false, true), (true, true)])
    func randomizedAgainstModel(eventIndex: Bool, packed: Bool) throws {
        let (queue, device, memory) = try makeQueuePair(size: 16, eventIndex: eventIndex, packed: packed)
        let random = SeededEntropy(seed: (eventIndex ? 42 : 7) + (packed ? 1000 : 0))
        var inFlight: [UInt16: (token: UInt32, writable: Int)] = [:]   // device view: head -> token
        var taken: [(head: UInt16, segments: [SimSegment])] = []
        var expected: [UInt32: Int] = [:]   // token -> length the device will report
        var nextToken: UInt32 = 0
        var completed = 0
        for _ in 0..<250_000 {
            switch random.next64() % 4 {
            case 0, 1:
                let count = Int(random.next64() % 4) + 1
                guard queue.freeDescriptorCount >= count else { continue }
                let writableLength = UInt32(random.next64() % 1000) + 1
                let head = try queue.submitChain(count: count, token: nextToken) { i in
                    i == count - 1 ? writable(0x10_0000 + UInt64(i), writableLength) : readable(0x20_0000, 8)
                }
                #expect(inFlight[head] == nil)
                inFlight[head] = (nextToken, Int(writableLength))
                nextToken += 1
            case 2:
                while let chain = device.popAvailable(0) { taken.append(chain) }
            default:
                guard !taken.isEmpty else { continue }
                // Complete a random subset, out of order.
                let n = Int(random.next64() % UInt64(taken.count)) + 1
                for _ in 0..<n {
                    let i = Int(random.next64() % UInt64(taken.count))
                    let chain = taken.remove(at: i)
                    let info = try #require(inFlight[chain.head])
                    let length = Int(random.next64() % UInt64(info.writable + 1))
                    expected[info.token] = length
                    device.pushUsed(0, head: chain.head, length: length, capacity: info.writable)
                }
                device.flushUsed(0)
                while let c = queue.popUsed() {
                    #expect(expected.removeValue(forKey: c.token) == Int(c.length))
                    #expect(inFlight.removeValue(forKey: c.head)?.token == c.token)
                    completed += 1
                }
            }
            // Invariant: descriptors in flight are disjoint and add up with the free ones.
            if queue.inFlightCount != inFlight.count { Issue.record("in-flight count diverged"); return }
        }
        #expect(completed > 10_000)
        #expect(nextToken > 65_536)  // past a 16-bit wrap of the ring indexes
        #expect(queue.faults.total == 0 && !queue.isBroken)
        #expect(memory.allCanariesIntact)
    }

    @Test("EVENT_IDX: the driver notifies only when the new index passes avail_event")
    func eventIndexNotification() throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: true)
        try queue.submit(readable(0x1000, 8), token: 0)
        #expect(queue.shouldNotify())          // avail_event 0 is passed by the first buffer
        try queue.submit(readable(0x1000, 8), token: 1)
        try queue.submit(readable(0x1000, 8), token: 2)
        #expect(!queue.shouldNotify())         // the device has not caught up: no new notification
        while device.popAvailable(0) != nil {}  // device consumes 3 and sets avail_event = 3
        try queue.submit(readable(0x1000, 8), token: 3)
        #expect(queue.shouldNotify())
        #expect(!queue.shouldNotify())         // nothing new
        #expect(queue.notificationsRequested == 2)
    }

    @Test("without EVENT_IDX the driver honours VIRTQ_USED_F_NO_NOTIFY")
    func noNotifyFlag() throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: false)
        try queue.submit(readable(0x1000, 8), token: 0)
        #expect(queue.shouldNotify())
        hostPointer(device.queues[0].deviceArea).storeBytes(of: UInt16(1), as: UInt16.self)
        try queue.submit(readable(0x1000, 8), token: 1)
        #expect(!queue.shouldNotify())
    }

    @Test("interrupt suppression with and without EVENT_IDX", arguments: [(false, false), (true, false), (false, true), (true, true)])
    func interruptSuppression(eventIndex: Bool, packed: Bool) throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: eventIndex, packed: packed)
        func completeOne(_ token: UInt32) throws {
            try queue.submit(writable(0x1000, 8), token: token)
            let (head, _) = try #require(device.popAvailable(0))
            device.pushUsed(0, head: head, length: 8, capacity: 8)
            device.flushUsed(0)
        }
        try completeOne(0)
        #expect(device.interrupts == 1)
        _ = queue.popUsed()
        queue.disableInterrupts()
        try completeOne(1)
        try completeOne(2)
        #expect(device.interrupts == 1)
        // Re-enabling reports the buffers that arrived meanwhile (no interrupt will announce them).
        #expect(queue.enableInterrupts())
        while queue.popUsed() != nil {}
        #expect(!queue.enableInterrupts())
        try completeOne(3)
        #expect(device.interrupts == 2)
    }

    @Test("a used index that jumps past the chains in flight breaks the queue")
    func usedIndexJump() throws {
        let (queue, device, memory) = try makeQueuePair(size: 8, eventIndex: true)
        try queue.submit(writable(0x1000, 64), token: 5)
        let (head, _) = try #require(device.popAvailable(0))
        device.misbehavior = .usedIndexJump
        device.pushUsed(0, head: head, length: 8, capacity: 64)
        #expect(queue.popUsed() == nil)
        #expect(queue.isBroken && queue.faults.usedIndexJumps == 1)
        #expect(queue.lastFault == .usedIndexJump(last: 0, reported: 9, inFlight: 1))
        #expect(throws: VirtqueueError.broken) { try queue.submit(readable(0x1000, 8), token: 6) }
        #expect(!queue.shouldNotify())
        var reclaimed: [UInt32] = []
        queue.reclaimAll { reclaimed.append($0) }
        #expect(reclaimed == [5] && queue.freeDescriptorCount == 8)
        #expect(memory.allCanariesIntact)
    }

    @Test("used element ids out of range, not in flight, or returned twice break the queue",
          arguments: [Misbehavior.idOutOfRange, .idNotInFlight, .duplicateCompletion], [false, true])
    func badIDs(misbehavior: Misbehavior, packed: Bool) throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: false, packed: packed)
        try queue.submit(readable(0x1000, 8), writable(0x2000, 8), token: 1)
        try queue.submit(writable(0x3000, 8), token: 2)
        let (h1, _) = try #require(device.popAvailable(0))
        let (h2, _) = try #require(device.popAvailable(0))
        device.misbehavior = misbehavior
        device.misbehaveAfter = misbehavior == .duplicateCompletion ? 0 : 1
        device.pushUsed(0, head: h1, length: 8, capacity: 8)
        if misbehavior != .duplicateCompletion { device.pushUsed(0, head: h2, length: 8, capacity: 8) }
        device.flushUsed(0)
        let first = queue.popUsed()
        #expect(first?.token == 1)
        #expect(queue.popUsed() == nil)
        #expect(queue.isBroken && queue.faults.badIDs == 1)
        switch misbehavior {
        case .idOutOfRange: #expect(queue.lastFault == .idOutOfRange(11))
        case .idNotInFlight: #expect(queue.lastFault == .idNotInFlight(UInt32((h2 + 1) % 8)))
        default: #expect(queue.lastFault == .idNotInFlight(UInt32(h1)))
        }
        #expect(queue.usedCount() == 0 && queue.peekUsed(at: 0) == nil)
    }

    @Test("a used length past the writable buffers is clamped and counted, the queue keeps working", arguments: [false, true])
    func lengthPastBuffer(packed: Bool) throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: false, packed: packed)
        try queue.submit(readable(0x1000, 100), writable(0x2000, 64), token: 9)
        let (head, _) = try #require(device.popAvailable(0))
        device.misbehavior = .lengthPastBuffer
        device.pushUsed(0, head: head, length: 64, capacity: 64)
        device.flushUsed(0)
        let c = try #require(queue.popUsed())
        #expect(c.length == 64 && !c.lengthWasValid && c.reportedLength == 100_064)
        #expect(queue.faults.lengthOverruns == 1 && !queue.isBroken)
        #expect(queue.lastFault == .lengthTooLong(head: head, length: 100_064, capacity: 64))
        try queue.submit(readable(0x1000, 8), token: 10)
    }

    @Test("a peeked element is consumed as peeked even if the device rewrites it afterwards")
    func peekThenPopReadsOnce() throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: false)
        try queue.submit(writable(0x1000, 8), token: 1)
        try queue.submit(writable(0x2000, 8), token: 2)
        let (h1, _) = try #require(device.popAvailable(0))
        _ = device.popAvailable(0)
        device.pushUsed(0, head: h1, length: 4, capacity: 8)
        device.flushUsed(0)
        let peeked = try #require(queue.peekUsed(at: 0))
        // The device now rewrites the used element to name the other chain.
        let entry = hostPointer(device.queues[0].deviceArea + 4)
        entry.storeBytes(of: UInt32(h1 == 0 ? 1 : 0), as: UInt32.self)
        let popped = try #require(queue.popUsed())
        #expect(popped == peeked && popped.token == 1)
        #expect(queue.inFlightCount == 1 && queue.freeDescriptorCount == 7)
    }

    @Test("packed ring: notifications follow the device event suppression structure")
    func packedNotification() throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: true, packed: true)
        // Initially the device event flags are 0 (enable): every batch notifies.
        try queue.submit(readable(0x1000, 8), token: 0)
        #expect(queue.shouldNotify())
        try queue.submit(readable(0x1000, 8), token: 1)
        #expect(queue.shouldNotify())
        _ = device.popAvailable(0)
        _ = device.popAvailable(0)   // device event: position 2, wrap 1
        try queue.submit(readable(0x1000, 8), readable(0x1000, 8), token: 2)  // positions 2-3 cross it
        #expect(queue.shouldNotify())
        try queue.submit(readable(0x1000, 8), token: 3)  // device has not caught up: no notification
        #expect(!queue.shouldNotify())
        while device.popAvailable(0) != nil {}
        // Wrap the ring: positions 5, 6, 7, 0 (wrap counter flips).
        try queue.submit(readable(0x1000, 8), token: 4)
        #expect(queue.shouldNotify())
        // Device disables notifications.
        hostPointer(device.queues[0].deviceArea + 2).storeBytes(of: UInt16(1), as: UInt16.self)
        try queue.submit(readable(0x1000, 8), token: 5)
        #expect(!queue.shouldNotify())
        #expect(queue.notificationsRequested == 4)
    }

    @Test("packed ring: chains wrap around the ring end and are seen whole by the device")
    func packedWrap() throws {
        let (queue, device, memory) = try makeQueuePair(size: 4, eventIndex: false, packed: true)
        for round in 0..<10 {
            let id = try queue.submit(readable(0x1000, 16), writable(0x2000 + UInt64(round), 64), writable(0x3000, 1),
                                      token: UInt32(round))
            let (deviceID, segments) = try #require(device.popAvailable(0))
            #expect(deviceID == id && segments.count == 3 && segments[1].address == 0x2000 + UInt64(round))
            device.pushUsed(0, head: deviceID, length: 65, capacity: 65)
            device.flushUsed(0)
            let c = try #require(queue.popUsed())
            #expect(c.token == UInt32(round) && c.length == 65)
            #expect(queue.freeDescriptorCount == 4)
        }
        #expect(memory.allCanariesIntact)
    }

    @Test("packed ring: a peeked used descriptor is consumed as peeked")
    func packedPeekOnce() throws {
        let (queue, device, _) = try makeQueuePair(size: 8, eventIndex: false, packed: true)
        try queue.submit(writable(0x1000, 8), token: 1)
        try queue.submit(writable(0x2000, 8), token: 2)
        let (first, _) = try #require(device.popAvailable(0))
        _ = device.popAvailable(0)
        device.pushUsed(0, head: first, length: 4, capacity: 8)
        device.flushUsed(0)
        #expect(queue.usedCount() == 1)
        let peeked = try #require(queue.peekUsed(at: 0))
        #expect(queue.peekUsed(at: 1) == nil)
        hostPointer(device.queues[0].descriptorTable + 12).storeBytes(of: UInt16(first == 0 ? 1 : 0), as: UInt16.self)
        let popped = try #require(queue.popUsed())
        #expect(popped == peeked && popped.token == 1 && queue.inFlightCount == 1)
    }
}
