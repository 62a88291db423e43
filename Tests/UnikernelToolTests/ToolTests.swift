import Foundation
import Testing

@testable import UnikernelTool

/// Writes a minimal ELF64 executable: one R+X PT_LOAD at 1 MiB and, optionally, a PT_NOTE with the PVH note.
func writeTestELF(pvhEntry: UInt32?, loadAddress: UInt64 = 0x100000, machine: UInt16 = 62) throws -> String {
    var bytes = [UInt8](repeating: 0, count: 0x200)
    func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { bytes[at + i] = b } }
    }
    bytes[0...3] = [0x7f, 0x45, 0x4c, 0x46]  // \x7fELF
    bytes[4] = 2; bytes[5] = 1; bytes[6] = 1   // 64-bit, little endian, version 1
    put(UInt16(2), 16)                          // ET_EXEC
    put(machine, 18)                            // EM_X86_64
    put(UInt32(1), 20)
    put(UInt64(loadAddress), 24)                // e_entry
    put(UInt64(64), 32)                         // e_phoff
    put(UInt64(0), 40)                          // e_shoff
    put(UInt16(64), 52)                         // e_ehsize
    put(UInt16(56), 54)                         // e_phentsize
    put(UInt16(pvhEntry == nil ? 1 : 2), 56)    // e_phnum
    // PT_LOAD: offset 0x100, 0x100 bytes, R+X
    put(UInt32(1), 64); put(UInt32(5), 68); put(UInt64(0x100), 72); put(loadAddress, 80); put(loadAddress, 88)
    put(UInt64(0x100), 96); put(UInt64(0x100), 104); put(UInt64(16), 112)
    if let entry = pvhEntry {
        // PT_NOTE at 0x180: namesz 4, descsz 4, type 18, "Xen\0", entry
        put(UInt32(4), 120); put(UInt32(4), 124); put(UInt64(0x180), 128); put(UInt64(0), 136); put(UInt64(0), 144)
        put(UInt64(20), 152); put(UInt64(20), 160); put(UInt64(4), 168)
        put(UInt32(4), 0x180); put(UInt32(4), 0x184); put(UInt32(18), 0x188)
        bytes[0x18c...0x18f] = [0x58, 0x65, 0x6e, 0x00]
        put(entry, 0x190)
    }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("elf-\(UUID().uuidString)").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
}

@Suite struct ELFInspectionTests {
    @Test func acceptsAnImageWithAValidPVHNote() throws {
        let path = try writeTestELF(pvhEntry: 0x100010)
        let image = try ELFImage(path: path)
        #expect(try image.pvhEntry() == 0x100010)
        try image.verifyBootable()
        #expect(image.loadableBytes == 0x100)
        let report = try ImageReport(path: path)
        #expect(report.text.contains("PVH entry  0x100010"))
        #expect(report.json.contains("\"pvhEntry\" : 1048592"))
    }

    @Test func rejectsAnImageWithoutTheNote() throws {
        let path = try writeTestELF(pvhEntry: nil)
        #expect(throws: ToolError.missingPVHNote(path)) { try ELFImage(path: path).verifyBootable() }
        #expect(ToolError.missingPVHNote(path).description.contains("XEN_ELFNOTE_PHYS32_ENTRY"))
    }

    @Test func rejectsAnEntryOutsideTheCode() throws {
        let path = try writeTestELF(pvhEntry: 0x500000)
        #expect(throws: ToolError.self) { try ELFImage(path: path).pvhEntry() }
    }

    @Test func rejectsOtherMachinesMissingFilesAndNonELFs() throws {
        let arm = try writeTestELF(pvhEntry: 0x100010, machine: 183)
        #expect(throws: ToolError.self) { try ELFImage(path: arm).verifyBootable() }
        #expect(throws: ToolError.fileNotFound("/nonexistent/image")) { try ELFImage(path: "/nonexistent/image") }
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("not-elf-\(UUID().uuidString)").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: text))
        #expect(throws: ToolError.self) { try ELFImage(path: text) }
    }

    @Test func groupsSymbolsByModule() {
        #expect(ELFImage.module(ofSymbol: "$e7Runtime10HeapBrokerO8allocateySvSi_SitFZ") == "Runtime")
        #expect(ELFImage.module(ofSymbol: "$es5print_10terminatorySS_SStF") == "Swift")
        #expect(ELFImage.module(ofSymbol: "$s6Memory8TLSFHeapC") == "Memory")
        #expect(ELFImage.module(ofSymbol: "memcpy") == "C/asm")
        #expect(ELFImage.module(ofSymbol: "$e") == "Swift")
    }
}

