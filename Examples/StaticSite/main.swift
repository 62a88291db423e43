// StaticSite: serves a directory baked into the image at build time, over HTTP on port 8080.
//
//   swift run unikernel build StaticSite --embed Examples/StaticSite/site
//   swift run unikernel run .build-guest/x86_64-unknown-none-elf/release/StaticSite --forward 8080:8080
//   curl http://127.0.0.1:8080/
//
// The files are mounted into a RamFS without copying (read in place from the image, copy-on-write). Request paths
// are normalized by `HTTPStaticPath` (percent-decoded once, `.`/`..` resolved, anything that would leave the root
// refused with 400); directories serve their `index.html`; missing files get 404; `Content-Type` follows the
// file's extension.
import HTTP
import Interfaces
import RamFS
import Runtime
import Services
import TCPStack

let site = RamFS()
do throws(EmbeddedFilesError) {
    try System.mountEmbeddedFiles(into: site)
} catch {
    print("StaticSite: no embedded site: " + error.description)
    System.exit(.failure)
}

func plain(_ status: HTTPStatus, _ text: StaticString) -> HTTPResponse {
    HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: .staticString(text))
}

func serve(_ request: HTTPRequest) -> HTTPResponse {
    guard request.method == .get || request.method == .head else {
        return HTTPResponse(status: .methodNotAllowed, contentType: "text/plain; charset=utf-8",
                            headers: [HTTPHeaderField(name: "Allow", value: "GET, HEAD")],
                            body: "only GET and HEAD\n")
    }
    let path: HTTPStaticPath
    do throws(HTTPPathError) { path = try HTTPStaticPath.normalize(request.path) } catch {
        return plain(.badRequest, "bad path\n")
    }
    var file = path.bytes
    if path.isDirectory { file += Array("index.html".utf8) }
    do throws(FileSystemError) {
        let status = try site.stat(FilePath(decoding: file))
        if status.kind == .directory {
            // A directory named without its trailing slash: redirect so relative links resolve.
            return HTTPResponse(status: .movedPermanently,
                                headers: [HTTPHeaderField(name: "Location", value: .bytes(path.bytes + [0x2F]))],
                                body: "")
        }
        let contents = try site.contentsOfFile(FilePath(decoding: file))
        return HTTPResponse(status: .ok, contentType: .staticString(HTTPContentType.forPath(file)), body: .bytes(contents))
    } catch {
        return error == .noSuchFileOrDirectory || error == .notADirectory
            ? plain(.notFound, "not found\n") : plain(.internalServerError, "cannot read the file\n")
    }
}

do throws(SocketError) {
    let server = try HTTPServer(port: 8080, handler: serve)
    print("StaticSite: serving the embedded site on port 8080")
    server.run()
} catch {
    print("StaticSite: cannot listen on port 8080")
    System.exit(.failure)
}
