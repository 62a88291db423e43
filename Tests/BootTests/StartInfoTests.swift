import Interfaces
import Testing

@testable import Boot

/// Builds PVH start-info fixtures in a byte array that stands for physical memory at `base`.
struct PhysicalFixture {
    var bytes: [UInt8]
    let base: UInt64

    init(base: UInt64 = 0x1000, size: Int = 0x2000) {
        self.base = base
        bytes = [UInt8](repeating: 0, count: size)
    }

    mutating func put<T: FixedWidthInteger>(_ value: T, at address: UInt64) {
        let offset = Int(address - base)
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (i, b) in raw.enumerated() { bytes[offset + i] = b }
        }
    }

    mutating func putString(_ text: String, at address: UInt64) {
        let offset = Int(address - base)
        for (i, b) in text.utf8.enumerated() { bytes[offset + i] = b }
        bytes[offset + text.utf8.count] = 0
    }

    /// A version-1 start info at `base` with a command line, two modules and `entries` memory-map entries.
    static func standard(commandLine: String = "hello world", entries: [(UInt64, UInt64, UInt32)] = [
        (0, 0x9fc00, 1), (0x9fc00, 0x400, 2), (0xf0000, 0x10000, 2), (0x100000, 0x7f00000, 1),
    ], modules: [(UInt64, UInt64)] = []) -> PhysicalFixture {
        var f = PhysicalFixture()
        let info = f.base
        f.put(UInt32(0x336e_c578), at: info)
        f.put(UInt32(1), at: info + 4)
        f.put(UInt32(0), at: info + 8)
        f.put(UInt32(modules.count), at: info + 12)
        f.put(UInt64(info + 0x400), at: info + 16)
        f.put(UInt64(info + 0x100), at: info + 24)
        f.put(UInt64(0xf5a00), at: info + 32)
        f.put(UInt64(info + 0x200), at: info + 40)
        f.put(UInt32(entries.count), at: info + 48)
        f.putString(commandLine, at: info + 0x100)
        for (i, e) in entries.enumerated() {
            let a = info + 0x200 + UInt64(i) * 24
            f.put(e.0, at: a)
            f.put(e.1, at: a + 8)
            f.put(e.2, at: a + 16)
        }
        for (i, m) in modules.enumerated() {
            let a = info + 0x400 + UInt64(i) * 32
            f.put(m.0, at: a)
            f.put(m.1, at: a + 8)
        }
        return f
    }

    func parse(at address: UInt64? = nil) throws(StartInfoError) -> StartInfo {
        let result: Result<StartInfo, StartInfoError> = bytes.withUnsafeBytes { raw in
            do throws(StartInfoError) {
                return .success(try StartInfo.parse(at: address ?? base, in: PhysicalMemoryWindow(base: base, bytes: raw)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

@Suite struct StartInfoTests {
    @Test func parsesAStandardStartInfo() throws {
        let info = try PhysicalFixture.standard().parse()
        #expect(info.version == 1)
        #expect(String(decoding: info.commandLine, as: UTF8.self) == "hello world")
        #expect(info.rsdp == 0xf5a00)
        #expect(info.memoryMap.count == 4)
        #expect(info.memoryMap[0] == MemoryRegion(start: PhysicalAddress(0), length: 0x9fc00, kind: .usable))
        #expect(info.memoryMap[1].kind == .reserved)
        #expect(info.memoryMap[3].end == PhysicalAddress(0x8000000))
        #expect(info.modules.isEmpty)
    }

    @Test func parsesModulesInsideTheWindow() throws {
        let info = try PhysicalFixture.standard(modules: [(0x1800, 0x100)]).parse()
        #expect(info.modules == [BootModule(address: 0x1800, size: 0x100, commandLine: [])])
    }

    @Test func rejectsBadMagic() {
        var f = PhysicalFixture.standard()
        f.put(UInt32(0xdeadbeef), at: f.base)
        #expect(throws: StartInfoError.badMagic(0xdeadbeef)) { try f.parse() }
    }

    @Test func rejectsVersionZeroBecauseItHasNoMemoryMap() {
        var f = PhysicalFixture.standard()
        f.put(UInt32(0), at: f.base + 4)
        #expect(throws: StartInfoError.noMemoryMap(version: 0)) { try f.parse() }
    }

    @Test func rejectsAStructureOutsideTheWindow() {
        let f = PhysicalFixture.standard()
        #expect(throws: StartInfoError.unreadable(address: 0x10)) { try f.parse(at: 0x10) }
        #expect(throws: StartInfoError.unreadable(address: f.base + 0x1ffc)) { try f.parse(at: f.base + 0x1ffc) }
    }

    @Test func rejectsAnAbsurdEntryCount() {
        var f = PhysicalFixture.standard()
        f.put(UInt32(100_000), at: f.base + 48)
        #expect(throws: StartInfoError.tooManyEntries(what: .memoryMap, count: 100_000, limit: 128)) { try f.parse() }
    }

    @Test func rejectsAMemoryMapPointerOutsideTheWindow() {
        var f = PhysicalFixture.standard()
        f.put(UInt64(0xffff_0000), at: f.base + 40)
        #expect(throws: StartInfoError.badPointer(what: .memoryMap, address: 0xffff_0000)) { try f.parse() }
    }

    @Test func rejectsAnUnterminatedCommandLine() {
        var f = PhysicalFixture.standard()
        for i in 0..<0x100 { f.bytes[0x100 + i] = UInt8(ascii: "a") }  // runs into the memory map...
        f.put(UInt64(f.base + 0x1f00), at: f.base + 24)                   // ...so point it at the window's tail
        for i in 0x1f00..<0x2000 { f.bytes[i] = UInt8(ascii: "x") }
        #expect(throws: StartInfoError.badPointer(what: .commandLine, address: f.base + 0x1f00)) { try f.parse() }
    }

    @Test func rejectsAModuleOutsideTheWindow() {
        let f = PhysicalFixture.standard(modules: [(0x10_0000, 0x1000)])
        #expect(throws: StartInfoError.badPointer(what: .module, address: 0x10_0000)) { try f.parse() }
    }

    @Test func skipsZeroLengthRegionsAndKeepsUnknownTypes() throws {
        let info = try PhysicalFixture.standard(entries: [(0, 0, 1), (0x100000, 0x1000, 9)]).parse()
        #expect(info.memoryMap == [MemoryRegion(start: PhysicalAddress(0x100000), length: 0x1000, kind: .other(9))])
    }

    @Test func errorsDescribeThemselves() {
        #expect(StartInfoError.badMagic(1).description.contains("magic"))
        #expect(StartInfoError.badPointer(what: .memoryMap, address: 0x10).description.contains("memory map at 0x10"))
        #expect(StartInfoError.badMagic(7).brief.value == 7)
    }

    @Test func randomBytesNeverTrap() {
        let rng = SeededEntropy(seed: 42)
        for _ in 0..<2000 {
            var f = PhysicalFixture(size: 512)
            for i in 0..<f.bytes.count { f.bytes[i] = UInt8(truncatingIfNeeded: rng.next64()) }
            if rng.next64() % 2 == 0 { f.put(UInt32(0x336e_c578), at: f.base) }
            _ = try? f.parse()
        }
    }
}
