// NetBench: the network test and benchmark image (Scripts/reliability.sh, Benchmarks/network.py).
//
//   port 8080  HTTP: every path answers `Hello from Unikernel! Path: <path>` (as HelloHTTP does), except
//              /stats, which answers the heap and TCP counters as `name=value` lines
//   port 7     TCP echo: everything received is sent back until the client closes (a thread per connection)
//   port 5001  bulk send: `bytes=N` bytes (default 64 MiB) of the pattern "byte i is i mod 251", then FIN, then
//              waits for the client to close (the protocol of Benchmarks/LinuxPeer's tcpbulk in send mode)
//   port 5002  bulk receive: reads to end of stream, answers `RECEIVED <bytes> <ns>\n` and closes (tcpbulk's
//              receive mode)
//
// Arguments (after the runtime options): `bytes=N` for port 5001, `httpbuffer=N` for the TCP buffers of HTTP
// connections (default 16384 each way, so that 1,000 concurrent connections fit in 64 MiB of buffers).
//
//   swift run unikernel run .build-guest/x86_64-unknown-none-elf/release/NetBench --memory 256 --net tap:tap0 \
//       --append "unikernel.ip=10.77.0.2/24 unikernel.gateway=10.77.0.1"
import HTTP
import Interfaces
import Memory
import Runtime
import Services
import Scheduler
import TCPStack

/// The value of the `name=N` argument, if given.
func numericArgument(_ name: StaticString) -> Int? {
    let key = name.withUTF8Buffer { Array($0) } + [UInt8(ascii: "=")]
    for argument in System.arguments {
        let bytes = Array(argument.utf8)
        guard bytes.count > key.count, bytes[0..<key.count].elementsEqual(key) else { continue }
        var value = 0
        for b in bytes[key.count...] {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            value = value &* 10 &+ Int(b - 0x30)
        }
        return value
    }
    return nil
}

let bulkBytes = numericArgument("bytes") ?? 64 << 20
let httpBuffer = numericArgument("httpbuffer") ?? 16 * 1024
let greeting = Array("Hello from Unikernel! Path: ".utf8)
let statsPath = Array("/stats".utf8)

guard let network = System.network else {
    print("NetBench: no network device")
    System.exit(.failure)
}

// HTTP connections get small buffers (set engine-wide: HTTPServer takes no buffer options); the echo and bulk
// listeners ask for 64 KiB each way explicitly.
network.locked {
    var configuration = network.tcp.configuration
    configuration.sendBufferSize = httpBuffer
    configuration.receiveBufferSize = httpBuffer
    network.tcp.configuration = configuration
}
let bulkOptions = TCPConnectionOptions(noDelay: true, sendBufferSize: 64 * 1024, receiveBufferSize: 64 * 1024)

/// The counters `/stats` reports, one `name=value` per line. Called from the HTTP handler, which runs with the
/// network lock held (so the engine is read directly).
func statistics(server: HTTPServer?) -> String {
    let heap = System.heapStatistics
    let tcp = network.tcp.statistics
    let connections = network.tcp.connectionCount
    var text = "heap_bytes_in_use=\(heap?.bytesInUse ?? -1)\n"
    text += "heap_peak_bytes=\(heap?.peakBytesInUse ?? -1)\n"
    text += "heap_live_allocations=\(heap?.liveAllocations ?? -1)\n"
    text += "heap_capacity=\(heap?.capacity ?? -1)\n"
    text += "tcp_connections=\(connections)\n"
    text += "tcp_segments_received=\(tcp.segmentsReceived)\n"
    text += "tcp_segments_sent=\(tcp.segmentsSent)\n"
    text += "tcp_retransmissions=\(tcp.retransmissions)\n"
    text += "tcp_resets_sent=\(tcp.resetsSent)\n"
    text += "tcp_syn_cookies_sent=\(tcp.synCookiesSent)\n"
    text += "tcp_syn_cookies_accepted=\(tcp.synCookiesAccepted)\n"
    text += "tcp_syn_queue_evictions=\(tcp.synQueueEvictions)\n"
    text += "tcp_syns_dropped=\(tcp.synsDropped)\n"
    text += "tcp_time_wait_evictions=\(tcp.timeWaitEvictions)\n"
    text += "tcp_send_failures=\(tcp.sendFailures)\n"
    text += "http_requests=\(server?.requestsServed ?? 0)\n"
    text += "http_connections=\(server?.connectionsAccepted ?? 0)\n"
    return text
}

