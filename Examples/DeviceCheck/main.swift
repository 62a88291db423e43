// DeviceCheck: a conformance check of a hypervisor's virtio devices, for hypervisor developers.
//
// It finds every virtio device (virtio-mmio from the command line or microvm's slots, virtio-pci on the PCI bus),
// exercises each one (transport handshake and features, queue setup, configuration reads, I/O round trips), then
// drives the block and network devices through the runtime's interrupt-driven drivers to see their interrupts
// arrive. It prints one machine-readable line per check (TAP 14, or JSON lines with the argument `json`) and a
// summary, and exits 0 only if every check passed (1 otherwise).
//
//   swift run unikernel build DeviceCheck
//   swift run unikernel run .build-guest/x86_64-unknown-none-elf/release/DeviceCheck --disk scratch.img --net user \
//       --rng --append "expect=net,blk,rng devicecheck.write"
//
// Arguments: see `DeviceCheckOptions` (json, expect=..., devicecheck.write, devicecheck.scratch=N, ...).
import Interfaces
import Runtime
import Services
import Scheduler
import Virtio
import VirtioBlk
import VirtioNet

let options = DeviceCheckOptions.parse(System.arguments)
let reporter = Reporter(json: options.json)
for word in options.ignored { reporter.note("ignoring argument '" + word + "'") }
for problem in options.errors { reporter.record("devicecheck.arguments", .fail, problem) }

#if os(none)
let devices = Devices.virtio

/// The name each device's checks carry: its type and its ordinal among devices of that type (`net0`, `blk1`),
/// or `virtioN` (its index) for a type DeviceCheck has no checks for.
var names: [String] = []
var ordinals: [UInt32: Int] = [:]
for (i, device) in devices.enumerated() {
    let raw = device.type.rawValue
    if raw >= 1 && raw <= 4 {
        let n = ordinals[raw] ?? 0
        ordinals[raw] = n + 1
        names.append(device.type.description + "\(n)")
    } else {
        names.append("virtio\(i)")
    }
}

for type in options.expected {
    let kind = VirtioDeviceType(rawValue: type)
    let found = ordinals[type] ?? 0
    reporter.record("devicecheck.expect-" + kind.description, found > 0 ? .pass : .fail,
                    found > 0 ? "\(found) found" : "expected on the command line, none found")
}
if devices.isEmpty { reporter.note("no virtio devices found") }

// 1. Each device on its own, through its transport, with the library's self-checks (polling, no interrupts).
for (i, device) in devices.enumerated() {
    let name = names[i]
    reporter.device(name: name, type: device.type.description, location: device.location)
    let transport: any VirtioTransport
    do throws(VirtioError) {
        transport = try Devices.openTransport(device)
    } catch {
        reporter.record(name + ".open", .fail, "transport: " + error.description)
        continue
    }
    switch device.type {
    case .network:
        reporter.record(VirtioNet.selfCheck(transport: transport, memory: Devices.dmaMemory), prefix: name)
    case .block:
        let waiter = DeadlineWaiter(timeout: .seconds(10))
        reporter.record(VirtioBlk.selfCheck(transport: transport, memory: Devices.dmaMemory,
                                            scratchBlock: options.scratchBlock, allowWrites: options.allowWrites,
                                            waiter: waiter), prefix: name)
    case .entropy:
        reporter.record(checkEntropyDevice(transport: transport, memory: Devices.dmaMemory), prefix: name)
    default:
        var report = VirtioCheckReport()
        VirtioSelfCheck.checkTransport(transport, into: &report)
        report.record("driver", .skip, "DeviceCheck has no checks for virtio \(device.type)")
        reporter.record(report, prefix: name)
    }
}

