// BlockCheck: boot-test and benchmark image for virtio-blk, driven through the runtime's interrupt-driven driver
// (`Devices.blockDevices`). Each argument names a scenario; they run in order on the first disk:
//
//   info               geometry and features
//   pattern[=SEED]     write the pattern (see Pattern.swift) over the whole disk, flush, read it back and verify
//   verify[=SEED]      read the whole disk and verify the pattern
//   sha256             SHA-256 of the whole disk: `SHA256 <hex> <bytes>`
//   pastend            reads and writes past the end fail with BlockDeviceError.outOfRange, the device itself
//                      answers IOERR to a sector past the end, and the disk works afterwards
//   inflight[=SEED]    many requests in flight through the asynchronous API, then four threads writing and reading
//                      their own regions at once; leaves the pattern for SEED on the blocks it used
//   bench[=P[,MIB]]    sequential write and read MB/s with 4 KiB and 64 KiB requests, one request at a time,
//                      P passes (default 3) over the first MIB MiB (default 64): `BENCH ...` lines
//
// Ends with `BLOCKCHECK ok` (status 0) or `BLOCKCHECK FAIL: <why>` (status 1). Tests/GuestTests/VirtioBootTests.swift
// runs it; Benchmarks/blockio.py runs `bench`.
import Hardware
import Interfaces
import Runtime
import Services
import Scheduler
import Virtio
import VirtioBlk

/// Why a scenario failed.
struct CheckFailure: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// The name of a `BlockDeviceError` case, for lines the host matches.
func caseName(_ e: BlockDeviceError) -> String {
    switch e {
    case .outOfRange: return "outOfRange"
    case .badLength: return "badLength"
    case .readOnly: return "readOnly"
    case .ioError: return "ioError"
    case .unsupported: return "unsupported"
    case .deviceFault: return "deviceFault"
    }
}

/// Milliseconds since `start`.
func milliseconds(since start: Instant) -> Int64 { (System.now - start).millisecondsClamped }

/// A decimal number from UTF-8 digits.
func decimal(_ bytes: ArraySlice<UInt8>) -> UInt64? {
    guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
    var n: UInt64 = 0
    for b in bytes {
        guard b >= 0x30 && b <= 0x39 else { return nil }
        n = n * 10 + UInt64(b - 0x30)
    }
    return n
}

/// `word` split into its name and the numbers after `=` (comma-separated).
func parse(_ word: String) -> (name: [UInt8], values: [UInt64]?) {
    let bytes = Array(word.utf8)
    guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return (bytes, []) }
    var values: [UInt64] = []
    for part in bytes[(equals + 1)...].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
        guard let v = decimal(part) else { return (Array(bytes[..<equals]), nil) }
        values.append(v)
    }
    return (Array(bytes[..<equals]), values)
}

func named(_ name: [UInt8], _ literal: StaticString) -> Bool { literal.withUTF8Buffer { $0.elementsEqual(name) } }

#if os(none)

/// Runs `body` and turns a block error into a failure naming `what`.
func attempt(_ what: String, _ body: () throws(BlockDeviceError) -> Void) throws(CheckFailure) {
    do throws(BlockDeviceError) {
        try body()
    } catch {
        throw CheckFailure(what + ": " + caseName(error) + " (\(error))")
    }
}

/// Waits for request `id` of `disk` and returns its result.
func result(of id: VirtioBlk.RequestID, on disk: VirtioBlk) -> Result<Void, BlockDeviceError> {
    _ = disk.waiter.wait {
        disk.processCompletions()
        if case .pending = disk.state(of: id) { return false }
        return true
    }
    return disk.takeResult(id) ?? .failure(.deviceFault)
}

/// A DMA-capable buffer (the guest heap is identity-mapped).
func makeBuffer(_ bytes: Int) -> UnsafeMutableRawBufferPointer {
    let b = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4096)
    b.initializeMemory(as: UInt8.self, repeating: 0)
    return b
}

let chunkBytes = 1 << 20

