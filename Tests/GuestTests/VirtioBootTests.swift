import Foundation
import Testing
import UnikernelTool

/// A QEMU machine and virtio flavour for the disk tests: microvm is virtio-mmio (version 2, or version 1 with
/// legacy), pc and q35 are virtio-pci (modern, or legacy with `disable-modern=on`).
struct VirtioMachine: CustomTestStringConvertible, Sendable {
    var machine: QEMUConfiguration.Machine
    var legacy: Bool
    var testDescription: String { machine.rawValue + (legacy ? " legacy" : " modern") }

    static let microvm = VirtioMachine(machine: .microvm, legacy: false)
    static let microvmLegacy = VirtioMachine(machine: .microvm, legacy: true)
    static let q35 = VirtioMachine(machine: .q35, legacy: false)
    static let pcLegacy = VirtioMachine(machine: .pc, legacy: true)
    /// MMIO and PCI, modern and legacy.
    static let all = [microvm, microvmLegacy, q35, pcLegacy]
}

/// Disk images for one test, in a directory of their own that is removed afterwards.
final class DiskFiles {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("swu-disk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Writes `data` to a new file and returns its path.
    func file(_ name: String, _ data: Data) throws -> String {
        let url = directory.appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }
}

/// The disk pattern of Tests/Images/BlockCheck/Pattern.swift, computed on the host.
enum DiskPattern {
    static func word(_ index: UInt64, seed: UInt64) -> UInt64 {
        (index ^ seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x6A09_E667_F3BC_C909
    }

    /// `bytes` bytes of the pattern for `seed` (a multiple of 8).
    static func data(bytes: Int, seed: UInt64) -> Data {
        var data = Data(count: bytes)
        data.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count { words[i] = word(UInt64(i), seed: seed).littleEndian }
        }
        return data
    }

    /// The byte offsets of the first few words of `data` that do not hold the pattern of `seed(offset)`, and how
    /// many words differ in all.
    static func mismatches(in data: Data, seed: (Int) -> UInt64) -> (count: Int, first: [Int]) {
        var count = 0
        var first: [Int] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count where UInt64(littleEndian: words[i]) != word(UInt64(i), seed: seed(8 * i)) {
                count += 1
                if first.count < 5 { first.append(8 * i) }
            }
        }
        return (count, first)
    }
}

/// Random bytes from a fixed seed (SplitMix64), so every run writes the same "random" disk.
func seededBytes(_ count: Int, seed: UInt64) -> Data {
    var state = seed
    var data = Data(count: count)
    data.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
        var z: UInt64 = 0
        for i in 0..<count {
            if i % 8 == 0 {
                state &+= 0x9E37_79B9_7F4A_7C15
                z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
            }
            raw[i] = UInt8(truncatingIfNeeded: z >> (8 * UInt64(i % 8)))
        }
    }
    return data
}

/// The SHA-256 of a file as `sha256sum` computes it (lowercase hex).
func hostSHA256(_ path: String) throws -> String {
    let (status, output) = try Shell.capture(["sha256sum", path])
    guard status == 0, let digest = output.split(separator: " ").first else {
        throw EnvironmentError("sha256sum failed: \(output)")
    }
    return String(digest)
}

/// virtio-blk in booted images (BlockCheck), on virtio-mmio and virtio-pci, modern and legacy.
///
/// Each test prepares its disk, boots and checks the result holding the boot lock (`Guest.exclusively`), so its
/// host-side work on tens of MiB never disturbs the timing of a boot running in parallel.
@Suite(.serialized) struct BlockCheckBootTests {
    /// Boots BlockCheck with `disk`; call inside `Guest.exclusively`.
    func boot(_ arguments: String, disk: String, on target: VirtioMachine, timeout: Double = 180) throws -> Guest.Run {
        try Guest.boot(imagePath: image, arguments, machine: target.machine, timeout: timeout, bootLockHeld: true) {
            $0.disks = [disk]
            $0.legacyVirtio = target.legacy
        }
    }

    let image: String

    init() throws { image = try Guest.image("BlockCheck") }