@Suite struct QEMUCommandTests {
    @Test func microvmDefaults() {
        let c = QEMUConfiguration(image: "/img")
        let a = c.arguments
        #expect(a.starts(with: ["-accel", "tcg", "-M", "microvm", "-cpu", "max", "-m", "128"]))
        #expect(a.contains("isa-debug-exit,iobase=0xf4,iosize=0x04"))
        #expect(a.contains("virtio-mmio.force-legacy=false"))
        #expect(!a.contains("-netdev"))
    }

    @Test func userNetworkingWithForwardsOnPC() {
        var c = QEMUConfiguration(image: "/img")
        c.machine = .pc
        c.forwards = [QEMUConfiguration.Forward(argument: "8080:80")!]
        c.disks = ["/tmp/d.img"]
        c.append = "a b"
        let a = c.arguments
        #expect(c.effectiveNetwork == .user)
        #expect(a.contains("user,id=net0,hostfwd=tcp:127.0.0.1:8080-:80"))
        #expect(a.contains("virtio-net-pci,netdev=net0"))
        #expect(a.contains("virtio-blk-pci,drive=disk0"))
        #expect(a.contains("file=/tmp/d.img,if=none,id=disk0,format=raw"))
        #expect(a.contains("a b"))
        #expect(!a.contains("virtio-mmio.force-legacy=false"))
    }

    @Test func tapLegacyKVMAndGDB() {
        var c = QEMUConfiguration(image: "/img")
        c.network = .tap("tap7")
        c.legacyVirtio = true
        c.accelerator = .kvm
        c.gdbPort = 4321
        c.randomNumberGenerator = true
        let a = c.arguments
        #expect(a.contains("tap,id=net0,ifname=tap7,script=no,downscript=no"))
        #expect(a.contains("host"))
        #expect(!a.contains("virtio-mmio.force-legacy=false"))
        #expect(a.contains("tcp::4321") && a.contains("-S"))
        #expect(a.contains("virtio-rng-device,rng=rng0"))
        var pci = c
        pci.machine = .q35
        #expect(pci.arguments.contains("virtio-net-pci,netdev=net0,disable-modern=on"))
    }

    @Test func parsesNetworkAndForwardArguments() {
        #expect(QEMUConfiguration.Network(argument: "tap:tap0") == .tap("tap0"))
        #expect(QEMUConfiguration.Network(argument: "tap:") == nil)
        #expect(QEMUConfiguration.Network(argument: "bridge") == nil)
        #expect(QEMUConfiguration.Forward(argument: "80") == nil)
        #expect(QEMUConfiguration.Forward(argument: "0:80") == nil)
        #expect(QEMUConfiguration.Forward(argument: "8080:80") == QEMUConfiguration.Forward(hostPort: 8080, guestPort: 80))
    }

    @Test func decodesQEMUExitStatuses() {
        #expect(GuestOutcome.decode(qemuStatus: 1, qemuReportedError: false) == .exited(status: 0))
        #expect(GuestOutcome.decode(qemuStatus: 207, qemuReportedError: false) == .exited(status: 103))
        #expect(GuestOutcome.decode(qemuStatus: 0, qemuReportedError: false) == .stoppedWithoutStatus)
        #expect(GuestOutcome.decode(qemuStatus: 1, qemuReportedError: true) == .qemuFailed(status: 1))
        #expect(GuestOutcome.decode(qemuStatus: 2, qemuReportedError: false) == .qemuFailed(status: 2))
        #expect(GuestOutcome.timedOut.toolStatus == 124)
        #expect(GuestOutcome.exited(status: 7).toolStatus == 7)
    }

    @Test func missingQEMUIsAClearError() throws {
        var c = QEMUConfiguration(image: try writeTestELF(pvhEntry: 0x100010))
        c.qemu = "qemu-system-does-not-exist"
        #expect(throws: ToolError.qemuNotFound("qemu-system-does-not-exist")) { try QEMURunner(configuration: c).run() }
    }

    @Test func annotatesBacktraceLinesOnlyInsideBacktraces() {
        let annotator = BacktraceAnnotator(image: nil)
        let text = annotator.feed(Data("hello\n  backtrace:\n    0x0000000000101000\nrest".utf8))
        #expect(text == "hello\n  backtrace:\n    0x0000000000101000\n")
        #expect(annotator.flush() == "rest")
    }
}

@Suite struct ConsoleDecodingTests {
    @Test func multiByteCharactersSplitAcrossReadsSurvive() {
        let annotator = BacktraceAnnotator(image: nil)
        let bytes = Array("grüße\n".utf8)
        let split = bytes.firstIndex(of: 0xC3)! + 1  // inside the two-byte ü
        var text = annotator.feed(Data(bytes[..<split]))
        text += annotator.feed(Data(bytes[split...]))
        #expect(text == "grüße\n")
    }
}
