import Interfaces
import Runtime
import Virtio

/// Checks a virtio entropy device (virtio 1.2 §5.4) over `transport`, with no driver of the library involved:
/// the transport checks of `VirtioSelfCheck`, feature negotiation (the device has no feature bits of its own),
/// request queue 0 set up, two 64-byte device-writable buffers handed over one after the other and returned with
/// a used length of 1...64 (§5.4.6: the device fills a prefix of the buffer), the two fills differing, and no
/// queue faults. Polls (no interrupt); gives each request until `timeout`. Leaves the device reset.
func checkEntropyDevice(transport: any VirtioTransport, memory: any DMAMemory,
                        timeout: Duration = .seconds(5)) -> VirtioCheckReport {
    var report = VirtioCheckReport()
    VirtioSelfCheck.checkTransport(transport, into: &report)
    guard transport.deviceType == .entropy else {
        report.record("rng.device-type", .fail, "device is \(transport.deviceType), not rng")
        return report
    }
    let features: VirtioFeatures
    do throws(VirtioError) {
        features = try VirtioSetup.negotiate(transport, expecting: .entropy, supported: [])
    } catch {
        report.record("rng.init", .fail, "feature negotiation: " + error.description)
        return report
    }
    let queue: any Virtqueue
    do throws(VirtioError) {
        queue = try VirtioSetup.makeQueue(transport, index: 0, preferredSize: 8, memory: memory, eventIndex: false)
        queue.disableInterrupts()
        try VirtioSetup.finish(transport)
    } catch {
        report.record("rng.init", .fail, "queue 0 / DRIVER_OK: " + error.description)
        try? VirtioSetup.reset(transport)
        return report
    }
    report.record("rng.init", .pass, "features \(features), request queue of \(queue.size)")

    let chunk = 64
    guard let buffer = memory.allocate(byteCount: 2 * chunk, alignment: 64) else {
        report.record("rng.buffers", .fail, "could not allocate \(2 * chunk) bytes of DMA memory")
        if (try? VirtioSetup.reset(transport)) == nil { queue.abandonMemory() }
        return report
    }
    var lengths: [Int] = []
    var problem: String? = nil
    for round in 0..<2 {
        let segment = VirtqueueSegment(address: memory.deviceAddress(of: buffer + round * chunk),
                                       length: UInt32(chunk), deviceWritable: true)
        do throws(VirtqueueError) {
            try queue.submit(segment, token: UInt32(round))
        } catch {
            problem = "submitting request \(round + 1): \(error)"
            break
        }
        if queue.shouldNotify() { transport.notify(queue: 0) }
        let deadline = System.now + timeout
        var completion: VirtqueueCompletion? = nil
        while completion == nil && System.now < deadline && !queue.isBroken { completion = queue.popUsed() }
        guard let c = completion else {
            problem = queue.isBroken ? "queue fault on request \(round + 1)"
                                     : "request \(round + 1) not returned within \(timeout.components.seconds) s"
            break
        }
        guard c.token == UInt32(round), c.lengthWasValid, c.length >= 1 else {
            problem = "request \(round + 1) returned token \(c.token), used length \(c.reportedLength) of \(chunk)"
            break
        }
        lengths.append(Int(c.length))
    }
    if let problem {
        report.record("rng.read", .fail, problem)
    } else {
        report.record("rng.read", .pass, "two requests of \(chunk) bytes returned \(lengths[0]) and \(lengths[1]) bytes")
        let n = min(lengths[0], lengths[1])
        if n >= 16 {
            var same = true
            var allZero = true
            for i in 0..<n {
                let a = buffer.load(fromByteOffset: i, as: UInt8.self)
                let b = buffer.load(fromByteOffset: chunk + i, as: UInt8.self)
                if a != b { same = false }
                if a != 0 || b != 0 { allZero = false }
            }
            report.expect("rng.bytes-differ", !same && !allZero,
                          allZero ? "\(n) bytes, all zero" : same ? "both fills returned the same \(n) bytes"
                                                                  : "the two fills differ (\(n) bytes compared)")
        } else {
            report.record("rng.bytes-differ", .skip, "fills of \(n) bytes are too short to compare")
        }
    }
    report.expect("rng.device-faults", queue.faults.total == 0 && !queue.isBroken,
                  "\(queue.faults.total) queue faults" + (queue.isBroken ? ", queue broken" : ""))
    if (try? VirtioSetup.reset(transport)) != nil {
        memory.deallocate(buffer)
    } else {
        queue.abandonMemory()  // the device may still write: keep its memory forever
        report.record("rng.reset", .fail, "the device did not complete the reset")
    }
    return report
}
