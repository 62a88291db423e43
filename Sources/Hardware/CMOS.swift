/// The MC146818-compatible real-time clock in CMOS (ports 0x70/0x71): the wall-clock time at boot.
public enum CMOS {
    private static let index = IOPort(0x70)
    private static let data = IOPort(0x71)

    /// The calendar fields of the RTC, already converted from BCD and 12-hour format.
    public struct RTCTime: Equatable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    }

    private static func read(_ register: UInt8) -> UInt8 {
        index.write8(0x80 | register)  // bit 7 keeps NMIs disabled while we talk to the RTC
        return data.read8()
    }

    private static func readRaw() -> (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        var spins = 0
        while read(0x0A) & 0x80 != 0 && spins < 1_000_000 { spins += 1 }  // update in progress
        return (read(0x00), read(0x02), read(0x04), read(0x07), read(0x08), read(0x09), read(0x32))
    }

    /// Reads the RTC twice until two consecutive reads agree (so no field is caught mid-update), then decodes it
    /// using status register B (bit 2 binary mode, bit 1 24-hour mode). The century register (0x32) is used when
    /// it holds 19 or 20; otherwise years are taken to be 20xx.
    public static func readTime() -> RTCTime {
        var previous = readRaw()
        var current = readRaw()
        var attempts = 0
        while (previous.0, previous.1, previous.2, previous.3, previous.4, previous.5)
            != (current.0, current.1, current.2, current.3, current.4, current.5) && attempts < 10 {
            previous = current
            current = readRaw()
            attempts += 1
        }
        return decode(second: current.0, minute: current.1, hour: current.2, day: current.3, month: current.4,
                      year: current.5, century: current.6, statusB: read(0x0B))
    }

    /// Decodes raw RTC registers (pure; host-tested).
    public static func decode(second: UInt8, minute: UInt8, hour: UInt8, day: UInt8, month: UInt8, year: UInt8,
                              century: UInt8, statusB: UInt8) -> RTCTime {
        let binary = statusB & 0x04 != 0
        let twentyFour = statusB & 0x02 != 0
        func value(_ v: UInt8) -> Int { binary ? Int(v) : Int((v >> 4) * 10 + (v & 0x0F)) }
        let pm = hour & 0x80 != 0
        var h = value(hour & 0x7F)
        if !twentyFour {
            h %= 12
            if pm { h += 12 }
        }
        let c = value(century)
        let fullYear = (c == 19 || c == 20) ? c * 100 + value(year) : 2000 + value(year)
        return RTCTime(year: fullYear, month: value(month), day: value(day), hour: h, minute: value(minute),
                       second: value(second))
    }
}
