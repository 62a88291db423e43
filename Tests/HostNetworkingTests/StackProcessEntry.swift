// The child side of the interop tests: the Swift stack over a TAP device in a test-created namespace, with the
// socket layer's threads on `TAPThreadPlatform`. `StackProcess` (Support.swift) starts this test binary again with
// `--filter stackProcessEntryPoint` and `TAPNET_*` variables; in an ordinary test run this entry point is skipped.
#if canImport(Glibc)
import Glibc
#endif
import HTTP
import HostNetworking
import Interfaces
import Runtime
import Services
import Scheduler
import TCPStack
import Testing

enum ChildEnvironment {
    static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
    static var role: String? { value("TAPNET_ROLE") }
}

@Suite struct StackProcessEntry {
    /// Runs only in a child process started by `StackProcess` (`TAPNET_ROLE` set); skipped otherwise.
    @Test(.enabled(if: ChildEnvironment.role != nil))
    func stackProcessEntryPoint() throws {
        try StackHost.main()
    }
}

/// One line for the parent: `TAPNET <text>`, flushed at once.
func report(_ text: String) {
    fputs("TAPNET " + text + "\n", stdout)
    fflush(stdout)
}

/// Deterministic test bytes: a xorshift stream from `seed` (the parent's Python computes the same).
func testBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[i] = UInt8(truncatingIfNeeded: state >> 32)
    }
    return bytes
}

/// FNV-1a, 64-bit: a digest both sides compute cheaply (the parent's Python computes the same).
func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

enum StackHost {
    static func main() throws {
        let role = ChildEnvironment.role ?? ""
        let lifetime = UInt32(ChildEnvironment.value("TAPNET_LIFETIME") ?? "") ?? 60
        alarm(lifetime)  // SIGALRM ends the process: a hard bound, whatever happens
        exitWhenStandardInputCloses()
        guard let name = ChildEnvironment.value("TAPNET_NAMESPACE") else {
            report("ERROR no namespace")
            return
        }
        let namespace = try NetworkNamespace(existing: name)
        let device = try namespace.openTAP(Link.tap, macAddress: Link.stackMAC)
        let platform = TAPThreadPlatform(device: device)
        ThreadSystem.install(ThreadSystem(platform: platform))
        let stack = NetworkStack(
            device: device,
            addressing: .static(IPv4InterfaceConfiguration(address: Link.stackIPv4, prefixLength: Link.prefixLength,
                                                           gateway: Link.hostIPv4)),
            entropy: System.entropy)
        var configuration = TCPConfiguration()
        configuration.minimumRTO = .milliseconds(200)  // as the guest runtime configures it
        let tcp = TCPEngine(configuration: configuration, entropy: System.entropy)
        let network = try DeviceNetwork(stack: stack, tcp: tcp, clock: HostClock())
        platform.onReadable = { network.deviceActivity() }
        network.start()
        switch role {
        case "servers": runServers(network)
        case "client": runClient(network)
        default: report("ERROR unknown role " + role)
        }
    }

    /// A plain pthread (not a unikernel thread) that ends the process when the parent closes our standard input.
    static func exitWhenStandardInputCloses() {
        var thread = pthread_t()
        pthread_create(&thread, nil, { _ in
            var byte: UInt8 = 0
            while read(0, &byte, 1) > 0 {}
            fflush(stdout)
            _exit(0)
        }, nil)
        pthread_detach(thread)
    }

    // MARK: Servers