    /// The guest fills a 64 MiB disk with the sector pattern, flushes and reads it back; the host then checks every
    /// byte of the file (which it had filled with a different pattern, so a sector never written shows).
    @Test(arguments: VirtioMachine.all)
    func patternFillsA64MiBDiskAndTheHostFindsEveryByte(target: VirtioMachine) throws {
        try Guest.exclusively {
            let files = try DiskFiles()
            let size = 64 << 20
            let disk = try files.file("pattern.img", DiskPattern.data(bytes: size, seed: 0xD15C))
            let seed: UInt64 = 1000 + (target.machine.usesPCI ? 10 : 0) + (target.legacy ? 1 : 0)  // differs per machine
            let run = try boot("info pattern=\(seed)", disk: disk, on: target)
            #expect(run.status == 0, "\(run.outcome): \(run.console)")
            #expect(run.console.contains("BLOCKCHECK disk blocks=131072 blockSize=512 bytes=67108864"), "\(run.console)")
            #expect(run.console.contains("PATTERN wrote 131072 blocks (67108864 bytes) with seed \(seed)"), "\(run.console)")
            #expect(run.console.contains("PATTERN verified 131072 blocks with seed \(seed)"), "\(run.console)")
            #expect(run.lines.contains("BLOCKCHECK ok"), "\(run.console)")
            let written = try Data(contentsOf: URL(fileURLWithPath: disk))
            #expect(written.count == size)
            let (count, first) = DiskPattern.mismatches(in: written) { _ in seed }
            #expect(count == 0, "\(count) words differ from the pattern, first at byte offsets \(first)")
        }
    }

    /// The host writes a file of (seeded) random bytes, the guest reads the whole disk and prints its SHA-256.
    @Test(arguments: VirtioMachine.all)
    func guestDigestOfAHostFileMatchesTheHost(target: VirtioMachine) throws {
        try Guest.exclusively {
            let files = try DiskFiles()
            let size = 3 << 20 + 7 * 512  // not a whole number of the guest's 1 MiB reads
            let disk = try files.file("random.img", seededBytes(size, seed: 0x5EED))
            let expected = try hostSHA256(disk)
            let run = try boot("sha256", disk: disk, on: target)
            #expect(run.status == 0, "\(run.outcome): \(run.console)")
            #expect(run.lines.contains("SHA256 \(expected) \(size)"), "host: \(expected)\n\(run.console)")
            #expect(try hostSHA256(disk) == expected, "the guest only read")
        }
    }

    /// Reads (and a write) past the end fail with `BlockDeviceError.outOfRange` in the driver, the device itself
    /// answers IOERR to a sector past the end, and the disk still reads correctly afterwards.
    @Test(arguments: [VirtioMachine.microvm, .q35, .pcLegacy])
    func readingPastTheEndIsATypedErrorAndTheDiskKeepsWorking(target: VirtioMachine) throws {
        try Guest.exclusively {
            let files = try DiskFiles()
            let size = 1 << 20
            let blocks = size / 512
            let disk = try files.file("small.img", seededBytes(size, seed: 0xE1D))
            let expected = try hostSHA256(disk)
            let run = try boot("sha256 pastend sha256", disk: disk, on: target)
            #expect(run.status == 0, "\(run.outcome): \(run.console)")
            for line in ["PASTEND read block \(blocks): outOfRange (blocks \(blocks)..<\(blocks + 1) are past the end of the device (\(blocks) blocks))",
                         "PASTEND read blocks \(blocks - 1)..<\(blocks + 1): outOfRange",
                         "PASTEND read block 18446744073709551615: outOfRange",
                         "PASTEND write block \(blocks): outOfRange",
                         "PASTEND device read of sector \(blocks): ioError",
                         "PASTEND disk still works: blocks 0 and \(blocks - 1) read"] {
                #expect(run.lines.contains { $0.hasPrefix(line) }, "missing: \(line)\n\(run.console)")
            }
            let digests = run.lines.filter { $0.hasPrefix("SHA256 ") }
            #expect(digests == ["SHA256 \(expected) \(size)", "SHA256 \(expected) \(size)"], "\(run.console)")
            #expect(try hostSHA256(disk) == expected, "the failed write past the end changed nothing")
        }
    }

    /// Many requests in flight through the driver's asynchronous API, then four threads writing and reading their
    /// own regions at once; the guest verifies what it reads, and the host finds the final pattern exactly where
    /// the guest says it wrote it and the original pattern everywhere else.
    @Test(arguments: [VirtioMachine.microvm, .q35, .pcLegacy])
    func requestsInFlightCompleteCorrectly(target: VirtioMachine) throws {
        try Guest.exclusively {
            let files = try DiskFiles()
            let size = 8 << 20
            let original: UInt64 = 0xAAAA, seed: UInt64 = 0x1F1F
            let disk = try files.file("inflight.img", DiskPattern.data(bytes: size, seed: original))
            let run = try boot("info inflight=\(seed)", disk: disk, on: target)
            #expect(run.status == 0, "\(run.outcome): \(run.console)")
            let async = try #require(run.lines.first { $0.hasPrefix("INFLIGHT async: ") }, "\(run.console)")
            // "INFLIGHT async: 22 writes and 22 reads of 4096 bytes, peak 7 and 7 in flight (limit 7), verified in 4 ms"
            let words = async.split(separator: " ")
            let peakIndex = try #require(words.firstIndex(of: "peak"))
            let writePeak = Int(words[peakIndex + 1]) ?? 0, readPeak = Int(words[peakIndex + 3]) ?? 0
            #expect(writePeak >= 2 && readPeak >= 2, "requests were not in flight together: \(async)")
            let threads = try #require(run.lines.first { $0.hasPrefix("INFLIGHT threads: ") }, "\(run.console)")
            // "... pattern seed 7967 now on bytes 0..<90112 and 90112..<221184"
            let ranges = threads.split(separator: " ").filter { $0.contains("..<") }.map { r -> Range<Int> in
                let parts = r.components(separatedBy: "..<")
                return (Int(parts[0]) ?? 0)..<(Int(parts[1]) ?? 0)
            }
            #expect(ranges.count == 2 && ranges.allSatisfy { !$0.isEmpty }, "\(threads)")
            let written = try Data(contentsOf: URL(fileURLWithPath: disk))
            let (count, first) = DiskPattern.mismatches(in: written) { offset in
                ranges.contains { $0.contains(offset) } ? seed : original
            }
            #expect(count == 0, "\(count) words differ, first at byte offsets \(first)")
        }
    }
}

