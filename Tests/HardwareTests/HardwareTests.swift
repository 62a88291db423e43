import Testing

@testable import Hardware

@Suite struct HardwareLogicTests {
    @Test func rtcDecodingHandlesBCDAndTwelveHourClocks() {
        // 2026-11-28 19:05:09 in BCD, 12-hour mode (PM bit), century register 0x20.
        let t = CMOS.decode(second: 0x09, minute: 0x05, hour: 0x87, day: 0x28, month: 0x11, year: 0x26,
                            century: 0x20, statusB: 0x00)
        #expect(t == CMOS.RTCTime(year: 2026, month: 11, day: 28, hour: 19, minute: 5, second: 9))
        let midnight = CMOS.decode(second: 0, minute: 0, hour: 0x12, day: 1, month: 1, year: 0, century: 0,
                                   statusB: 0x00)
        #expect(midnight.hour == 0 && midnight.year == 2000)
        let binary = CMOS.decode(second: 59, minute: 30, hour: 23, day: 31, month: 12, year: 99, century: 19,
                                 statusB: 0x06)
        #expect(binary == CMOS.RTCTime(year: 1999, month: 12, day: 31, hour: 23, minute: 30, second: 59))
    }

    @Test func tscFrequencyFromCPUIDLeaves() {
        let leaf15 = CPU.CPUIDResult(eax: 2, ebx: 208, ecx: 24_000_000, edx: 0)  // 24 MHz crystal x 104
        #expect(CPUFeatures.tscFrequency(leaf15: leaf15, leaf16: nil, hypervisorTiming: nil) == 2_496_000_000)
        let zero15 = CPU.CPUIDResult(eax: 0, ebx: 0, ecx: 0, edx: 0)
        let leaf16 = CPU.CPUIDResult(eax: 3000, ebx: 0, ecx: 0, edx: 0)
        #expect(CPUFeatures.tscFrequency(leaf15: zero15, leaf16: leaf16, hypervisorTiming: nil) == 3_000_000_000)
        let hv = CPU.CPUIDResult(eax: 2_100_000, ebx: 0, ecx: 0, edx: 0)
        #expect(CPUFeatures.tscFrequency(leaf15: zero15, leaf16: leaf16, hypervisorTiming: hv) == 2_100_000_000)
        #expect(CPUFeatures.tscFrequency(leaf15: nil, leaf16: nil, hypervisorTiming: nil) == nil)
    }

    @Test func pitTicksAcrossAReload() {
        #expect(PIT.ticks(from: 1000, to: 400) == 600)
        #expect(PIT.ticks(from: 10, to: 65530) == 10 + 65535 - 65530)
        #expect(PIT.ticks(from: 500, to: 500) == 0)
    }
}
