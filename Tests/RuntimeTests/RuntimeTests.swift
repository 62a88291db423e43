import Interfaces
import Testing

@testable import Runtime

@Suite struct CommandLineTests {
    func parse(_ text: String) -> CommandLineParser { CommandLineParser(Array(text.utf8)) }

    @Test func splitsOnWhitespaceAndHonoursQuotes() {
        #expect(parse("one  two\tthree").arguments == ["one", "two", "three"])
        #expect(parse(#"say "hello world" "a \"quoted\" word""#).arguments == ["say", "hello world", #"a "quoted" word"#])
        #expect(parse(#""" x"#).arguments == ["", "x"])
        #expect(parse("   ").arguments.isEmpty)
        #expect(parse("").arguments.isEmpty)
    }

    @Test func separatesRuntimeOptions() {
        let p = parse("serve unikernel.log=debug --port 80 unikernel.flag unikernel.log=error")
        #expect(p.arguments == ["serve", "--port", "80"])
        #expect(p.option("log") == "error")
        #expect(p.option("flag") == "")
        #expect(p.option("missing") == nil)
        #expect(p.options.map(\.name) == ["log", "flag", "log"])
        #expect(parse("unikernel.").arguments == ["unikernel."])
    }

    @Test func repairsInvalidUTF8() {
        let p = CommandLineParser([0x61, 0xff, 0x62])
        #expect(p.arguments == ["a\u{FFFD}b"])
    }

    @Test func logLevelsParse() {
        #expect(LogLevel(name: "debug") == .debug)
        #expect(LogLevel(name: "off") == .off)
        #expect(LogLevel(name: "loud") == nil)
        #expect(LogLevel.warning > .info)
    }

    @Test func timestampsAreFixedWidth() {
        #expect(Log.formatTimestamp(Instant(nanoseconds: 1_234_567)) == "   0.001234")
        #expect(Log.formatTimestamp(Instant(nanoseconds: 12_345_000_000_000)) == "12345.000000")
    }
}

@Suite struct TSCScaleTests {
    @Test func convertsTicksToNanoseconds() {
        let scale = TSCScale(hz: 2_500_000_000)
        #expect(scale.nanoseconds(2_500_000_000) >= 999_999_999 && scale.nanoseconds(2_500_000_000) <= 1_000_000_000)
        #expect(scale.nanoseconds(0) == 0)
        let slow = TSCScale(hz: 1_000_000)
        #expect(slow.nanoseconds(3) == 3000)
        #expect(slow.nanoseconds(.max) == .max)
    }

    @Test func measuresFrequencyAgainstAReference() {
        // 10 ms of PIT (11,932 ticks) against 25,998,300 TSC ticks: about 2.6 GHz.
        let s = TSCScale.measured(tscTicks: 25_998_300, referenceTicks: 11_932, referenceHz: 1_193_182)
        #expect(s != nil)
        #expect(abs(Int64(s!.hz) - 2_599_830_000) < 300_000)
        #expect(TSCScale.measured(tscTicks: 10, referenceTicks: 11_932, referenceHz: 1_193_182) == nil)
        #expect(TSCScale.measured(tscTicks: 10, referenceTicks: 0, referenceHz: 1_193_182) == nil)
    }

    @Test func hostedSystemAnswers() {
        let a = System.now
        let b = System.now
        #expect(b >= a)
        #expect(System.wallTime.secondsSinceEpoch > 1_700_000_000)
        #expect(System.entropy.next64() != System.entropy.next64())
        #expect(System.heapStatistics == nil && System.memory == nil)
    }
}