/// The DeviceCheck example against QEMU's virtio devices.
@Suite(.serialized) struct DeviceCheckBootTests {
    @Test(arguments: VirtioMachine.all)
    func everyCheckPassesWithNetBlkAndRng(target: VirtioMachine) throws {
        let files = try DiskFiles()
        let disk = try files.file("scratch.img", seededBytes(1 << 20, seed: 0xDC))
        let before = try hostSHA256(disk)
        let run = try Guest.boot("DeviceCheck", "expect=net,blk,rng devicecheck.write", machine: target.machine) {
            $0.disks = [disk]
            $0.network = .user
            $0.randomNumberGenerator = true
            $0.legacyVirtio = target.legacy
        }
        #expect(run.status == 0, "\(run.outcome): \(run.console)")
        let lines = run.lines
        let tapStart = try #require(lines.firstIndex(of: "TAP version 14"), "\(run.console)")
        let results = lines[tapStart...].filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
        #expect(!results.contains { $0.hasPrefix("not ok") }, "\(run.console)")
        #expect(lines.contains("1..\(results.count)"), "\(run.console)")
        for check in ["devicecheck.expect-net", "devicecheck.expect-blk", "devicecheck.expect-rng",
                      "blk0.blk.write-readback", "blk0.blk.read-past-end", "blk0.interrupt", "net0.net.tx-completed",
                      "net0.interrupt", "rng0.rng.read", "rng0.rng.bytes-differ"] {
            #expect(results.contains { $0.contains(" - \(check) # ") && !$0.contains("# SKIP") }, "\(check)\n\(run.console)")
        }
        #expect(lines.contains { $0.hasPrefix("# devicecheck: \(results.count) checks, ") && $0.hasSuffix("0 failed, 3 skipped, 3 devices: pass") },
                "\(run.console)")
        #expect(try hostSHA256(disk) == before, "the scratch block was restored")
    }

    @Test func aMissingExpectedDeviceFailsAndJSONLinesParse() throws {
        let files = try DiskFiles()
        let disk = try files.file("scratch.img", Data(count: 1 << 20))
        let run = try Guest.boot("DeviceCheck", "json expect=net,blk console=ttyS0") { $0.disks = [disk] }
        #expect(run.status == 1, "\(run.console)")
        let objects = try run.lines.filter { $0.hasPrefix("{") }.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        let checks = objects.filter { $0["check"] != nil }
        #expect(checks.contains { $0["check"] as? String == "devicecheck.expect-net" && $0["outcome"] as? String == "fail" })
        #expect(checks.contains { $0["check"] as? String == "devicecheck.expect-blk" && $0["outcome"] as? String == "pass" })
        #expect(checks.contains { $0["check"] as? String == "blk0.blk.write-readback" && $0["outcome"] as? String == "skip" },
                "no writes without devicecheck.write")
        #expect(objects.contains { $0["device"] as? String == "blk0" && $0["type"] as? String == "blk" })
        #expect(objects.contains { ($0["note"] as? String)?.contains("console=ttyS0") == true })
        let summary = try #require(objects.last?["summary"] as? [String: Any], "\(run.console)")
        #expect(summary["result"] as? String == "fail")
        #expect(summary["failed"] as? Int == 1)
        #expect(summary["checks"] as? Int == checks.count)
    }
}

