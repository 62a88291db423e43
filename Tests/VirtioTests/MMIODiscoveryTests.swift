import Hardware
import Interfaces
import Testing
import Virtio

@Suite("virtio-mmio discovery")
struct MMIODiscoveryTests {
    @Test("Firecracker and Linux command-line entries parse, other words are ignored")
    func parsesEntries() {
        let line = "console=ttyS0 reboot=k virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 "
            + "virtio_mmio.device=512@0xfeb00e00:47:3\tvirtio_mmio.device=1m@4096:7 virtio_mmio.devices=1"
        let (devices, errors) = VirtioMMIOCommandLine.parse(line)
        #expect(errors.isEmpty)
        #expect(devices == [
            VirtioMMIODeviceLocation(base: 0xD000_0000, size: 0x1000, irq: 5),
            VirtioMMIODeviceLocation(base: 0xD000_1000, size: 0x1000, irq: 6),
            VirtioMMIODeviceLocation(base: 0xFEB0_0E00, size: 512, irq: 47, id: 3),
            VirtioMMIODeviceLocation(base: 4096, size: 1 << 20, irq: 7),
        ])
        #expect(devices[0].description == "0x1000@0xd0000000:5")
    }

    @Test("size suffixes and hexadecimal sizes")
    func sizes() throws {
        func size(_ s: String) throws -> UInt64 {
            try VirtioMMIOCommandLine.parseValue(Array(s.utf8)[...]).size
        }
        #expect(try size("0x200@0x1000:1") == 0x200)
        #expect(try size("4k@0x1000:1") == 4096)
        #expect(try size("2M@0x1000:1") == 2 << 20)
        #expect(try size("1G@0x1000:1") == 1 << 30)
    }

    @Test("malformed values give typed errors and lose nothing else", arguments: [
        ("@0x1000:5", VirtioMMIOCommandLineError.badSize),
        ("0@0x1000:5", .badSize),
        ("4T@0x1000:5", .missingBase),
        ("4K0x1000:5", .missingBase),
        ("4K@:5", .badBase),
        ("4K@0xzz:5", .badBase),
        ("4K@0x1000", .missingIRQ),
        ("4K@0x1000:", .badIRQ),
        ("4K@0x1000:99999999999", .badIRQ),
        ("4K@0x1000:5:x", .badID),
        ("4K@0x1000:5x", .trailingCharacters),
        ("4K@0xffffffffffffffff:5", .rangeOverflows),
        ("99999999999999999999@0x0:1", .badSize),
        ("17179869184G@0x0:1", .badSize),
    ])
    func malformed(value: String, error: VirtioMMIOCommandLineError) {
        let (devices, errors) = VirtioMMIOCommandLine.parse("virtio_mmio.device=4K@0x1000:5 virtio_mmio.device=" + value)
        #expect(devices == [VirtioMMIODeviceLocation(base: 0x1000, size: 4096, irq: 5)])
        #expect(errors == [error])
    }

    @Test("probing finds devices by magic value and non-zero device ID, skipping empty and foreign slots")
    func probing() {
        let slots = VirtioMMIOProbe.microvmSlots()
        #expect(slots.count == 24 && slots[23].base == 0xFEB0_2E00 && slots[23].irq == 47 && slots[0].size == 0x200)
        let (net, _) = makeNetDevice(.mmio1)
        let (blk, _) = makeBlkDevice(.mmio2)
        let empty = SimVirtioDevice(type: 0, features: 0, config: [], queueSizes: [])
        var windows: [UInt64: SimMMIOWindow] = [
            slots[23].base: SimMMIOWindow(device: net, version: 1),
            slots[22].base: SimMMIOWindow(device: blk, version: 2),
            slots[21].base: SimMMIOWindow(device: empty, version: 2),
        ]
        let foreign = SimMMIOWindow(device: blk, version: 2)
        foreign.magic = 0x1234_5678
        windows[slots[20].base] = foreign
        let futureVersion = SimMMIOWindow(device: blk, version: 3)
        windows[slots[19].base] = futureVersion
        let found = VirtioMMIOProbe.probe(slots) { windows[$0.base] }
        #expect(found.count == 2)
        #expect(found[0].location == slots[22] && found[0].deviceType == .block && found[0].version == 2)
        #expect(found[1].location == slots[23] && found[1].deviceType == .network && found[1].version == 1)
    }

    @Test("the transport refuses windows that are not usable virtio-mmio devices")
    func transportRefuses() {
        let (blk, _) = makeBlkDevice(.mmio2)
        let bad = SimMMIOWindow(device: blk, version: 2)
        bad.magic = 0
        #expect(throws: VirtioError.notVirtio) { try VirtioMMIOTransport(window: bad) }
        #expect(throws: VirtioError.unsupportedVersion(3)) {
            try VirtioMMIOTransport(window: SimMMIOWindow(device: blk, version: 3))
        }
        let empty = SimVirtioDevice(type: 0, features: 0, config: [], queueSizes: [])
        #expect(throws: VirtioError.noDevice) { try VirtioMMIOTransport(window: SimMMIOWindow(device: empty, version: 2)) }
        let small = SimMMIOWindow(device: blk, version: 2)
        small.size = 0x80
        #expect(throws: VirtioError.windowTooSmall(0x80)) { try VirtioMMIOTransport(window: small) }
    }
}
