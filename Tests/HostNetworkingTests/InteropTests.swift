import Foundation
import HostNetworking
import Testing

/// Linux's TCP (curl, Python sockets) against the Swift stack over a TAP device, all inside a namespace each test
/// creates and deletes. The Swift stack runs in a child process of the test (see `StackProcess`).
@Suite(.serialized, .enabled(if: namespacesAvailable, "needs root, /dev/net/tun and iproute2"))
struct InteropTests {
    /// Runs `body` with the Swift servers (HTTP 8080, echo 7, server-closes-first 9) up in a fresh namespace.
    func withServers(_ body: (NetworkNamespace, StackProcess) throws -> Void) throws {
        try withLinkNamespace { namespace in
            let stack = try StackProcess(role: "servers", namespace: namespace)
            defer { stack.stop() }
            let ready = stack.waitFor("READY", seconds: 30)
            try #require(ready != nil, "\(stack.output.value)")
            try body(namespace, stack)
        }
    }

    /// `/stats` of the Swift HTTP server, fetched with curl.
    func stats(_ namespace: NetworkNamespace) -> [String: Int] {
        let r = namespace.run(["curl", "-s", "-m", "10", "http://\(Link.stackAddress):8080/stats"])
        return parseCounters(r.output)
    }

    /// Waits until the Swift engine holds `expected` connections (the `/stats` request's own included).
    func waitForConnections(_ namespace: NetworkNamespace, _ expected: Int, seconds: Double = 5) -> Int? {
        let deadline = Date().addingTimeInterval(seconds)
        var last: Int? = nil
        while Date() < deadline {
            last = stats(namespace)["tcp_connections"]
            if last == expected { return last }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return last
    }

    @Test func curlGetsTheGreeting() throws {
        try withServers { namespace, stack in
            let r = namespace.run(["curl", "-s", "-i", "-m", "10", "http://\(Link.stackAddress):8080/hello/world?x=1"])
            #expect(r.succeeded, "\(r.output)")
            #expect(r.output.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(r.output)")
            #expect(r.output.hasSuffix("\r\n\r\nHello from Unikernel! Path: /hello/world"), "\(r.output)")
            // Linux resolved the stack's address with ARP, and the stack answers ping (ICMP echo).
            let ping = namespace.run(["ping", "-c", "2", "-i", "0.2", "-W", "2", Link.stackAddress])
            #expect(ping.succeeded, "\(ping.output)")
            let neighbour = namespace.run(["ip", "neigh", "show", Link.stackAddress])
            #expect(neighbour.output.contains("02:00:00:77:00:02"), "\(neighbour.output)")
        }
    }

    @Test func curlUploadsOneMegabyteAndGetsItBackByteExact() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hnt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var generator = SystemRandomNumberGenerator()
        let upload = Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let uploadFile = directory.appendingPathComponent("upload.bin")
        let downloadFile = directory.appendingPathComponent("download.bin")
        try upload.write(to: uploadFile)
        try withServers { namespace, _ in
            let r = namespace.run(["curl", "-s", "-m", "30", "-o", downloadFile.path, "-w", "%{http_code} %{size_download}",
                                   "--data-binary", "@" + uploadFile.path, "-H", "Content-Type: application/octet-stream",
                                   "http://\(Link.stackAddress):8080/echo"])
            #expect(r.succeeded && r.output == "200 1048576", "\(r.output)")
            let download = try Data(contentsOf: downloadFile)
            #expect(download == upload)
        }
    }