/// NetEcho on a TAP device inside a private network namespace: the guest's TCP/IP stack answers ARP and ping, and
/// 10,000 raw Ethernet frames of a private EtherType come back intact with their addresses swapped.
@Suite(.serialized) struct NetEchoBootTests {
    /// Sends `count` frames of EtherType 0x88B5 (60 to 1514 bytes, seeded random payloads, a sequence number)
    /// to the guest over an AF_PACKET socket, at most `window` unanswered at once; checks every byte of each echo,
    /// then sends the stop frame. Exits 1 unless all came back exactly once and intact, within 120 s (5 s without
    /// progress ends it early).
    static let echoClient = #"""
    import random, select, socket, struct, sys, time
    ifname, guest_text, count, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ETHERTYPE = 0x88B5
    guest = bytes.fromhex(guest_text.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
    s.bind((ifname, ETHERTYPE))
    me = s.getsockname()[4]
    rng = random.Random(20240607)
    def make(i):
        length = 60 + (i * 7919) % (1514 - 60 + 1)
        payload = struct.pack("!4sI", b"ECHO", i) + rng.randbytes(length - 14 - 8)
        return guest + me + struct.pack("!H", ETHERTYPE) + payload
    outstanding = {}
    received = mismatched = duplicates = foreign = sent = 0
    start = last = time.monotonic()
    while received < count:
        now = time.monotonic()
        if now - start > 120 or now - last > 5:
            break
        while sent < count and len(outstanding) < window:
            outstanding[sent] = make(sent)
            s.send(outstanding[sent])
            sent += 1
        if not select.select([s], [], [], 0.5)[0]:
            continue
        data, address = s.recvfrom(65535)
        if address[2] == socket.PACKET_OUTGOING:
            continue
        if len(data) < 22 or data[12:14] != struct.pack("!H", ETHERTYPE) or data[14:18] != b"ECHO":
            foreign += 1
            continue
        frame = outstanding.pop(struct.unpack("!I", data[18:22])[0], None)
        if frame is None:
            duplicates += 1
            continue
        if data != frame[6:12] + frame[0:6] + frame[12:]:
            mismatched += 1
        received += 1
        last = time.monotonic()
    print(f"echo: sent {sent} received {received} mismatched {mismatched} duplicates {duplicates} foreign {foreign} "
          f"missing {count - received} (first {sorted(outstanding)[:10]}) in {time.monotonic() - start:.2f} s")
    s.send(guest + me + struct.pack("!H", ETHERTYPE) + b"NETECHO-STOP" + bytes(34))
    sys.exit(0 if received == count and mismatched == 0 and duplicates == 0 else 1)
    """#

    @Test(arguments: [QEMUConfiguration.Machine.microvm, .q35])
    func answersARPAndPingAndEchoes10000RawFrames(machine: QEMUConfiguration.Machine) throws {
        for tool in ["ping", "python3", "qemu-system-x86_64"] where Shell.which(tool) == nil {
            throw EnvironmentError("`\(tool)` is not installed (ping: apt-get install iputils-ping)")
        }
        let namespace = try NetworkNamespace(tag: "echo")
        defer { namespace.destroy() }
        let guest = try Guest.start("NetEcho", "unikernel.ip=\(namespace.guestAddress)/\(namespace.prefixLength)",
                                    machine: machine, timeout: 240) {
            $0.network = .tap(namespace.tap)
            $0.qemu = namespace.qemuWrapper
        }
        defer {
            namespace.stopProcesses()
            guest.stop()
        }
        try #require(guest.waitFor("NETECHO ready", seconds: 60), "\(guest.output.text)")
        let ready = try #require(guest.output.text.split(separator: "\n").first { $0.hasPrefix("NETECHO ready") })
        let words = ready.split(separator: " ")
        let mac = String(try #require(words.firstIndex(of: "mac").map { words[$0 + 1] }))
        #expect(ready.contains(" ip \(namespace.guestAddress) "), "\(ready)")

        // ARP and ICMP, answered by the guest's network stack.
        let (pingStatus, ping) = try namespace.run(["ping", "-c", "5", "-i", "0.2", "-W", "2", namespace.guestAddress])
        #expect(pingStatus == 0 && ping.contains("5 packets transmitted, 5 received"), "\(ping)")
        let (_, neighbours) = try namespace.run(["ip", "neigh", "show", namespace.guestAddress])
        #expect(neighbours.contains("lladdr \(mac)"), "ARP resolved the guest's address: \(neighbours)")

        // 10,000 raw frames echoed intact.
        let (echoStatus, echo) = try namespace.run(["timeout", "180", "python3", "-c", Self.echoClient, namespace.tap,
                                                    mac, "10000", "32"])
        #expect(echoStatus == 0, "\(echo)\n\(guest.output.text)")
        #expect(echo.contains("received 10000 mismatched 0 duplicates 0"), "\(echo)")

        let outcome = guest.stop()
        #expect(outcome == .exited(status: 0), "\(guest.output.text)")
        #expect(guest.output.text.contains("NETECHO echoed 10000 frames"), "\(guest.output.text)")
        #expect(guest.output.text.contains("dropped 0;"), "\(guest.output.text)")
    }
}
