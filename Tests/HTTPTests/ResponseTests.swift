import Foundation
import Interfaces
import Testing

@testable import HTTP

@Suite("Response serialization and dates")
struct ResponseTests {
    @Test("the Hello response, byte for byte")
    func hello() throws {
        let encoder = HTTPResponseEncoder(serverName: bytes("swift-unikernel"))
        var out: [UInt8] = []
        try encoder.encode(HTTPResponse(contentType: "text/plain", body: "Hello, world!\n"), into: &out)
        #expect(text(out) == "HTTP/1.1 200 OK\r\nServer: swift-unikernel\r\nContent-Type: text/plain\r\n"
                + "Content-Length: 14\r\n\r\nHello, world!\n")
    }

    @Test("into a caller-provided buffer: exact fit works, one byte less is refused")
    func fixedBuffer() throws {
        let encoder = HTTPResponseEncoder()
        let response = HTTPResponse(status: .notFound, body: "missing")
        var reference: [UInt8] = []
        try encoder.encode(response, connection: .close, into: &reference)
        #expect(text(reference) == "HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\nConnection: close\r\n\r\nmissing")
        var storage = [UInt8](repeating: 0xEE, count: reference.count + 8)
        let n = try storage.withUnsafeMutableBytes { buffer in
            try encoder.encode(response, connection: .close, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<reference.count]))
        }
        #expect(n == reference.count)
        #expect(Array(storage[0..<n]) == reference)
        #expect(storage[n...].allSatisfy { $0 == 0xEE })  // nothing written past the end
        storage = [UInt8](repeating: 0xEE, count: reference.count + 8)
        #expect(throws: HTTPEncodeError.bufferTooSmall) {
            try storage.withUnsafeMutableBytes { buffer in
                try encoder.encode(response, connection: .close,
                                   into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<(reference.count - 1)]))
            }
        }
        #expect(storage[(reference.count - 1)...].allSatisfy { $0 == 0xEE })
    }

    @Test("HEAD and no-content statuses; keep-alive directive")
    func variants() throws {
        let encoder = HTTPResponseEncoder()
        var out: [UInt8] = []
        try encoder.encode(HTTPResponse(body: "abc"), isHeadRequest: true, connection: .keepAlive, into: &out)
        #expect(text(out) == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n")
        out.removeAll()
        try encoder.encode(HTTPResponse(status: .noContent, body: "abc"), into: &out)
        #expect(text(out) == "HTTP/1.1 204 No Content\r\n\r\n")
        out.removeAll()
        try encoder.encode(HTTPResponse(status: HTTPStatus(code: 299, reasonPhrase: "Custom")), into: &out)
        #expect(text(out) == "HTTP/1.1 299 Custom\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("invalid fields are refused and nothing is written")
    func invalidFields() {
        let encoder = HTTPResponseEncoder()
        var out: [UInt8] = bytes("keep")
        #expect(throws: HTTPEncodeError.invalidField) {
            try encoder.encode(HTTPResponse(headers: [HTTPHeaderField(name: "X", value: .string("a\nb"))]), into: &out)
        }
        #expect(throws: HTTPEncodeError.invalidField) {
            try encoder.encodeHead(HTTPResponse(headers: [HTTPHeaderField(name: "", value: "v")]),
                                   framing: .chunked, connection: .none, into: &out)
        }
        #expect(text(out) == "keep")
        #expect(!HTTPHeaderField(name: "X", value: " padded").isValid)
        #expect(HTTPHeaderField(name: "X-Ok", value: .bytes([0x61, 0x09, 0x80, 0x62])).isValid)
    }

    @Test("chunk encoding: hex sizes, empty chunks skipped, last chunk")
    func chunks() {
        var out: [UInt8] = []
        for size in [1, 15, 16, 255, 4096] {
            out.removeAll()
            let data = [UInt8](repeating: 0x61, count: size)
            data.withUnsafeBytes { HTTPResponseEncoder.encodeChunk($0, into: &out) }
            #expect(text(out) == String(size, radix: 16, uppercase: true) + "\r\n" + String(repeating: "a", count: size) + "\r\n")
        }
        out.removeAll()
        [UInt8]().withUnsafeBytes { HTTPResponseEncoder.encodeChunk($0, into: &out) }
        #expect(out.isEmpty)
        HTTPResponseEncoder.encodeLastChunk(into: &out)
        #expect(text(out) == "0\r\n\r\n")
    }

    @Test("decimal Content-Length for large bodies")
    func decimal() throws {
        var out: [UInt8] = []
        for n in [0, 9, 10, 99, 100, 12_345, 1 << 20] {
            out.removeAll()
            out.writeDecimal(n)
            #expect(text(out) == String(n))
        }
        out.removeAll()
        out.writeDecimal(Int.max)
        #expect(text(out) == String(Int.max))
        out.removeAll()
        out.writeHex(Int.max)
        #expect(text(out) == String(Int.max, radix: 16, uppercase: true))
    }

    @Test("HTTPBytes from literals, arrays and strings")
    func httpBytes() {
        let all: [HTTPBytes] = ["static", .bytes(bytes("static")), .string("stat" + "ic"), .string(String(repeating: "é", count: 3))]
        #expect(all.map(\.count) == [6, 6, 6, 6])
        #expect(all.map { b in b.withUnsafeBytes { Array($0) } }.prefix(3).allSatisfy { $0 == bytes("static") })
        #expect(HTTPBytes.empty.count == 0)
    }

    @Test("IMF-fixdate of known instants")
    func knownDates() {
        let cases: [(Int64, String)] = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (-1, "Wed, 31 Dec 1969 23:59:59 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (-62_167_219_200, "Sat, 01 Jan 0000 00:00:00 GMT"),
        ]
        for (seconds, expected) in cases {
            let formatted = HTTPDate.format(WallTime(secondsSinceEpoch: seconds))
            #expect(formatted.map { text($0) } == expected, "\(seconds)")
            #expect(formatted?.count == HTTPDate.length)
        }
        #expect(HTTPDate.format(WallTime(secondsSinceEpoch: 253_402_300_800)) == nil)
        #expect(HTTPDate.format(WallTime(secondsSinceEpoch: -62_167_219_201)) == nil)
    }

    @Test("IMF-fixdate agrees with Foundation on random instants")
    func randomDates() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let rng = SeededEntropy(seed: 0xDA7E)
        for _ in 0..<2000 {
            // 1900 ... 2200, where Foundation's proleptic Gregorian calendar applies.
            let seconds = Int64(rng.next64() % 9_467_280_000) - 2_208_988_800
            let ours = HTTPDate.format(WallTime(secondsSinceEpoch: seconds)).map { text($0) }
            let theirs = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(ours == theirs, "\(seconds)")
        }
    }

    @Test("status, version and method descriptions")
    func descriptions() {
        #expect(HTTPStatus.contentTooLarge.description == "413 Content Too Large")
        #expect(HTTPStatus(code: 431, reasonPhrase: "x") == .requestHeaderFieldsTooLarge)
        #expect(HTTPVersion.http1_0.description == "HTTP/1.0")
        #expect(HTTPMethod.options.description == "OPTIONS")
        #expect(HTTPRequestError.unsupportedVersion(HTTPVersion(major: 2, minor: 0)).description == "unsupported version HTTP/2.0")
    }
}