/// The disk in chunks of at most `chunkBytes`: (first block, bytes).
func chunks(of disk: VirtioBlk) -> [(block: UInt64, bytes: Int)] {
    var result: [(block: UInt64, bytes: Int)] = []
    let blocksPerChunk = UInt64(chunkBytes / disk.blockSize)
    var block: UInt64 = 0
    while block < disk.blockCount {
        let n = min(blocksPerChunk, disk.blockCount - block)
        result.append((block, Int(n) * disk.blockSize))
        block += n
    }
    return result
}

func info(_ disk: VirtioBlk) {
    print("BLOCKCHECK disk blocks=\(disk.blockCount) blockSize=\(disk.blockSize) bytes=\(disk.blockCount * UInt64(disk.blockSize)) "
          + "features=\(disk.features) readOnly=\(disk.isReadOnly ? 1 : 0) flush=\(disk.supportsFlush ? 1 : 0) "
          + "inflight=\(disk.maximumRequestsInFlight) maxTransfer=\(disk.maximumTransferBytes) via " + disk.transport.kind.description)
}

func writePattern(_ disk: VirtioBlk, seed: UInt64) throws(CheckFailure) {
    let buffer = makeBuffer(chunkBytes)
    defer { buffer.deallocate() }
    let start = System.now
    var bytes: UInt64 = 0
    for (block, count) in chunks(of: disk) {
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        Pattern.fill(view, diskOffset: block * UInt64(disk.blockSize), seed: seed)
        try attempt("writing blocks from \(block)") { () throws(BlockDeviceError) in
            try disk.write(block: block, from: UnsafeRawBufferPointer(view))
        }
        bytes += UInt64(count)
    }
    try attempt("flush") { () throws(BlockDeviceError) in try disk.flush() }
    print("PATTERN wrote \(disk.blockCount) blocks (\(bytes) bytes) with seed \(seed) in \(milliseconds(since: start)) ms, flushed")
}

func verifyPattern(_ disk: VirtioBlk, seed: UInt64) throws(CheckFailure) {
    let buffer = makeBuffer(chunkBytes)
    defer { buffer.deallocate() }
    let start = System.now
    for (block, count) in chunks(of: disk) {
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        try attempt("reading blocks from \(block)") { () throws(BlockDeviceError) in try disk.read(block: block, into: view) }
        if let bad = Pattern.firstMismatch(UnsafeRawBufferPointer(view), diskOffset: block * UInt64(disk.blockSize), seed: seed) {
            throw CheckFailure("pattern mismatch at byte \(bad) (sector \(bad / 512))")
        }
    }
    print("PATTERN verified \(disk.blockCount) blocks with seed \(seed) in \(milliseconds(since: start)) ms")
}

func digest(_ disk: VirtioBlk) throws(CheckFailure) {
    let buffer = makeBuffer(chunkBytes)
    defer { buffer.deallocate() }
    var hash = SHA256()
    var total: UInt64 = 0
    let start = System.now
    for (block, count) in chunks(of: disk) {
        let view = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        try attempt("reading blocks from \(block)") { () throws(BlockDeviceError) in try disk.read(block: block, into: view) }
        hash.update(UnsafeRawBufferPointer(view))
        total += UInt64(count)
    }
    let d = hash.finalize()
    print("SHA256 \(d) \(total)")
    print("# sha256 of \(total) bytes in \(milliseconds(since: start)) ms")
}

/// Expects `body` to fail with `outOfRange`; prints the error.
func expectOutOfRange(_ what: String, _ body: () throws(BlockDeviceError) -> Void) throws(CheckFailure) {
    do throws(BlockDeviceError) {
        try body()
    } catch {
        print("PASTEND " + what + ": " + caseName(error) + " (\(error))")
        guard case .outOfRange = error else { throw CheckFailure(what + ": expected outOfRange, got " + caseName(error)) }
        return
    }
    throw CheckFailure(what + ": succeeded past the end of the disk")
}

