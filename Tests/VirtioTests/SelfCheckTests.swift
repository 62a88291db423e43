import Hardware
import Interfaces
import Testing
import Virtio
import VirtioBlk
import VirtioNet

@Suite("Device self-check")
struct SelfCheckTests {
    @Test("a conforming net device passes every check", arguments: TransportKind.allCases)
    func netPasses(kind: TransportKind) throws {
        let (device, _) = makeNetDevice(kind, features: NetBits.mac | NetBits.status | NetBits.mtu | NetBits.mrgRxbuf
                                            | NetBits.csum | NetBits.guestCsum | eventIndexBit)
        let rig = try makeRig(kind, device: device)
        let report = VirtioNet.selfCheck(transport: rig.transport, memory: rig.memory)
        let failed = report.checks.filter { $0.outcome == .fail }
        #expect(failed.isEmpty, "\(failed)")
        let names = report.checks.map(\.name)
        #expect(names.contains("transport.reset") && names.contains("net.tx-completed") && names.contains("net.rx"))
        // The simulated device echoes, so the frame comes back.
        #expect(report.checks.first { $0.name == "net.rx" }?.outcome == .pass)
        #expect(device.status == 0)
        #expect(rig.memory.liveAllocations == 0 && rig.memory.allCanariesIntact)
    }

    @Test("a conforming blk device passes every check and the scratch block is restored", arguments: TransportKind.allCases)
    func blkPasses(kind: TransportKind) throws {
        let (device, model) = makeBlkDevice(kind, sectors: 64)
        for i in 0..<model.disk.count { model.disk[i] = UInt8(truncatingIfNeeded: i &* 7) }
        let before = model.disk
        let rig = try makeRig(kind, device: device)
        let report = VirtioBlk.selfCheck(transport: rig.transport, memory: rig.memory)
        let failed = report.checks.filter { $0.outcome == .fail }
        #expect(failed.isEmpty, "\(failed)")
        #expect(model.disk == before)
        #expect(report.checks.first { $0.name == "blk.write-readback" }?.outcome == .pass)
        #expect(report.checks.first { $0.name == "blk.get-id" }?.detail == "id \"SIMBLK-0001\"")
        #expect(report.allPassed && device.status == 0)
        #expect(rig.memory.liveAllocations == 0)
    }

    @Test("a read-only blk device is checked for refusing writes")
    func blkReadOnly() throws {
        let (device, model) = makeBlkDevice(.pciModern, features: BlkBits.ro)
        model.readOnly = true
        let rig = try makeRig(.pciModern, device: device)
        let report = VirtioBlk.selfCheck(transport: rig.transport, memory: rig.memory)
        #expect(report.allPassed)
        #expect(report.checks.first { $0.name == "blk.read-only-enforced" }?.outcome == .pass)
        #expect(report.checks.first { $0.name == "blk.write-readback" }?.outcome == .skip)
        #expect(report.checks.first { $0.name == "blk.flush" }?.outcome == .skip)
        // A device that claims RO but accepts writes fails the check.
        model.readOnly = false
        let again = VirtioBlk.selfCheck(transport: rig.transport, memory: rig.memory)
        #expect(again.checks.first { $0.name == "blk.read-only-enforced" }?.outcome == .fail)
    }

    @Test("device bugs show up as failed checks", arguments: [Misbehavior.badStatus, .neverComplete, .idOutOfRange])
    func blkBugs(misbehavior: Misbehavior) throws {
        let (device, _) = makeBlkDevice(.mmio2)
        device.misbehavior = misbehavior
        let rig = try makeRig(.mmio2, device: device)
        let report = VirtioBlk.selfCheck(transport: rig.transport, memory: rig.memory, waiter: SpinWaiter(limit: 1000))
        #expect(!report.allPassed)
        #expect(report.checks.first { $0.name == "blk.read-first" }?.outcome == .fail)
        #expect(report.checks.first { $0.name == "blk.device-faults" }?.outcome == .fail)
        #expect(rig.memory.allCanariesIntact)
    }

    @Test("a device that accepts reads past the end fails that check")
    func blkAcceptsPastEnd() throws {
        let (device, model) = makeBlkDevice(.pciModern, sectors: 64)
        model.disk += [UInt8](repeating: 0, count: 4096)  // the disk is larger than the capacity it reports
        let rig = try makeRig(.pciModern, device: device)
        let report = VirtioBlk.selfCheck(transport: rig.transport, memory: rig.memory)
        #expect(report.checks.first { $0.name == "blk.read-past-end" }?.outcome == .fail)
    }

    @Test("net device bugs show up as failed checks")
    func netBugs() throws {
        let (device, model) = makeNetDevice(.pciModern, mtu: 20)
        model.echo = false
        device.misbehavior = .neverComplete
        device.config[0] = 0xFF
        let rig = try makeRig(.pciModern, device: device)
        let report = VirtioNet.selfCheck(transport: rig.transport, memory: rig.memory, pollLimit: 100)
        let failed = Set(report.checks.filter { $0.outcome == .fail }.map(\.name))
        #expect(failed == ["net.mac", "net.mtu", "net.tx-completed", "net.device-faults"])
        #expect(report.checks.first { $0.name == "net.rx" }?.outcome == .skip)
    }

    @Test("transport checks catch a device that does not keep its status")
    func statusCheck() throws {
        let (device, _) = makeNetDevice(.mmio2)
        let rig = try makeRig(.mmio2, device: device)
        device.stuckStatus = true
        device.status = 1
        var report = VirtioCheckReport()
        VirtioSelfCheck.checkTransport(rig.transport, into: &report)
        #expect(report.checks.map(\.name) == ["transport.identity", "transport.reset"])
        #expect(report.checks[1].outcome == .fail && report.checks[1].detail == "device did not complete reset")
        let wrongType = VirtioBlk.selfCheck(transport: rig.transport, memory: rig.memory)
        #expect(wrongType.checks.last?.name == "blk.device-type" || wrongType.checks.last?.name == "transport.reset")
    }

    @Test("reports render as TAP 14 and JSON lines with escaping")
    func rendering() {
        var report = VirtioCheckReport()
        report.record("a.pass", .pass, "fine")
        report.record("b.fail", .fail, "said \"no\"\\ # bad\nline")
        report.record("c.skip", .skip, "not offered")
        #expect(report.tapLines() == [
            "TAP version 14", "1..3", "ok 1 - a.pass # fine", "not ok 2 - b.fail # said \"no\"\\   bad line",
            "ok 3 - c.skip # SKIP not offered",
        ])
        #expect(report.jsonLines() == [
            #"{"check":"a.pass","outcome":"pass","detail":"fine"}"#,
            #"{"check":"b.fail","outcome":"fail","detail":"said \"no\"\\ # bad\nline"}"#,
            #"{"check":"c.skip","outcome":"skip","detail":"not offered"}"#,
        ])
        #expect(!report.allPassed)
        #expect(report.checks[0].description == "a.pass: pass (fine)")
    }
}