    /// Python: 1 MiB through the raw TCP echo port, sent and received concurrently; the client closes first.
    @Test func pythonEchoesOneMegabyteAndClosesFirst() throws {
        let script = #"""
        import hashlib, os, socket, sys, threading
        data = os.urandom(1 << 20)
        s = socket.create_connection((sys.argv[1], 7), timeout=20)
        def send():
            s.sendall(data)
        t = threading.Thread(target=send); t.start()
        got = bytearray()
        while len(got) < len(data):
            chunk = s.recv(65536)
            if not chunk: break
            got += chunk
        t.join()
        print("echo", len(got), got == data, hashlib.sha256(got).hexdigest() == hashlib.sha256(data).hexdigest())
        local = s.getsockname()[1]
        s.close()                       # client-initiated close: Linux sends the first FIN
        print("localport", local)
        """#
        try withServers { namespace, stack in
            let r = namespace.run(["python3", "-c", script, Link.stackAddress], timeout: .seconds(60))
            #expect(r.succeeded && r.output.contains("echo 1048576 True True"), "\(r.output)")
            // The Swift side saw the end of stream in CLOSE-WAIT (passive close)...
            let end = stack.waitFor("ECHO-END", seconds: 10)
            #expect(end == "ECHO-END bytes=1048576 eof=true state=CLOSE-WAIT", "\(stack.output.value)")
            // ...Linux, the active closer, holds the connection in TIME-WAIT...
            let port = r.output.split(separator: "\n").first { $0.hasPrefix("localport ") }.map { String($0.dropFirst(10)) } ?? "?"
            let ss = namespace.run(["ss", "-tan", "state", "time-wait", "sport", "= :\(port)"])
            #expect(ss.output.contains("\(Link.stackAddress):7"), "\(ss.output)")
            // ...and the Swift engine has forgotten it (only the /stats connection is left).
            #expect(waitForConnections(namespace, 1) == 1)
        }
    }

    /// The Swift server closes first (port 9 sends `bye` and its FIN); Python reads to end of stream, then closes.
    @Test func serverInitiatedClose() throws {
        let script = #"""
        import socket, sys
        s = socket.create_connection((sys.argv[1], 9), timeout=10)
        data = b""
        while True:
            chunk = s.recv(100)
            if not chunk: break         # the server's FIN
            data += chunk
        print("got", data)
        local = s.getsockname()[1]
        s.close()
        print("localport", local)
        """#
        try withServers { namespace, stack in
            let r = namespace.run(["python3", "-c", script, Link.stackAddress])
            #expect(r.succeeded && r.output.contains("got b'bye\\n'"), "\(r.output)")
            // The Swift side, the active closer, reached TIME-WAIT after Linux's FIN...
            let end = stack.waitFor("BYE-END", seconds: 10)
            #expect(end == "BYE-END eof=true state=TIME-WAIT", "\(stack.output.value)")
            // ...so Linux keeps no TIME-WAIT for it, and the Swift engine still holds it (plus /stats's own).
            let port = r.output.split(separator: "\n").first { $0.hasPrefix("localport ") }.map { String($0.dropFirst(10)) } ?? "?"
            let ss = namespace.run(["ss", "-tan", "state", "time-wait", "sport", "= :\(port)"])
            #expect(!ss.output.contains("\(Link.stackAddress):9"), "\(ss.output)")
            #expect(stats(namespace)["tcp_connections"] == 2)
        }
    }

    /// HTTP with `Connection: close`: the server closes after the response; the client reads to end of stream.
    @Test func httpConnectionCloseEndsWithTheServersFin() throws {
        let script = #"""
        import socket, sys
        s = socket.create_connection((sys.argv[1], 8080), timeout=10)
        s.sendall(b"GET /closing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        s.close()
        print(data.endswith(b"Hello from Unikernel! Path: /closing"), b"Connection: close" in data)
        """#
        try withServers { namespace, _ in
            let r = namespace.run(["python3", "-c", script, Link.stackAddress])
            #expect(r.succeeded && r.output.hasPrefix("True True"), "\(r.output)")
        }
    }

    /// 500 sequential HTTP connections (new connection, GET, client closes) and 200 sequential echo connections;
    /// every answer is right, and the engine's connection count returns to where it started.
    @Test func manySequentialConnections() throws {
        let script = #"""
        import http.client, socket, sys
        host = sys.argv[1]
        for i in range(500):
            c = http.client.HTTPConnection(host, 8080, timeout=10)
            c.request("GET", f"/seq/{i}")
            r = c.getresponse()
            body = r.read().decode()
            assert r.status == 200 and body == f"Hello from Unikernel! Path: /seq/{i}", (i, r.status, body)
            c.close()
        for i in range(200):
            s = socket.create_connection((host, 7), timeout=10)
            msg = f"message {i}".encode() * 10
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                chunk = s.recv(4096)
                if not chunk: break
                got += chunk
            assert got == msg, (i, got)
            s.close()
        print("sequential ok")
        """#
        try withServers { namespace, _ in
            let r = namespace.run(["python3", "-c", script, Link.stackAddress], timeout: .seconds(120))
            #expect(r.succeeded && r.output.contains("sequential ok"), "\(r.output)")
            #expect(waitForConnections(namespace, 1) == 1)
            let counters = stats(namespace)
            #expect(counters["http_requests"] == 501, "\(counters)")  // 500 + this /stats request
        }
    }

    /// The Swift stack as a client of Linux (Python) servers on the host side of the link.
    @Test func swiftClientTalksToLinuxServers() throws {
        let server = #"""
        import hashlib, socket, sys, threading
        host, echo_port, stream_port, stream_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        def xorshift_bytes(count, seed):
            out = bytearray(count); state = seed; mask = (1 << 64) - 1
            for i in range(count):
                state ^= (state << 13) & mask
                state ^= state >> 7
                state ^= (state << 17) & mask
                out[i] = (state >> 32) & 0xff
            return bytes(out)
        stream = xorshift_bytes(stream_bytes, 0xfeed)
        def fnv(data):
            h = 0xcbf29ce484222325
            for b in data: h = ((h ^ b) * 0x100000001b3) & ((1 << 64) - 1)
            return h
        def echo():
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((host, echo_port)); l.listen(1)
            c, peer = l.accept()
            total = bytearray()
            while True:
                d = c.recv(65536)
                if not d: break
                total += d
                c.sendall(d)
            c.close()
            print("echo-server", len(total), fnv(total), peer[0], flush=True)
        def streamer():
            l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind((host, stream_port)); l.listen(1)
            c, _ = l.accept()
            c.sendall(stream)
            c.close()                   # server-initiated close
            print("stream-server sent", len(stream), flush=True)
        threads = [threading.Thread(target=echo), threading.Thread(target=streamer)]
        for t in threads: t.start()
        print("LISTENING", flush=True)
        for t in threads: t.join()
        """#
        try withLinkNamespace { namespace in
            let python = try BackgroundProcess(in: namespace, ["python3", "-u", "-c", server, Link.hostAddress,
                                                               "5007", "5008", "262144"])
            defer { python.stop() }
            #expect(python.waitFor("LISTENING", seconds: 20), "\(python.output.value)")
            let stack = try StackProcess(role: "client", namespace: namespace, environment: [
                "TAPNET_ECHO_PORT": "5007", "TAPNET_STREAM_PORT": "5008", "TAPNET_STREAM_BYTES": "262144",
                "TAPNET_CLOSED_PORT": "5009",
            ])
            defer { stack.stop() }
            let status = stack.waitForExit(seconds: 60)
            #expect(status == 0, "\(stack.output.value)")
            let echo = stack.reports.first { $0.hasPrefix("ECHO ") } ?? ""
            #expect(echo.hasPrefix("ECHO sent=1048576 received=1048576 equal=true fnv="), "\(stack.output.value)")
            let stream = stack.reports.first { $0.hasPrefix("STREAM ") } ?? ""
            #expect(stream == "STREAM received=262144 equal=true state=CLOSE-WAIT", "\(stack.output.value)")
            let refused = stack.reports.first { $0.hasPrefix("REFUSED ") } ?? ""
            #expect(refused.contains("refused"), "\(refused)")
            // The Linux echo server saw the same bytes (same FNV digest) from the Swift stack's address.
            #expect(python.waitForExit(seconds: 10) == 0, "\(python.output.value)")
            let fnv = echo.split(separator: "=").last.map(String.init) ?? "?"
            #expect(python.output.value.contains("echo-server 1048576 \(fnv) \(Link.stackAddress)"),
                    "\(python.output.value) vs \(echo)")
        }
    }
}