func pastEnd(_ disk: VirtioBlk) throws(CheckFailure) {
    let n = disk.blockCount
    let two = makeBuffer(2 * disk.blockSize)
    defer { two.deallocate() }
    let one = UnsafeMutableRawBufferPointer(rebasing: two[0..<disk.blockSize])
    try expectOutOfRange("read block \(n)") { () throws(BlockDeviceError) in try disk.read(block: n, into: one) }
    try expectOutOfRange("read blocks \(n - 1)..<\(n + 1)") { () throws(BlockDeviceError) in try disk.read(block: n - 1, into: two) }
    try expectOutOfRange("read block \(UInt64.max)") { () throws(BlockDeviceError) in try disk.read(block: .max, into: one) }
    if !disk.isReadOnly {
        try expectOutOfRange("write block \(n)") { () throws(BlockDeviceError) in
            try disk.write(block: n, from: UnsafeRawBufferPointer(one))
        }
    }
    // The device's own answer to a sector past the end (the driver's check bypassed): IOERR (virtio 1.2 §5.2.6.1).
    let sector = disk.capacitySectors
    var deviceAnswer: Result<Void, BlockDeviceError>
    do throws(BlockDeviceError) {
        if let id = try disk.submitUnchecked(.read, sector: sector, data: UnsafeMutableRawBufferPointer(rebasing: two[0..<512])) {
            deviceAnswer = result(of: id, on: disk)
        } else {
            deviceAnswer = .failure(.deviceFault)
        }
    } catch {
        deviceAnswer = .failure(error)
    }
    switch deviceAnswer {
    case .success: throw CheckFailure("the device completed a read of sector \(sector), past the end")
    case .failure(let e):
        print("PASTEND device read of sector \(sector): " + caseName(e) + " (\(e))")
        guard case .ioError = e else { throw CheckFailure("device answered " + caseName(e) + ", not ioError") }
    }
    try attempt("read block 0 after the errors") { () throws(BlockDeviceError) in try disk.read(block: 0, into: one) }
    try attempt("read block \(n - 1) after the errors") { () throws(BlockDeviceError) in try disk.read(block: n - 1, into: one) }
    print("PASTEND disk still works: blocks 0 and \(n - 1) read; \(disk.ioErrors) I/O errors, \(disk.deviceFaults) device faults")
}

/// Puts `count` requests of `bytes` each through the asynchronous API, keeping as many in flight as the driver
/// allows (submitting until it says no slot is free, then collecting). Request `i` covers disk bytes
/// `i * bytes ..< (i + 1) * bytes`. Returns the most requests seen in flight at once.
func asyncRound(_ disk: VirtioBlk, writing: Bool, buffers: [UnsafeMutableRawBufferPointer],
                bytes: Int) throws(CheckFailure) -> Int {
    let blocksPer = UInt64(bytes / disk.blockSize)
    var ids: [VirtioBlk.RequestID?] = [VirtioBlk.RequestID?](repeating: nil, count: buffers.count)
    var next = 0
    var done = 0
    var peak = 0
    var failure: String? = nil
    while done < buffers.count && failure == nil {
        // Submit until the driver has no free slot.
        while next < buffers.count {
            let id: VirtioBlk.RequestID?
            do throws(BlockDeviceError) {
                id = writing ? try disk.submitWrite(block: UInt64(next) * blocksPer, from: UnsafeRawBufferPointer(buffers[next]))
                             : try disk.submitRead(block: UInt64(next) * blocksPer, into: buffers[next])
            } catch {
                throw CheckFailure("submitting request \(next): " + caseName(error))
            }
            guard let id else { break }
            ids[next] = id
            next += 1
            peak = max(peak, disk.requestsInFlight)
        }
        // Wait until at least one request completes, then collect every finished one.
        let finishedSome = disk.waiter.wait {
            disk.processCompletions()
            for i in 0..<next { if let id = ids[i], case .completed = disk.state(of: id) { return true } }
            return false
        }
        guard finishedSome else { throw CheckFailure("no request completed (\(next - done) in flight)") }
        for i in 0..<next {
            guard let id = ids[i], let r = disk.takeResult(id) else { continue }
            ids[i] = nil
            done += 1
            if case .failure(let e) = r { failure = "request \(i): " + caseName(e) }
        }
    }
    if let failure { throw CheckFailure(failure) }
    return peak
}

