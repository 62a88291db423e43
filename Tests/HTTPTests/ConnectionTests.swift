import Interfaces
import Testing

@testable import HTTP

@Suite("Connection state machine")
struct ConnectionTests {
    static let noServer = HTTPServerConfiguration(serverName: nil)

    @Test("pipelined requests in one read are answered in order")
    func pipelining() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let input = bytes(
            "GET /one HTTP/1.1\r\nHost: h\r\n\r\n"
                + "POST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz"
                + "GET /three HTTP/1.1\r\nHost: h\r\n\r\n")
        let run = runConnection(&c, input) { r in HTTPResponse(body: .string("path=\(text(r.path)) body=\(text(r.body))")) }
        #expect(run.requests.map(\.path) == ["/one", "/two", "/three"])
        #expect(run.event == "needMoreInput")
        let responses = try #require(parseResponses(run.output))
        #expect(responses.map { text($0.body) } == ["path=/one body=", "path=/two body=xyz", "path=/three body="])
        #expect(responses.allSatisfy { $0.status == 200 && $0.header("Connection") == nil })
        #expect(c.responsesCompleted == 3)
        #expect(c.isIdle)
    }

    @Test("a pipelined request split across reads waits for its remaining bytes")
    func pipelinedPartial() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let first = runConnection(&c, bytes("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT"))
        #expect(first.requests.map(\.path) == ["/a"])
        #expect(first.event == "needMoreInput")
        #expect(!c.isIdle)
        let second = runConnection(&c, bytes("TP/1.1\r\nHost: h\r\n\r\n"))
        #expect(second.requests.map(\.path) == ["/b"])
        #expect(try #require(parseResponses(first.output + second.output)).count == 2)
    }

    @Test("HTTP/1.1 keeps the connection open by default")
    func keepAlive11() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        for i in 0..<3 {
            let run = runConnection(&c, bytes("GET /\(i) HTTP/1.1\r\nHost: h\r\n\r\n"))
            #expect(run.event == "needMoreInput")
            let r = try #require(parseResponses(run.output)?.first)
            #expect(r.header("Connection") == nil)
            #expect(!c.isClosing)
        }
    }

    @Test("Connection: close from the client closes after the response; later requests are dropped")
    func clientClose() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let run = runConnection(
            &c, bytes("GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(run.requests.map(\.path) == ["/a"])
        #expect(run.event == "close")
        let responses = try #require(parseResponses(run.output))
        #expect(responses.count == 1)
        #expect(responses[0].header("Connection") == "close")
        #expect(c.isClosing)
        #expect(c.nextEvent().isClose)
    }

    @Test("Connection: close from the handler closes too (closeConnection or a Connection field)")
    func serverClose() throws {
        for response in [HTTPResponse(body: "bye", closeConnection: true),
                         HTTPResponse(headers: [HTTPHeaderField(name: "Connection", value: "close")], body: "bye")] {
            var c = HTTPServerConnection(configuration: Self.noServer)
            let run = runConnection(&c, bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")) { _ in
                response
            }
            #expect(run.requests.count == 1)
            #expect(run.event == "close")
            let r = try #require(parseResponses(run.output))
            #expect(r.count == 1 && r[0].header("Connection") == "close" && r[0].count("Connection") == 1)
        }
    }

    @Test("HTTP/1.0 closes unless keep-alive is asked for, and then says keep-alive")
    func http10() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let plain = runConnection(&c, bytes("GET / HTTP/1.0\r\n\r\n"))
        #expect(plain.event == "close")
        #expect(try #require(parseResponses(plain.output)?.first).header("Connection") == "close")

        var k = HTTPServerConnection(configuration: Self.noServer)
        let ka = runConnection(&k, bytes("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
        #expect(ka.event == "needMoreInput")
        let r = try #require(parseResponses(ka.output)?.first)
        #expect(r.header("Connection") == "keep-alive")
        #expect(r.header("Content-Length") == "2")
        // The response line is always HTTP/1.1 (RFC 9110 §6.2).
        #expect(text(ka.output).hasPrefix("HTTP/1.1 200 OK\r\n"))
    }

    @Test("HEAD gets the GET head with Content-Length but no content")
    func head() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let run = runConnection(&c, bytes("HEAD /f HTTP/1.1\r\nHost: h\r\n\r\nGET /f HTTP/1.1\r\nHost: h\r\n\r\n")) { _ in
            HTTPResponse(contentType: "text/plain", body: "twelve bytes")
        }
        let responses = try #require(parseResponses(run.output, headRequests: [0]))
        #expect(responses.count == 2)
        #expect(responses[0].header("Content-Length") == "12" && responses[0].body.isEmpty)
        #expect(responses[1].header("Content-Length") == "12" && text(responses[1].body) == "twelve bytes")
        #expect(text(run.output).hasSuffix("twelve bytes"))
    }

    @Test("204 and 304 carry no content; 204 no Content-Length")
    func noContentStatuses() throws {
        for status in [HTTPStatus.noContent, .notModified] {
            var c = HTTPServerConnection(configuration: Self.noServer)
            let run = runConnection(&c, bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")) { _ in
                HTTPResponse(status: status, body: "ignored")
            }
            #expect(text(run.output) == "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n\r\n")
        }
    }

    @Test("Expect: 100-continue gets an interim response before the content is read")
    func continueSent() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let head = bytes("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let first = runConnection(&c, head)
        #expect(text(first.output) == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(first.requests.isEmpty && first.event == "needMoreInput")
        let second = runConnection(&c, bytes("data"))
        #expect(second.requests.first?.body == bytes("data"))
        #expect(try #require(parseResponses(second.output)).map(\.status) == [200])
        // A client that sends its content without waiting gets no 100.
        let eager = runConnection(&c, head + bytes("data"))
        #expect(try #require(parseResponses(eager.output)).map(\.status) == [200])
    }

    @Test("no 100 Continue for HTTP/1.0, for requests without content, or when the content is too large")
    func continueNotSent() throws {
        var a = HTTPServerConnection(configuration: Self.noServer)
        let old = runConnection(&a, bytes("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx"))
        #expect(try #require(parseResponses(old.output)).map(\.status) == [200])
        var b = HTTPServerConnection(configuration: Self.noServer)
        let empty = runConnection(&b, bytes("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"))
        #expect(try #require(parseResponses(empty.output)).map(\.status) == [200])
        var d = HTTPServerConnection(configuration: HTTPServerConfiguration(limits: HTTPLimits(maxBodySize: 10)))
        let big = runConnection(&d, bytes("PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n"))
        #expect(big.event == "close")
        #expect(try #require(parseResponses(big.output)).map(\.status) == [413])
    }

    @Test("an invalid request gets its error status, Connection: close, and the connection closes",
          arguments: [
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: h\r\nX: " + String(repeating: "a", count: 17000) + "\r\n\r\n", 431),
            ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: br, chunked\r\n\r\n", 501),
            ("GET / HTTP/3.0\r\n\r\n", 505),
          ])
    func errorResponses(request: String, status: Int) throws {
        var c = HTTPServerConnection()
        let run = runConnection(&c, bytes(request + "GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(run.requests.isEmpty)
        #expect(run.event == "close")
        let responses = try #require(parseResponses(run.output))
        #expect(responses.count == 1)
        #expect(responses[0].status == status)
        #expect(responses[0].header("Connection") == "close")
        #expect(responses[0].header("Server") == "swift-unikernel")
        #expect(c.error?.status.code == status)
        // Nothing more is accepted.
        bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").withUnsafeBytes { c.receive($0) }
        #expect(c.nextEvent().isClose)
        #expect(!c.hasPendingOutput)
    }

    @Test("the end of input closes quietly, also in the middle of a request")
    func endOfInput() {
        var idle = HTTPServerConnection()
        #expect(idle.nextEvent().isNeedMoreInput)
        idle.receiveEndOfStream()
        #expect(idle.nextEvent().isClose)
        #expect(idle.closedAtEndOfInput && !idle.hasPendingOutput)

        var partial = HTTPServerConnection()
        bytes("GET / HTTP/1.1\r\nHo").withUnsafeBytes { partial.receive($0) }
        #expect(partial.nextEvent().isNeedMoreInput)
        partial.receiveEndOfStream()
        #expect(partial.nextEvent().isClose)
        #expect(!partial.hasPendingOutput)
        #expect(partial.error == nil)
    }

    @Test("a complete request followed by end of input is still answered")
    func halfClose() throws {
        var c = HTTPServerConnection(configuration: Self.noServer)
        bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").withUnsafeBytes { c.receive($0) }
        c.receiveEndOfStream()
        guard case .request = c.nextEvent() else { Issue.record("expected a request"); return }
        c.respond(HTTPResponse(body: "late"))
        #expect(c.nextEvent().isClose)
        #expect(try #require(parseResponses(Array(c.pendingOutput))).map { text($0.body) } == ["late"])
    }

    @Test("Server and Date fields; handler fields override; framing fields from the handler are dropped")
    func serverAndDate() throws {
        var c = HTTPServerConnection(configuration: HTTPServerConfiguration(serverName: "unikernel-test"))
        bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").withUnsafeBytes { c.receive($0) }
        _ = c.nextEvent()
        let date = WallTime(secondsSinceEpoch: 784_111_777)
        c.respond(
            HTTPResponse(
                contentType: "text/html",
                headers: [HTTPHeaderField(name: "X-Extra", value: .string("1")),
                          HTTPHeaderField(name: "Content-Length", value: "999"),
                          HTTPHeaderField(name: "Transfer-Encoding", value: "chunked")],
                body: "<p>"),
            date: date)
        #expect(text(c.pendingOutput) == "HTTP/1.1 200 OK\r\nServer: unikernel-test\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                + "Content-Type: text/html\r\nX-Extra: 1\r\nContent-Length: 3\r\n\r\n<p>")
        c.consumeOutput(c.pendingOutputCount)

        bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n").withUnsafeBytes { c.receive($0) }
        _ = c.nextEvent()
        c.respond(HTTPResponse(headers: [HTTPHeaderField(name: "server", value: "mine"),
                                         HTTPHeaderField(name: "date", value: "never")]), date: date)
        let r = try #require(parseResponses(Array(c.pendingOutput))?.first)
        #expect(r.count("Server") == 1 && r.header("Server") == "mine")
        #expect(r.count("Date") == 1 && r.header("Date") == "never")
        #expect(HTTPServerConfiguration(serverName: "bad\r\nX: y").serverName == nil)
    }

    @Test("a response field with CR/LF (header injection) or a 1xx status is replaced by 500")
    func invalidResponses() throws {
        let bad: [HTTPResponse] = [
            HTTPResponse(headers: [HTTPHeaderField(name: "X", value: .string("a\r\nSet-Cookie: evil"))]),
            HTTPResponse(headers: [HTTPHeaderField(name: "Bad Name", value: "v")]),
            HTTPResponse(contentType: .bytes([0x74, 0x0A])),
            HTTPResponse(status: .continue),
        ]
        for response in bad {
            var c = HTTPServerConnection(configuration: Self.noServer)
            let run = runConnection(&c, bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")) { _ in response }
            let r = try #require(parseResponses(run.output))
            #expect(r.map(\.status) == [500])
            #expect(!text(run.output).contains("evil"))
        }
    }

    @Test("streaming: chunked for HTTP/1.1, close-delimited for HTTP/1.0, head only for HEAD")
    func streaming() throws {
        func stream(_ request: String) -> (String, HTTPServerConnection) {
            var c = HTTPServerConnection(configuration: Self.noServer)
            bytes(request).withUnsafeBytes { c.receive($0) }
            guard case .request = c.nextEvent() else { return ("", c) }
            c.beginStreamingResponse(HTTPResponse(contentType: "text/plain", body: "ignored"))
            #expect(c.isStreaming)
            for piece in ["Hello", "", ", ", "world"] { bytes(piece).withUnsafeBytes { c.sendBodyChunk($0) } }
            c.finishStreamingResponse()
            return (text(c.pendingOutput), c)
        }
        let (v11, c11) = stream("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(v11 == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nHello\r\n2\r\n, \r\n5\r\nworld\r\n0\r\n\r\n")
        #expect(!c11.isClosing)
        #expect(parseResponses(bytes(v11))?.first.map { text($0.body) } == "Hello, world")

        let (v10, c10) = stream("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(v10 == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, world")
        #expect(c10.isClosing)

        let (head, cHead) = stream("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(head == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(!cHead.isClosing)
    }

    @Test("receive buffer grows for large reads and compacts")
    func bufferManagement() throws {
        var c = HTTPServerConnection(configuration: HTTPServerConfiguration(serverName: nil, receiveBufferSize: 8))
        var input: [UInt8] = []
        for i in 0..<20 { input += bytes("POST /\(i) HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n\(i % 10)\(i % 10)") }
        let run = runConnection(&c, input) { r in HTTPResponse(body: .bytes(r.body)) }
        #expect(run.requests.count == 20)
        #expect(try #require(parseResponses(run.output)).map { text($0.body) }
                == (0..<20).map { "\($0 % 10)\($0 % 10)" })
    }

    @Test("output can be consumed in parts (partial writes)")
    func partialConsume() {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let run = bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        run.withUnsafeBytes { c.receive($0) }
        _ = c.nextEvent()
        c.respond(HTTPResponse(body: "abc"))
        let all = Array(c.pendingOutput)
        c.consumeOutput(5)
        #expect(Array(c.pendingOutput) == Array(all[5...]))
        #expect(c.withPendingOutput { $0.count } == all.count - 5)
        c.consumeOutput(1000)
        #expect(!c.hasPendingOutput)
    }

    /// A per-request reallocation shows up as buffers changing (usually alternating) addresses.
    @Test("buffers are reused: steady-state requests do not reallocate")
    func buffersReused() {
        var c = HTTPServerConnection(configuration: Self.noServer)
        let request = bytes("POST /hello HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
        var addresses: Set<String> = []
        for i in 0..<200 {
            request.withUnsafeBytes { c.receive($0) }
            do {
                // The request must be released before the next event, as the serve loop does; a request kept
                // longer stays intact (copy-on-write) at the price of a copy.
                guard case .request(let r) = c.nextEvent() else { Issue.record("no request"); return }
                #expect(r.body.count == 5)
            }
            c.respond(HTTPResponse(contentType: "text/plain", body: "Hello, world!\n"))
            #expect(c.nextEvent().isNeedMoreInput)
            if i >= 10 {
                let a = [c.input.withUnsafeBytes { "\($0.baseAddress!)" },
                         c.output.storage.withUnsafeBytes { "\($0.baseAddress!)" },
                         c.parser.request.head.storage.withUnsafeBytes { "\($0.baseAddress!)" },
                         c.parser.request.body.withUnsafeBytes { "\($0.baseAddress!)" },
                         c.parser.request.records.withUnsafeBytes { "\($0.baseAddress!)" }]
                addresses.insert(a.joined(separator: ","))
            }
            c.consumeOutput(c.pendingOutputCount)
        }
        #expect(addresses.count == 1, "\(addresses)")
    }
}

extension HTTPServerEvent {
    var isClose: Bool {
        if case .close = self { return true }
        return false
    }

    var isNeedMoreInput: Bool {
        if case .needMoreInput = self { return true }
        return false
    }
}
