import HTTP
import Interfaces
import Runtime
import Scheduler
import TCPStack

/// An HTTP/1.1 server on the system's network: one thread serves every connection, driven by TCP readiness events
/// (no thread per connection, no copy between TCP and HTTP beyond the receive buffer).
///
/// ```swift
/// let server = try HTTPServer(port: 8080) { request in
///     HTTPResponse(status: .ok, contentType: "text/plain", body: .string("Hello! Path: " + request.path))
/// }
/// server.run()
/// ```
///
/// Each connection is an `HTTPServerConnection` (module HTTP): requests are parsed with limits, pipelined requests
/// are answered in order, keep-alive follows HTTP/1.0 and 1.1 rules, bad requests get 400/413/431 and a close.
/// Responses are queued into TCP's send buffer as far as it has room; the rest waits for a writable event.
/// Connections use `TCP_NODELAY` semantics (no Nagle), so a response is never held back waiting for an ACK.
public final class HTTPServer: NetworkEventSink {
    /// The network served on.
    public let network: Network
    /// The listening port.
    public let port: UInt16
    let listener: TCPListenerHandle
    let handler: (HTTPRequest) -> HTTPResponse
    let configuration: HTTPServerConfiguration
    /// One accepted connection's state. A class, so the table holds one reference per connection and `service`
    /// works on the state in place: no copy of the state machine (and no retain per stored reference in it) is
    /// made to read or write an entry.
    private final class Client {
        let handle: TCPConnectionHandle
        var http: HTTPServerConnection
        init(handle: TCPConnectionHandle, http: HTTPServerConnection) {
            self.handle = handle
            self.http = http
        }
    }
    /// Accepted connections by TCP slot (`TCPConnectionHandle.slot`).
    private var connections: [Client?] = []
    private var pending = RingQueue<TCPEvent>(capacity: 64)
    private let wake = Event()
    private var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    /// Requests answered so far.
    public private(set) var requestsServed: UInt64 = 0
    /// Connections accepted so far.
    public private(set) var connectionsAccepted: UInt64 = 0

    /// Listens on `port` of `network` (the system's network by default).
    public init(network: Network? = nil, port: UInt16, backlog: Int = 256,
                configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                handler: @escaping (HTTPRequest) -> HTTPResponse) throws(SocketError) {
        guard let network = network ?? System.network else { throw .notConfigured }
        self.network = network
        self.port = port
        self.handler = handler
        self.configuration = configuration
        network.lock.lock()
        defer { network.lock.unlock() }
        do throws(TCPError) {
            listener = try network.tcp.listen(port: port, backlog: backlog, options: TCPConnectionOptions(noDelay: true))
        } catch { throw .tcp(error) }
        network.setSink(self, for: listener)
    }

    /// Called with the network lock held by whichever thread polled: queue the event, wake the server thread.
    public func networkEvent(_ event: TCPEvent) {
        pending.append(event)
        wake.signal()
    }

    /// Serves forever on the calling thread.
    public func run() -> Never {
        while true {
            network.lock.lock()
            acceptAll()
            while let event = pending.popFirst() {
                if case .connection(let h) = event { service(h) } else { acceptAll() }
            }
            network.pollLocked()  // transmit what was queued
            let idle = pending.isEmpty
            network.lock.unlock()
            if idle { wake.wait() }
        }
    }

    private func acceptAll() {
        while let h = try? network.tcp.accept(listener) {
            connectionsAccepted &+= 1
            while connections.count <= h.slot { connections.append(nil) }
            connections[h.slot] = Client(handle: h, http: HTTPServerConnection(configuration: configuration))
            network.setSink(self, for: h)
            service(h)
        }
    }

    /// Reads what has arrived, answers complete requests, sends what fits, closes finished connections.
    private func service(_ h: TCPConnectionHandle) {
        guard h.slot < connections.count, let entry = connections[h.slot], entry.handle == h else { return }
        var finished = false
        reading: while true {
            let result = buffer.withUnsafeMutableBytes { b in (try? network.tcp.receive(h, into: b)) ?? .endOfStream }
            switch result {
            case .bytes(let n):
                buffer.withUnsafeBytes { entry.http.receive(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            case .endOfStream:
                entry.http.receiveEndOfStream()
                break reading
            case .wouldBlock:
                break reading
            }
            if n(result) < buffer.count { break }
        }
        events: while true {
            switch entry.http.nextEvent() {
            case .request(let request):
                entry.http.respond(handler(request))
                requestsServed &+= 1
            case .needMoreInput:
                break events
            case .close:
                finished = true
                break events
            }
        }
        // Send as much pending output as TCP takes now; the rest goes out on a later writable event.
        while entry.http.hasPendingOutput {
            let taken = entry.http.withPendingOutput { bytes in (try? network.tcp.send(h, bytes)) ?? -1 }
            if taken <= 0 {
                if taken < 0 { finished = true }  // the connection failed
                break
            }
            entry.http.consumeOutput(taken)
        }
        if finished && !entry.http.hasPendingOutput || (try? network.tcp.error(of: h)) != nil {
            network.setSink(nil, for: h)
            try? network.tcp.close(h)
            connections[h.slot] = nil
        }
    }

    private func n(_ result: TCPReceiveResult) -> Int {
        if case .bytes(let count) = result { return count }
        return 0
    }
}