func inFlight(_ disk: VirtioBlk, seed: UInt64) throws(CheckFailure) {
    let limit = disk.maximumRequestsInFlight
    let requestBytes = 4096
    let count = 3 * limit + 1
    guard UInt64(count * requestBytes) <= disk.blockCount * UInt64(disk.blockSize) / 2 else {
        throw CheckFailure("disk too small for the in-flight check")
    }
    var buffers: [UnsafeMutableRawBufferPointer] = []
    for i in 0..<count {
        let b = makeBuffer(requestBytes)
        Pattern.fill(b, diskOffset: UInt64(i * requestBytes), seed: seed)
        buffers.append(b)
    }
    defer { for b in buffers { b.deallocate() } }
    let start = System.now
    let writePeak = try asyncRound(disk, writing: true, buffers: buffers, bytes: requestBytes)
    for b in buffers { b.initializeMemory(as: UInt8.self, repeating: 0) }
    let readPeak = try asyncRound(disk, writing: false, buffers: buffers, bytes: requestBytes)
    for (i, b) in buffers.enumerated() {
        if let bad = Pattern.firstMismatch(UnsafeRawBufferPointer(b), diskOffset: UInt64(i * requestBytes), seed: seed) {
            throw CheckFailure("request \(i) read back wrong data at byte \(bad)")
        }
    }
    print("INFLIGHT async: \(count) writes and \(count) reads of \(requestBytes) bytes, peak \(writePeak) and \(readPeak) "
          + "in flight (limit \(limit)), verified in \(milliseconds(since: start)) ms")

    // Threads: each owns a region after the asynchronous one and writes it with a different pattern in every
    // round but the last (which writes SEED's), reading it back each time.
    let threads = 4, rounds = 12, regionBytes = 32 * 1024
    let regionStart = UInt64(count * requestBytes + 4095) & ~4095
    guard regionStart + UInt64(threads * regionBytes) <= disk.blockCount * UInt64(disk.blockSize) else {
        throw CheckFailure("disk too small for the threaded check")
    }
    var errors: [String?] = [String?](repeating: nil, count: threads)
    var slowest = Duration.zero
    var spawned: [Thread] = []
    let threadStart = System.now
    for t in 0..<threads {
        spawned.append(Thread.spawn(name: "blk-\(t)", stackSize: 32 * 1024) {
            let buffer = makeBuffer(regionBytes)
            defer { buffer.deallocate() }
            let offset = regionStart + UInt64(t * regionBytes)
            let block = offset / UInt64(disk.blockSize)
            for r in 0..<rounds {
                let roundSeed = r == rounds - 1 ? seed : seed ^ (UInt64(t + 1) << 32 | UInt64(r + 1))
                Pattern.fill(buffer, diskOffset: offset, seed: roundSeed)
                let roundStart = System.now
                do throws(BlockDeviceError) {
                    try disk.write(block: block, from: UnsafeRawBufferPointer(buffer))
                    buffer.initializeMemory(as: UInt8.self, repeating: 0)
                    try disk.read(block: block, into: buffer)
                } catch {
                    errors[t] = "thread \(t) round \(r): " + caseName(error)
                    return
                }
                slowest = max(slowest, System.now - roundStart)
                if let bad = Pattern.firstMismatch(UnsafeRawBufferPointer(buffer), diskOffset: offset, seed: roundSeed) {
                    errors[t] = "thread \(t) round \(r): wrong data at byte \(bad)"
                    return
                }
            }
        })
    }
    for t in spawned { t.join() }
    for e in errors { if let e { throw CheckFailure(e) } }
    try attempt("flush") { () throws(BlockDeviceError) in try disk.flush() }
    let end = regionStart + UInt64(threads * regionBytes)
    print("INFLIGHT threads: \(threads) threads x \(rounds) write+read rounds of \(regionBytes) bytes, verified in "
          + "\(milliseconds(since: threadStart)) ms (slowest round \(slowest.microsecondsClamped) us); pattern seed \(seed) now on bytes 0..<\(count * requestBytes) and "
          + "\(regionStart)..<\(end)")
}