    /// HTTP on 8080 (greeting, POST /echo, /stats), TCP echo on 7 (reports the state after the client's FIN),
    /// and a server-closes-first port 9 (sends `bye\n`, FIN, waits for the client's FIN, reports the state).
    static func runServers(_ network: Network) -> Never {
        listen(network, port: 7) { connection in
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            var total = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { (try? connection.read(into: $0)) ?? -1 }
                if n <= 0 {
                    let state = network.locked { try? network.tcp.state(of: connection.handle) }
                    report("ECHO-END bytes=\(total) eof=\(n == 0) state=\(state.map { "\($0)" } ?? "none")")
                    break
                }
                total += n
                let ok = buffer.withUnsafeBytes { b -> Bool in
                    do throws(SocketError) {
                        try connection.write(UnsafeRawBufferPointer(rebasing: b[0..<n]))
                        return true
                    } catch { return false }
                }
                if !ok { break }
            }
            connection.close()
        }
        listen(network, port: 9) { connection in
            try? connection.write(Array("bye\n".utf8))
            connection.shutdown()
            var sink = [UInt8](repeating: 0, count: 256)
            var n = 1
            while n > 0 { n = sink.withUnsafeMutableBytes { (try? connection.read(into: $0)) ?? -1 } }
            let state = network.locked { try? network.tcp.state(of: connection.handle) }
            report("BYE-END eof=\(n == 0) state=\(state.map { "\($0)" } ?? "none")")
            connection.close()
        }
        let greeting = Array("Hello from Unikernel! Path: ".utf8)
        var limits = HTTPLimits()
        limits.maxBodySize = 2 << 20
        var server: HTTPServer? = nil
        do throws(SocketError) {
            server = try HTTPServer(network: network, port: 8080,
                                    configuration: HTTPServerConfiguration(limits: limits)) { request in
                if request.path.elementsEqual("/echo".utf8) {
                    return HTTPResponse(status: .ok, contentType: "application/octet-stream",
                                        body: .bytes(request.body))
                }
                if request.path.elementsEqual("/stats".utf8) {
                    let connections = network.tcp.connectionCount  // the handler runs with the lock held
                    var text = "tcp_connections=\(connections)\n"
                    text += "http_requests=\(server?.requestsServed ?? 0)\n"
                    text += "http_connections=\(server?.connectionsAccepted ?? 0)\n"
                    text += "tcp_retransmissions=\(network.tcp.statistics.retransmissions)\n"
                    return HTTPResponse(status: .ok, contentType: "text/plain", body: .string(text))
                }
                return HTTPResponse(status: .ok, contentType: "text/plain", body: .bytes(greeting + request.path))
            }
        } catch {
            report("ERROR http listen: \(error)")
            exit(1)
        }
        report("READY")
        server!.run()
    }

    /// Accepts on `port` forever and serves one connection at a time on the accepting thread (the tests use one
    /// at a time). Not a thread per connection: `HostThreadPlatform` has a race when threads end while others are
    /// created (the exiting pthread removes its context from a dictionary the running thread may be changing),
    /// which crashed this process under many short connections.
    static func listen(_ network: Network, port: UInt16, _ serve: @escaping (TCPConnection) -> Void) {
        let listener: TCPListener
        do throws(SocketError) {
            listener = try TCPListener(network: network, port: port)
        } catch {
            report("ERROR listen \(port): \(error)")
            exit(1)
        }
        Thread.spawn(name: "accept-\(port)") {
            while true {
                guard let connection = try? listener.accept() else { continue }
                serve(connection)
            }
        }
    }

    // MARK: Client

    /// The Swift stack as a client of Linux servers on the host side of the link (ports from the environment):
    /// 1 MiB through an echo server in 32 KiB steps, a stream the server ends with its FIN, and a refused connect.
    static func runClient(_ network: Network) {
        let echoPort = UInt16(ChildEnvironment.value("TAPNET_ECHO_PORT") ?? "") ?? 0
        let streamPort = UInt16(ChildEnvironment.value("TAPNET_STREAM_PORT") ?? "") ?? 0
        let streamBytes = Int(ChildEnvironment.value("TAPNET_STREAM_BYTES") ?? "") ?? 0
        let closedPort = UInt16(ChildEnvironment.value("TAPNET_CLOSED_PORT") ?? "") ?? 0
        let host = Link.hostIPv4

        // 1. Echo: 1 MiB out, the same 1 MiB back, in 32 KiB steps.
        do throws(SocketError) {
            let connection = try TCPConnection.connect(network: network, to: host, port: echoPort, timeout: .seconds(10))
            connection.readTimeout = .seconds(20)
            let data = testBytes(count: 1 << 20, seed: 0x5eed)
            var echoed: [UInt8] = []
            echoed.reserveCapacity(data.count)
            var offset = 0
            while offset < data.count {
                let step = min(32 * 1024, data.count - offset)
                try connection.write(Array(data[offset..<(offset + step)]))
                offset += step
                while echoed.count < offset {
                    let chunk = try connection.read(maximum: 65536)
                    if chunk.isEmpty { break }
                    echoed += chunk
                }
            }
            report("ECHO sent=\(data.count) received=\(echoed.count) equal=\(echoed == data) fnv=\(fnv1a(data))")
            connection.close()
        } catch {
            report("ECHO error=\(error)")
        }

        // 2. A stream the server ends first (server-initiated close): read to end of stream.
        do throws(SocketError) {
            let connection = try TCPConnection.connect(network: network, to: host, port: streamPort, timeout: .seconds(10))
            connection.readTimeout = .seconds(20)
            var received: [UInt8] = []
            while true {
                let chunk = try connection.read(maximum: 65536)
                if chunk.isEmpty { break }
                received += chunk
            }
            let state = network.locked { try? network.tcp.state(of: connection.handle) }
            let expected = testBytes(count: streamBytes, seed: 0xfeed)
            report("STREAM received=\(received.count) equal=\(received == expected) state=\(state.map { "\($0)" } ?? "none")")
            connection.close()
        } catch {
            report("STREAM error=\(error)")
        }

        // 3. Nobody listens: the host answers the SYN with RST.
        do throws(SocketError) {
            let connection = try TCPConnection.connect(network: network, to: host, port: closedPort, timeout: .seconds(10))
            report("REFUSED unexpectedly-connected")
            connection.abort()
        } catch {
            report("REFUSED error=\(error)")
        }
        // Give the closes a moment to complete on the wire before the process ends.
        Thread.sleep(for: .milliseconds(300))
        report("DONE")
    }
}
