import Interfaces
import Testing

@testable import HTTP

@Suite("Blocking serve loop over an in-memory transport")
struct ServeTests {
    static let config = HTTPServerConfiguration(serverName: nil)

    @Test("pipelined keep-alive requests, then the peer closes")
    func pipelinedThenEOF() throws {
        let t = MemoryTransport([
            bytes("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"),
            bytes("POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody"),
        ])
        let outcome = serve(connection: t, configuration: Self.config) { r in
            HTTPResponse(body: .string(text(r.path) + ":" + text(r.body)))
        }
        #expect(outcome == HTTPServeOutcome(end: .peerClosed, requestsServed: 3))
        #expect(t.closed == 1)
        let responses = try #require(parseResponses(t.written))
        #expect(responses.map { text($0.body) } == ["/a:", "/b:", "/c:body"])
        // The two pipelined responses went out in one write, the third in another.
        #expect(t.writeCount == 2)
    }

    @Test("a request arriving one byte per read")
    func byteAtATime() throws {
        let raw = bytes("PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        let t = MemoryTransport(raw.map { [$0] })
        let outcome = serve(connection: t, configuration: Self.config) { r in HTTPResponse(body: .bytes(r.body)) }
        #expect(outcome.requestsServed == 1 && outcome.end == .peerClosed)
        #expect(try #require(parseResponses(t.written)).map { text($0.body) } == ["abc"])
    }

    @Test("reads larger than the receive buffer are taken in several reads")
    func smallReceiveBuffer() throws {
        let t = MemoryTransport([bytes("GET /" + String(repeating: "q", count: 300) + " HTTP/1.1\r\nHost: h\r\n\r\n")])
        let config = HTTPServerConfiguration(serverName: nil, receiveBufferSize: 16)
        let outcome = serve(connection: t, configuration: config) { r in HTTPResponse(body: .string("\(r.path.count)")) }
        #expect(outcome.requestsServed == 1)
        #expect(try #require(parseResponses(t.written)).map { text($0.body) } == ["301"])
        #expect(t.reads > 300 / 16)
    }

    @Test("Connection: close ends the loop after the response; HTTP/1.0 too")
    func closes() throws {
        let t = MemoryTransport([bytes("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: h\r\n\r\n")])
        var paths: [String] = []
        let outcome = serve(connection: t, configuration: Self.config) { r in
            paths.append(text(r.path))
            return HTTPResponse(body: "x")
        }
        #expect(outcome == HTTPServeOutcome(end: .responseClosed, requestsServed: 1))
        #expect(paths == ["/"])
        #expect(t.closed == 1)

        let old = MemoryTransport([bytes("GET / HTTP/1.0\r\n\r\n"), bytes("GET / HTTP/1.0\r\n\r\n")])
        #expect(serve(connection: old, configuration: Self.config) { _ in HTTPResponse() }
                == HTTPServeOutcome(end: .responseClosed, requestsServed: 1))
    }

    @Test("an invalid request: error response, then close")
    func invalid() throws {
        let t = MemoryTransport([bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\nBROKEN\r\n\r\n")])
        let outcome = serve(connection: t, configuration: Self.config) { _ in HTTPResponse(body: "fine") }
        #expect(outcome == HTTPServeOutcome(end: .requestError(.malformedRequestLine), requestsServed: 1))
        #expect(try #require(parseResponses(t.written)).map(\.status) == [200, 400])
        #expect(t.closed == 1)
    }

    @Test("a failing write ends the loop and closes")
    func writeFails() {
        let t = MemoryTransport([bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")])
        t.failWritesAfter = 0
        let outcome = serve(connection: t, configuration: Self.config) { _ in HTTPResponse(body: "x") }
        #expect(outcome.end == .writeFailed)
        #expect(t.closed == 1)
        #expect(t.written.isEmpty)
    }

    @Test("many pipelined responses are sent once the send threshold is reached")
    func sendThreshold() throws {
        var input: [UInt8] = []
        for _ in 0..<50 { input += bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n") }
        let t = MemoryTransport([input])
        let config = HTTPServerConfiguration(serverName: nil, sendThreshold: 200)
        let body = String(repeating: "b", count: 100)
        let outcome = serve(connection: t, configuration: config) { _ in HTTPResponse(body: .string(body)) }
        #expect(outcome.requestsServed == 50)
        #expect(t.writeCount > 10)
        #expect(try #require(parseResponses(t.written)).count == 50)
    }

    @Test("a streaming handler sends chunks as it writes them")
    func streamingHandler() throws {
        let t = MemoryTransport([bytes("GET /s HTTP/1.1\r\nHost: h\r\n\r\nGET /t HTTP/1.1\r\nHost: h\r\n\r\n")])
        var writesSeen: [Int] = []
        let outcome = serveStreaming(connection: t, configuration: Self.config) { r, w in
            if text(r.path) == "/s" {
                w.beginStreaming(HTTPResponse(contentType: "text/plain"))
                for part in ["one ", "two ", "three"] {
                    let ok = w.write(bytes(part))
                    #expect(ok)
                    writesSeen.append(t.writeCount)
                }
                w.finish()
                w.respond(HTTPResponse(body: "ignored: already answered"))
            } else {
                w.respond(HTTPResponse(body: "plain"))
                let ok = w.write(bytes("ignored: not streaming"))
                #expect(!ok)
            }
        }
        #expect(outcome.requestsServed == 2)
        #expect(writesSeen == [1, 2, 3])  // each write reached the transport immediately
        let responses = try #require(parseResponses(t.written))
        #expect(responses.map { text($0.body) } == ["one two three", "plain"])
        #expect(responses[0].header("Transfer-Encoding") == "chunked")
    }

    @Test("a handler that does not answer gets 500 sent; an unfinished stream is finished")
    func unanswered() throws {
        let t = MemoryTransport([bytes("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")])
        serveStreaming(connection: t, configuration: Self.config) { r, w in
            if text(r.path) == "/b" {
                w.beginStreaming(HTTPResponse())
                w.write(bytes("partial"))
            }
        }
        let responses = try #require(parseResponses(t.written))
        #expect(responses.map(\.status) == [500, 200])
        #expect(text(responses[1].body) == "partial")
    }

    @Test("the wall clock, when given, provides the Date field")
    func wallClock() throws {
        let t = MemoryTransport([bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")])
        serve(connection: t, configuration: Self.config, wallClock: { WallTime(secondsSinceEpoch: 0) }) { _ in
            HTTPResponse()
        }
        #expect(try #require(parseResponses(t.written)?.first).header("Date") == "Thu, 01 Jan 1970 00:00:00 GMT")
    }
}