/// Tenths of MB/s (10^6 bytes per second) for `bytes` moved in `ticks` TSC ticks at `hz`.
func tenthsOfMBps(bytes: UInt64, ticks: UInt64, hz: UInt64) -> UInt64 {
    let ns = ticks / hz * 1_000_000_000 + (ticks % hz) * 1_000_000_000 / hz
    return ns == 0 ? 0 : bytes * 10_000 / ns
}

func tenths(_ v: UInt64) -> String { "\(v / 10).\(v % 10)" }

/// The median of `values` (the mean of the middle two for an even count), as the Linux peer computes it.
func median(_ values: [UInt64]) -> UInt64 {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func bench(_ disk: VirtioBlk, passes: Int, spanMiB: UInt64) throws(CheckFailure) {
    guard let hz = System.tscFrequency, hz > 0 else { throw CheckFailure("no calibrated TSC") }
    let sizes = [4096, 65536]
    let largest = 65536
    var span = min(spanMiB << 20, disk.blockCount * UInt64(disk.blockSize))
    span -= span % UInt64(largest)
    guard span > 0, disk.blockSize <= 4096 else { throw CheckFailure("disk too small for a benchmark") }
    let buffer = makeBuffer(largest)
    defer { buffer.deallocate() }
    for i in 0..<largest { buffer[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
    print("# blockio: virtio-blk via " + disk.transport.kind.description + " (\(disk.blockCount * UInt64(disk.blockSize)) bytes), "
          + "queue depth 1, span \(span) bytes, \(passes) passes per size, TSC \(hz / 1_000_000) MHz")
    for size in sizes {
        let view = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
        let blocksPer = UInt64(size / disk.blockSize)
        for writing in [true, false] {
            var rates: [UInt64] = []
            for _ in 0..<passes {
                var block: UInt64 = 0
                let end = span / UInt64(disk.blockSize)
                let t0 = CPU.readTSC()
                while block < end {
                    do throws(BlockDeviceError) {
                        if writing {
                            try disk.write(block: block, from: view)
                        } else {
                            try disk.read(block: block, into: UnsafeMutableRawBufferPointer(mutating: view))
                        }
                    } catch {
                        throw CheckFailure((writing ? "write" : "read") + " of block \(block): " + caseName(error))
                    }
                    block += blocksPer
                }
                rates.append(tenthsOfMBps(bytes: span, ticks: CPU.readTSC() &- t0, hz: hz))
            }
            let name = "blockio_" + (writing ? "write" : "read") + "_\(size / 1024)k_MBps"
            let sorted = rates.sorted()
            print("BENCH " + name + " " + tenths(median(rates)) + " MB/s")
            print("# " + name + ": median of \(passes) passes, min " + tenths(sorted[0]) + " max "
                  + tenths(sorted[sorted.count - 1]) + " MB/s")
        }
    }
}

func run() throws(CheckFailure) {
    guard let disk = Devices.blockDevices.first else { throw CheckFailure("no virtio-blk device") }
    let scenarios = System.arguments.isEmpty ? ["info"] : System.arguments
    for word in scenarios {
        let (name, values) = parse(word)
        guard let values else { throw CheckFailure("bad argument '" + word + "'") }
        let seed = values.first ?? 1
        if named(name, "info") {
            info(disk)
        } else if named(name, "pattern") {
            try writePattern(disk, seed: seed)
            try verifyPattern(disk, seed: seed)
        } else if named(name, "verify") {
            try verifyPattern(disk, seed: seed)
        } else if named(name, "sha256") {
            try digest(disk)
        } else if named(name, "pastend") {
            try pastEnd(disk)
        } else if named(name, "inflight") {
            try inFlight(disk, seed: seed)
        } else if named(name, "bench") {
            try bench(disk, passes: Int(max(1, min(values.first ?? 3, 99))),
                      spanMiB: max(1, values.count > 1 ? values[1] : 64))
        } else {
            throw CheckFailure("unknown scenario '" + word + "'")
        }
    }
}

do throws(CheckFailure) {
    try run()
    print("BLOCKCHECK ok")
} catch {
    print("BLOCKCHECK FAIL: \(error)")
    System.exit(.failure)
}
#else
print("BLOCKCHECK FAIL: BlockCheck drives virtio-blk and runs only as a guest image")
System.exit(.failure)
#endif