// 2. The runtime's drivers: the same devices started with their interrupts routed (I/O APIC from the ACPI DSDT
//    on microvm, MSI-X on PCI).
var started: [Int] = []
for disk in Devices.blockDevices {
    guard let before = Devices.interrupts(of: disk) else { continue }
    started.append(before.deviceIndex)
    let name = names[before.deviceIndex]
    guard before.routed else {
        reporter.record(name + ".interrupt", .fail, "no interrupt route for the device; the runtime polls it")
        continue
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: disk.blockSize, alignment: 4096)
    defer { buffer.deallocate() }
    let start = System.now
    do throws(BlockDeviceError) {
        try disk.read(block: 0, into: buffer)
        let after = Devices.interrupts(of: disk)?.count ?? before.count
        let took = (System.now - start).components
        let ms = took.seconds * 1000 + took.attoseconds / 1_000_000_000_000_000
        reporter.record(name + ".interrupt", after > before.count ? .pass : .fail,
                        after > before.count
                            ? "\(after - before.count) interrupts for one read of block 0 (\(ms) ms)"
                            : "the read completed after \(ms) ms but no interrupt arrived")
    } catch {
        reporter.record(name + ".interrupt", .fail, "read of block 0 through the interrupt-driven driver: \(error)")
    }
}

for net in Devices.networkDevices {
    guard let before = Devices.interrupts(of: net) else { continue }
    started.append(before.deviceIndex)
    let name = names[before.deviceIndex]
    guard before.routed else {
        reporter.record(name + ".interrupt", .fail, "no interrupt route for the device; the runtime polls it")
        continue
    }
    // Provoke a frame from the other side: an ARP request (RFC 826) for the peer address, which QEMU's user
    // networking (and any host that owns that address) answers.
    let mac = net.macAddress
    let sent = net.transmit(length: 60) { frame in
        for i in 0..<60 { frame[i] = 0 }
        MACAddress.broadcast.write(to: frame, at: 0)
        mac.write(to: frame, at: 6)
        frame[12] = 0x08; frame[13] = 0x06                          // EtherType ARP
        frame[14] = 0x00; frame[15] = 0x01                          // hardware type Ethernet
        frame[16] = 0x08; frame[17] = 0x00                          // protocol type IPv4
        frame[18] = 6; frame[19] = 4                                // address lengths
        frame[20] = 0x00; frame[21] = 0x01                          // request
        mac.write(to: frame, at: 22)
        for i in 0..<4 { frame[28 + i] = options.arpSender[i]; frame[38 + i] = options.arpTarget[i] }
    }
    var frames = 0
    let deadline = System.now + .seconds(2)
    while sent && frames == 0 && System.now < deadline {
        while net.receive({ _ in }) { frames += 1 }
        if frames == 0 { Thread.sleep(for: .milliseconds(5)) }
    }
    let after = Devices.interrupts(of: net)?.count ?? before.count
    let peer = "\(options.arpTarget[0]).\(options.arpTarget[1]).\(options.arpTarget[2]).\(options.arpTarget[3])"
    if !sent {
        reporter.record(name + ".interrupt", .fail, "could not queue the ARP request")
    } else if frames == 0 {
        reporter.record(name + ".interrupt", .skip, "no frame arrived within 2 s (nothing answered ARP for " + peer
                            + "; set devicecheck.peer= and devicecheck.ip= for your network)")
    } else {
        reporter.record(name + ".interrupt", after > before.count ? .pass : .fail,
                        after > before.count ? "\(frames) frames received with \(after - before.count) interrupts"
                                             : "\(frames) frames received but no interrupt arrived")
    }
}

for (i, device) in devices.enumerated() where (device.type == .block || device.type == .network) && !started.contains(i) {
    reporter.record(names[i] + ".interrupt", .fail, "the runtime's driver could not start the device (see the log above)")
}

let passed = reporter.finish(devices: devices.count)
System.exit(passed ? .success : .failure)
#else
reporter.note("DeviceCheck examines virtio devices and runs only as a guest image (swift run unikernel build DeviceCheck)")
_ = reporter.finish(devices: 0)
System.exit(.failure)
#endif
