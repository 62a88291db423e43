import Testing

@testable import Interfaces

@Suite struct InstantTests {
    @Test func arithmeticSaturatesInsteadOfTrapping() {
        let t = Instant(nanoseconds: 1_000)
        #expect((t + .nanoseconds(500)).nanoseconds == 1_500)
        #expect((t - .nanoseconds(400)).nanoseconds == 600)
        #expect((t - .seconds(5)).nanoseconds == 0)
        #expect((Instant.distantFuture + .seconds(1)) == .distantFuture)
        #expect((Instant(nanoseconds: 5_000) - t) == .nanoseconds(4_000))
        #expect((t - Instant(nanoseconds: 5_000)) == .nanoseconds(-4_000))
        #expect(t.duration(since: Instant(nanoseconds: 9_000)) == .zero)
    }

    @Test func durationConversionsClamp() {
        #expect(Duration.milliseconds(1500).nanosecondsClamped == 1_500_000_000)
        #expect(Duration.seconds(Int64.max).nanosecondsClamped == .max)
        #expect(Duration.seconds(Int64.min).nanosecondsClamped == .min)
        #expect(Duration.microseconds(2500).millisecondsClamped == 2)
    }

    @Test func manualClockOnlyMovesForward() {
        let clock = ManualClock()
        clock.advance(by: .milliseconds(10))
        clock.advance(by: .milliseconds(-5))
        #expect(clock.now == Instant(nanoseconds: 10_000_000))
        clock.advance(to: Instant(nanoseconds: 1))
        #expect(clock.now == Instant(nanoseconds: 10_000_000))
    }
}

@Suite struct WallTimeTests {
    @Test func convertsCalendarDatesToTheUnixEpoch() {
        #expect(WallTime(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0)?.secondsSinceEpoch == 0)
        #expect(WallTime(year: 2000, month: 3, day: 1, hour: 0, minute: 0, second: 0)?.secondsSinceEpoch == 951_868_800)
        #expect(WallTime(year: 2026, month: 11, day: 28, hour: 7, minute: 30, second: 15)?.secondsSinceEpoch == 1_795_851_015)
        #expect(WallTime(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59)?.secondsSinceEpoch == -1)
        #expect(WallTime(year: 2024, month: 2, day: 29, hour: 12, minute: 0, second: 0) != nil)
    }

    @Test func rejectsImpossibleDates() {
        #expect(WallTime(year: 2023, month: 2, day: 29, hour: 0, minute: 0, second: 0) == nil)
        #expect(WallTime(year: 2024, month: 13, day: 1, hour: 0, minute: 0, second: 0) == nil)
        #expect(WallTime(year: 2024, month: 4, day: 31, hour: 0, minute: 0, second: 0) == nil)
        #expect(WallTime(year: 2024, month: 4, day: 1, hour: 24, minute: 0, second: 0) == nil)
    }

    @Test func leapYears() {
        #expect(WallTime.isLeapYear(2000) && WallTime.isLeapYear(2024))
        #expect(!WallTime.isLeapYear(1900) && !WallTime.isLeapYear(2023))
    }

    /// Every day from 1900 to 2100 is exactly one day after the previous one.
    @Test func daysAreContinuous() {
        var previous = WallTime.daysSinceEpoch(year: 1899, month: 12, day: 31)
        for year in 1900...2100 {
            for month in 1...12 {
                for day in 1...WallTime.daysInMonth(year: year, month: month) {
                    let d = WallTime.daysSinceEpoch(year: year, month: month, day: day)
                    #expect(d == previous + 1)
                    previous = d
                }
            }
        }
    }
}

@Suite struct ValueTypeTests {
    @Test func exitStatusesClampAndName() {
        #expect(ExitStatus(200) == .failure)
        #expect(ExitStatus.stackOverflow.description == "stack overflow (103)")
        #expect(ExitStatus(42).name.description == "application status")
    }

    @Test func physicalAddressAlignment() {
        #expect(PhysicalAddress(0x1234).alignedDown(to: 0x1000) == PhysicalAddress(0x1000))
        #expect(PhysicalAddress(0x1234).alignedUp(to: 0x1000) == PhysicalAddress(0x2000))
        #expect(PhysicalAddress(UInt64.max - 5).alignedUp(to: 0x1000) == PhysicalAddress(~0xfff))
        #expect(hex(0) == "0x0" && hex(0xdead_beef) == "0xdeadbeef")
    }

    @Test func macAddresses() {
        let mac = MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)
        #expect(mac.description == "52:54:00:12:34:56")
        #expect(!mac.isMulticast && MACAddress.broadcast.isMulticast)
        var bytes = [UInt8](repeating: 0, count: 8)
        bytes.withUnsafeMutableBytes { mac.write(to: $0, at: 1) }
        #expect(bytes.withUnsafeBytes { MACAddress(bytes: $0, offset: 1) } == mac)
    }

    @Test func seededEntropyIsDeterministic() {
        let a = SeededEntropy(seed: 1), b = SeededEntropy(seed: 1), c = SeededEntropy(seed: 2)
        let x = (0..<4).map { _ in a.next64() }
        #expect(x == (0..<4).map { _ in b.next64() })
        #expect(x != (0..<4).map { _ in c.next64() })
        var buffer = [UInt8](repeating: 0, count: 13)
        buffer.withUnsafeMutableBytes { a.fill($0) }
        #expect(buffer.contains { $0 != 0 })
    }

    @Test func memoryBlockDeviceValidatesRequests() throws {
        let disk = MemoryBlockDevice(blockCount: 8)
        var data = [UInt8](repeating: 7, count: 1024)
        try data.withUnsafeBytes { try disk.write(block: 2, from: $0) }
        var back = [UInt8](repeating: 0, count: 512)
        try back.withUnsafeMutableBytes { try disk.read(block: 3, into: $0) }
        #expect(back.allSatisfy { $0 == 7 })
        #expect(throws: BlockDeviceError.outOfRange(block: 7, count: 2, capacity: 8)) {
            try data.withUnsafeBytes { try disk.write(block: 7, from: $0) }
        }
        #expect(throws: BlockDeviceError.badLength(100)) {
            try data.withUnsafeMutableBytes { try disk.read(block: 0, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<100])) }
        }
        let readOnly = MemoryBlockDevice(blockCount: 1, readOnly: true)
        #expect(throws: BlockDeviceError.readOnly) { try data.withUnsafeBytes { try readOnly.write(block: 0, from: UnsafeRawBufferPointer(rebasing: $0[0..<512])) } }
    }
}
