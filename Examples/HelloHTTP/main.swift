// HelloHTTP: the main example. Answers every request on port 8080 with `Hello from Unikernel! Path: <path>`.
//
//   swift run unikernel build HelloHTTP
//   swift run unikernel run .build-guest/x86_64-unknown-none-elf/release/HelloHTTP --forward 8080:8080 \
//       --append "unikernel.ip=10.0.2.15/24 unikernel.gateway=10.0.2.2"
//   curl http://127.0.0.1:8080/anything
import HTTP
import Runtime
import Services
import TCPStack

let greeting = Array("Hello from Unikernel! Path: ".utf8)

do throws(SocketError) {
    let server = try HTTPServer(port: 8080) { request in
        HTTPResponse(status: .ok, contentType: "text/plain", body: .bytes(greeting + request.path))
    }
    print("HelloHTTP: listening on port 8080" + (System.network?.address.map { " at " + $0.description } ?? ""))
    server.run()
} catch {
    print(error == .notConfigured ? "HelloHTTP: no network device" : "HelloHTTP: cannot listen on port 8080")
    System.exit(.failure)
}
