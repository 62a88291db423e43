import Interfaces

/// The HTTP date format (IMF-fixdate, RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`, always 29 bytes.
///
/// Pure: the wall time comes in as an argument. Servers without a reliable clock must not send Date at all
/// (RFC 9110 §6.6.1), which is why the server only sends it when given a time.
public enum HTTPDate {
    /// The length of every IMF-fixdate.
    public static let length = 29

    /// The broken-down UTC date of `time`: (year, month 1-12, day 1-31, weekday 0 = Sunday, seconds of day).
    static func components(_ time: WallTime) -> (year: Int, month: Int, day: Int, weekday: Int, second: Int) {
        let seconds = time.secondsSinceEpoch
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let weekday = Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4)
        // Count from 0000-03-01 in 400-year eras (146,097 days), so that February ends each counted year.
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097                                         // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365, from March
        let monthFromMarch = (5 * dayOfYear + 2) / 153                                 // 0...11
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day), weekday, Int(secondOfDay))
    }

    /// The IMF-fixdate of `time`, or nil for years outside 0...9999 (the format has four year digits).
    public static func format(_ time: WallTime) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(length)
        guard appendDate(time, into: &out) else { return nil }
        return out
    }

    /// Writes `Date: <IMF-fixdate>` CRLF; writes nothing for an out-of-range year.
    static func write<S: HTTPByteSink>(_ time: WallTime, into sink: inout S) {
        let c = components(time)
        guard c.year >= 0 && c.year <= 9999 else { return }
        sink.write("Date: ")
        _ = appendDate(time, into: &sink)
        sink.writeCRLF()
    }

    @discardableResult
    static func appendDate<S: HTTPByteSink>(_ time: WallTime, into sink: inout S) -> Bool {
        let c = components(time)
        guard c.year >= 0 && c.year <= 9999 else { return false }
        let days: StaticString = "SunMonTueWedThuFriSat"
        let months: StaticString = "JanFebMarAprMayJunJulAugSepOctNovDec"
        days.withUTF8Buffer { sink.write(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[(c.weekday * 3)..<(c.weekday * 3 + 3)])) }
        sink.write(", ")
        twoDigits(c.day, &sink)
        sink.write(HTTPSyntax.space)
        months.withUTF8Buffer {
            sink.write(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[((c.month - 1) * 3)..<(c.month * 3)]))
        }
        sink.write(HTTPSyntax.space)
        twoDigits(c.year / 100, &sink)
        twoDigits(c.year % 100, &sink)
        sink.write(HTTPSyntax.space)
        twoDigits(c.second / 3600, &sink)
        sink.write(HTTPSyntax.colon)
        twoDigits(c.second / 60 % 60, &sink)
        sink.write(HTTPSyntax.colon)
        twoDigits(c.second % 60, &sink)
        sink.write(" GMT")
        return true
    }

    private static func twoDigits<S: HTTPByteSink>(_ value: Int, _ sink: inout S) {
        sink.write(UInt8(truncatingIfNeeded: 0x30 + value / 10))
        sink.write(UInt8(truncatingIfNeeded: 0x30 + value % 10))
    }
}