/// Accepts connections on `port` forever; `serve` runs on its own thread per connection when `concurrent`, else
/// on the accepting thread, one connection at a time.
func listen(port: UInt16, concurrent: Bool, _ serve: @escaping (TCPConnection) -> Void) {
    let listener: TCPListener
    do throws(SocketError) {
        listener = try TCPListener(network: network, port: port, backlog: 16, options: bulkOptions)
    } catch {
        print("NetBench: cannot listen on port \(port): \(error)")
        System.exit(.failure)
    }
    Thread.spawn(name: "accept-\(port)", stackSize: 32 * 1024) {
        while true {
            guard let connection = try? listener.accept() else { continue }
            if concurrent {
                Thread.spawn(name: "conn-\(port)", stackSize: 32 * 1024) { serve(connection) }.detach()
            } else {
                serve(connection)
            }
        }
    }
}

/// Port 7: echo until the client closes.
listen(port: 7, concurrent: true) { connection in
    var buffer = [UInt8](repeating: 0, count: 32 * 1024)
    while true {
        let result: Result<Int, SocketError> = buffer.withUnsafeMutableBytes { b in
            do throws(SocketError) { return .success(try connection.read(into: b)) } catch { return .failure(error) }
        }
        guard case .success(let n) = result, n > 0 else { break }
        let written: Result<Void, SocketError> = buffer.withUnsafeBytes { b in
            do throws(SocketError) {
                return .success(try connection.write(UnsafeRawBufferPointer(rebasing: b[0..<n])))
            } catch { return .failure(error) }
        }
        if case .failure = written { break }
    }
    connection.close()
}

/// The stream pattern: byte k of `pattern` is k mod 251, so any chunk of at most `chunk` bytes starting at
/// stream offset i is `pattern[i % 251 ..< i % 251 + length]`.
let period = 251
let chunk = period * 256
let pattern: [UInt8] = (0..<(chunk + period)).map { UInt8($0 % period) }
var bulkSendCount = 0
var bulkReceiveCount = 0

/// Port 5001: send `bulkBytes` of the pattern, FIN, wait for the client's close.
listen(port: 5001, concurrent: false) { connection in
    let start = System.now
    var sent = 0
    var ok = true
    pattern.withUnsafeBytes { p in
        while sent < bulkBytes {
            let n = min(chunk, bulkBytes - sent)
            let offset = sent % period
            do throws(SocketError) {
                try connection.write(UnsafeRawBufferPointer(rebasing: p[offset..<(offset + n)]))
            } catch {
                ok = false
                return
            }
            sent += n
        }
    }
    connection.shutdown()
    var sink = [UInt8](repeating: 0, count: 4096)
    while ok {
        let n = sink.withUnsafeMutableBytes { (try? connection.read(into: $0)) ?? 0 }
        if n == 0 { break }
    }
    connection.close()
    bulkSendCount += 1
    let elapsed = (System.now - start).nanosecondsClamped
    print("# netbench: send connection \(bulkSendCount): \(sent) bytes in \(elapsed) ns" + (ok ? "" : " (failed)"))
}

/// Port 5002: count bytes to end of stream, answer RECEIVED <bytes> <ns>.
listen(port: 5002, concurrent: false) { connection in
    let start = System.now
    var received = 0
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let n = buffer.withUnsafeMutableBytes { (try? connection.read(into: $0)) ?? -1 }
        if n <= 0 { break }
        received += n
    }
    let elapsed = (System.now - start).nanosecondsClamped
    try? connection.write(Array("RECEIVED \(received) \(elapsed)\n".utf8))
    connection.close()
    bulkReceiveCount += 1
    print("# netbench: receive connection \(bulkReceiveCount): \(received) bytes in \(elapsed) ns")
}

var httpServer: HTTPServer? = nil
do throws(SocketError) {
    var limits = HTTPLimits()
    limits.maxBodySize = 2 << 20
    let server = try HTTPServer(network: network, port: 8080, backlog: 1024,
                                configuration: HTTPServerConfiguration(limits: limits)) { request in
        if request.path.elementsEqual(statsPath) {
            return HTTPResponse(status: .ok, contentType: "text/plain", body: .string(statistics(server: httpServer)))
        }
        return HTTPResponse(status: .ok, contentType: "text/plain", body: .bytes(greeting + request.path))
    }
    httpServer = server
    network.locked { network.pollLocked() }  // applies a static address, so that it can be printed
    print("NetBench: ready" + (network.address.map { " at " + $0.description } ?? "")
          + " (http 8080, echo 7, bulk send 5001 with \(bulkBytes) bytes, bulk receive 5002)")
    server.run()
} catch {
    print("NetBench: cannot listen on port 8080: \(error)")
    System.exit(.failure)
}
