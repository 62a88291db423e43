import Interfaces
import Testing

@testable import Boot

@Suite struct ExceptionTests {
    @Test func namesEveryArchitecturalVector() {
        #expect(CPUException.name(of: 14).mnemonic.description == "#PF")
        #expect(CPUException.name(of: 0).name.description == "divide error")
        #expect(CPUException.name(of: 8).name.description == "double fault")
        #expect(CPUException.name(of: 15).mnemonic.description == "#??")
    }

    @Test func decodesPageFaultErrorCodes() {
        let write = CPUException.PageFaultCode(0b00010)
        #expect(write.write && !write.present)
        #expect(write.summary.description == "write to a non-present page")
        #expect(CPUException.PageFaultCode(0b00011).summary.description == "write to a read-only page")
        #expect(CPUException.PageFaultCode(0b10001).summary.description == "instruction fetch from a no-execute page")
        #expect(CPUException.PageFaultCode(0b01000).summary.description == "reserved bit set in a page-table entry")
        #expect(CPUException.PageFaultCode(0).summary.description == "read of a non-present page")
    }

    @Test func diagnosesNullDereferenceStackOverflowAndSwiftTraps() {
        let guardPage: UInt64 = 0x20_0000
        let isGuard = { (a: UInt64) in a & ~0xfff == guardPage }
        #expect(CPUException.diagnose(vector: 14, faultAddress: 8, stackPointer: 0x30_0000, isGuardPage: isGuard,
                                      instructionIsUD2: false) == .nullDereference)
        #expect(CPUException.diagnose(vector: 14, faultAddress: guardPage + 0xff8, stackPointer: guardPage + 0x1000,
                                      isGuardPage: isGuard, instructionIsUD2: false) == .stackOverflow)
        #expect(CPUException.diagnose(vector: 8, faultAddress: 0, stackPointer: guardPage + 8, isGuardPage: isGuard,
                                      instructionIsUD2: false) == .stackOverflow)
        #expect(CPUException.diagnose(vector: 6, faultAddress: 0, stackPointer: 0, isGuardPage: isGuard,
                                      instructionIsUD2: true) == .swiftTrap)
        #expect(CPUException.diagnose(vector: 6, faultAddress: 0, stackPointer: 0, isGuardPage: isGuard,
                                      instructionIsUD2: false) == .other)
        #expect(CPUException.diagnose(vector: 0, faultAddress: 0, stackPointer: 0, isGuardPage: isGuard,
                                      instructionIsUD2: false) == .divideByZero)
        #expect(CPUException.diagnose(vector: 14, faultAddress: 0x5000_0000, stackPointer: 0, isGuardPage: isGuard,
                                      instructionIsUD2: false) == .other)
    }

    @Test func diagnosesMapToDistinctStatuses() {
        #expect(CPUException.Diagnosis.stackOverflow.status == .stackOverflow)
        #expect(CPUException.Diagnosis.swiftTrap.status == .panic)
        #expect(CPUException.Diagnosis.nullDereference.status == .cpuException)
        let statuses: Set<UInt8> = [ExitStatus.success, .failure, .panic, .cpuException, .outOfMemory,
                                    .stackOverflow, .deadlock, .bootFailure, .bootReturned, .nestedFault].map(\.rawValue).reduce(into: []) { $0.insert($1) }
        #expect(statuses.count == 10)
    }

    /// A fake stack: frame records (saved RBP, return address) at increasing addresses.
    @Test func walksAFramePointerChain() {
        var memory: [UInt64: UInt64] = [:]
        let frames: [UInt64] = [0x1000, 0x1040, 0x10a0, 0x1100]
        for (i, f) in frames.enumerated() {
            memory[f] = i + 1 < frames.count ? frames[i + 1] : 0
            memory[f + 8] = 0xAAA0 + UInt64(i)
        }
        var seen: [UInt64] = []
        let n = Backtrace.walk(from: 0x1000, maxDepth: 32, read: { memory[$0] }, visit: { seen.append($0) })
        #expect(n == 4)
        #expect(seen == [0xAAA0, 0xAAA1, 0xAAA2, 0xAAA3])
    }

    @Test func stopsAtCyclesMisalignmentUnreadableMemoryAndDepth() {
        var memory: [UInt64: UInt64] = [0x2000: 0x2000, 0x2008: 0xBEEF]  // a frame pointing at itself
        var seen: [UInt64] = []
        Backtrace.walk(from: 0x2000, maxDepth: 32, read: { memory[$0] }, visit: { seen.append($0) })
        #expect(seen == [0xBEEF])
        #expect(Backtrace.walk(from: 0x2003, maxDepth: 32, read: { memory[$0] }, visit: { _ in }) == 0)
        #expect(Backtrace.walk(from: 0x9000, maxDepth: 32, read: { memory[$0] }, visit: { _ in }) == 0)
        memory = [:]
        for i in 0..<100 { memory[UInt64(0x3000 + i * 16)] = UInt64(0x3000 + (i + 1) * 16); memory[UInt64(0x3008 + i * 16)] = 1 }
        #expect(Backtrace.walk(from: 0x3000, maxDepth: 10, read: { memory[$0] }, visit: { _ in }) == 10)
    }
}
