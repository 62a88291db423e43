import Interfaces
import Virtio

extension VirtioBlk {
    /// Exercises the virtio-blk device behind `transport` and reports named checks (for hypervisor developers;
    /// the runtime prints them as TAP or JSON lines): the transport checks of `VirtioSelfCheck`, driver
    /// initialization, capacity and block size, reads of the first and last block, several reads in flight at
    /// once, that the device fails a read past the end with IOERR, a write / read-back / restore of
    /// `scratchBlock` (default: the last block) when the disk is writable and `allowWrites` is true, that a
    /// read-only device fails a write with IOERR, flush, GET_ID, and the absence of device faults. Buffers come
    /// from `memory`. The driver runs in polling mode with `configuration` otherwise. The device is reset at the end.
    public static func selfCheck(transport: any VirtioTransport, memory: any DMAMemory,
                                 configuration: Configuration = Configuration(), scratchBlock: UInt64? = nil,
                                 allowWrites: Bool = true,
                                 waiter: any BlockRequestWaiter = SpinWaiter(limit: 10_000_000)) -> VirtioCheckReport {
        var report = VirtioCheckReport()
        VirtioSelfCheck.checkTransport(transport, into: &report)
        guard transport.deviceType == .block else {
            report.record("blk.device-type", .fail, "device is \(transport.deviceType), not blk")
            return report
        }
        var configuration = configuration
        configuration.interruptDriven = false
        let blk: VirtioBlk
        do throws(VirtioError) {
            blk = try VirtioBlk(transport: transport, memory: memory, configuration: configuration, waiter: waiter)
        } catch {
            report.record("blk.init", .fail, error.description)
            return report
        }
        report.record("blk.init", .pass, "features \(blk.features), queue \(blk.queue.size), \(blk.maximumRequestsInFlight) "
                          + "requests in flight, \(blk.maximumTransferBytes) bytes per request")
        report.expect("blk.capacity", blk.blockCount > 0, "\(blk.capacitySectors) sectors, \(blk.blockCount) blocks")
        if blk.features.contains(.blkBlockSize) {
            report.expect("blk.block-size", blk.configurationFaults == 0, "block size \(blk.blockSize)"
                              + (blk.configurationFaults == 0 ? "" : " (device value out of range)"))
        } else {
            report.record("blk.block-size", .skip, "VIRTIO_BLK_F_BLK_SIZE not offered; 512")
        }
        guard blk.blockCount > 0 else { return report }

        let size = blk.blockSize
        let slots = 4
        guard let buffer = memory.allocate(byteCount: size * (slots + 2), alignment: 4096) else {
            report.record("blk.buffers", .fail, "could not allocate \(size * (slots + 2)) bytes of DMA memory")
            return report
        }
        func view(_ i: Int) -> UnsafeMutableRawBufferPointer {
            UnsafeMutableRawBufferPointer(start: buffer + i * size, count: size)
        }
        func outcome(_ body: () throws(BlockDeviceError) -> Void) -> BlockDeviceError? {
            do throws(BlockDeviceError) {
                try body()
                return nil
            } catch {
                return error
            }
        }

        let first = outcome { () throws(BlockDeviceError) in try blk.read(block: 0, into: view(0)) }
        report.expect("blk.read-first", first == nil, first.map { "block 0: \($0)" } ?? "block 0 read")
        let lastBlock = blk.blockCount - 1
        let last = outcome { () throws(BlockDeviceError) in try blk.read(block: lastBlock, into: view(0)) }
        report.expect("blk.read-last", last == nil, last.map { "block \(lastBlock): \($0)" } ?? "block \(lastBlock) read")

        // Several requests in flight at once.
        var ids: [RequestID] = []
        var submitError: BlockDeviceError?
        for i in 0..<min(slots, blk.maximumRequestsInFlight) {
            do throws(BlockDeviceError) {
                if let id = try blk.submitRead(block: UInt64(i) % blk.blockCount, into: view(i)) { ids.append(id) }
            } catch {
                submitError = error
            }
        }
        let concurrent = ids.count
        var failures = 0
        _ = waiter.wait {
            blk.processCompletions()
            for id in ids { if case .pending = blk.state(of: id) { return false } }
            return true
        }
        for id in ids {
            if let r = blk.takeResult(id) {
                if case .failure = r { failures += 1 }
            } else {
                failures += 1
            }
        }
        report.expect("blk.read-concurrent", submitError == nil && concurrent > 0 && failures == 0,
                      "\(concurrent) reads in flight together, \(failures) failed"
                          + (submitError.map { ", submit: \($0)" } ?? ""))

        // The device must refuse a sector past the end (§5.2.6.1: IOERR).
        var pastEnd: Result<Void, BlockDeviceError>?
        do throws(BlockDeviceError) {
            if let id = try blk.submitUnchecked(.read, sector: blk.capacitySectors,
                                                data: UnsafeMutableRawBufferPointer(start: buffer, count: 512)) {
                _ = waiter.wait {
                    blk.processCompletions()
                    if case .pending = blk.state(of: id) { return false }
                    return true
                }
                pastEnd = blk.takeResult(id)
            }
        } catch {
            pastEnd = .failure(error)
        }
        switch pastEnd {
        case .failure(.ioError)?: report.record("blk.read-past-end", .pass, "device answered IOERR")
        case .success?: report.record("blk.read-past-end", .fail, "device completed a read past the end successfully")
        case .failure(let e)?: report.record("blk.read-past-end", .fail, "expected IOERR, got \(e)")
        case nil: report.record("blk.read-past-end", .fail, "request did not complete")
        }

        if blk.isReadOnly {
            var result: Result<Void, BlockDeviceError>?
            do throws(BlockDeviceError) {
                if let id = try blk.submitUnchecked(.write, sector: 0, data: view(0)) {
                    _ = waiter.wait {
                        blk.processCompletions()
                        if case .pending = blk.state(of: id) { return false }
                        return true
                    }
                    result = blk.takeResult(id)
                }
            } catch {
                result = .failure(error)
            }
            let refused: Bool
            if case .failure(.ioError)? = result { refused = true } else { refused = false }
            report.expect("blk.read-only-enforced", refused, refused ? "device refused a write with IOERR"
                                                                     : "device did not refuse a write")
            report.record("blk.write-readback", .skip, "device is read-only")
        } else if !allowWrites {
            report.record("blk.write-readback", .skip, "writes not allowed")
        } else {
            let block = min(scratchBlock ?? lastBlock, lastBlock)
            let original = view(slots), scratch = view(slots + 1)
            var detail = ""
            var ok = false
            if let e = outcome({ () throws(BlockDeviceError) in try blk.read(block: block, into: original) }) {
                detail = "reading block \(block): \(e)"
            } else {
                for i in 0..<size { scratch[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) ^ original[i] }
                if let e = outcome({ () throws(BlockDeviceError) in try blk.write(block: block, from: UnsafeRawBufferPointer(scratch)) }) {
                    detail = "writing block \(block): \(e)"
                } else {
                    let check = view(0)
                    if let e = outcome({ () throws(BlockDeviceError) in try blk.read(block: block, into: check) }) {
                        detail = "reading back block \(block): \(e)"
                    } else if !check.elementsEqual(scratch) {
                        detail = "block \(block) read back different data"
                    } else if let e = outcome({ () throws(BlockDeviceError) in
                        try blk.write(block: block, from: UnsafeRawBufferPointer(original))
                    }) {
                        detail = "restoring block \(block): \(e)"
                    } else {
                        ok = true
                        detail = "block \(block) written, read back and restored"
                    }
                }
            }
            report.expect("blk.write-readback", ok, detail)
        }

        if blk.supportsFlush {
            let e = outcome { () throws(BlockDeviceError) in try blk.flush() }
            report.expect("blk.flush", e == nil, e.map { "flush: \($0)" } ?? "flush completed")
        } else {
            report.record("blk.flush", .skip, "VIRTIO_BLK_F_FLUSH not offered")
        }

        do throws(BlockDeviceError) {
            let id = try blk.deviceIdentifier()
            report.record("blk.get-id", .pass, "id \"" + String(decoding: id, as: UTF8.self) + "\"")
        } catch {
            report.record("blk.get-id", error == .unsupported ? .skip : .fail, "GET_ID: \(error)")
        }

        report.expect("blk.device-faults", blk.deviceFaults == 0 && blk.queue.faults.total == 0 && !blk.isBroken,
                      "\(blk.deviceFaults) faulted requests, \(blk.queue.faults.total) queue faults, "
                          + "\(blk.configurationFaults) config faults" + (blk.isBroken ? ", driver stopped" : ""))
        try? VirtioSetup.reset(transport)
        withExtendedLifetime(blk) {}
        memory.deallocate(buffer)
        return report
    }
}
