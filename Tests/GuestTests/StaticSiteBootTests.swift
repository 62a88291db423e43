import Foundation
import Testing
import UnikernelTool

/// Examples/StaticSite with Examples/StaticSite/site embedded: content types, index files, 404, and no way out of
/// the root.
@Suite(.serialized) struct StaticSiteBootTests {
    @Test func servesTheEmbeddedSiteAndNothingElse() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("staticsite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let image = scratch.appendingPathComponent("StaticSite.elf").path
        let site = Guest.packageRoot.appendingPathComponent("Examples/StaticSite/site").path
        let summary = try Embedder.embed(directory: site, into: try Guest.image("StaticSite"), output: image)
        #expect(summary.files == 5)

        let (guest, port) = try Guest.serve(imagePath: image)
        defer { guest.stop() }
        #expect(guest.waitFor("StaticSite: serving the embedded site on port 8080"), "\(guest.output.text)")

        func get(_ path: String) throws -> (code: String, type: String, body: String) {
            let (_, out) = try Shell.capture(["curl", "-s", "--path-as-is", "-m", "10", "-w",
                                              "\n%{http_code} %{content_type}", "http://127.0.0.1:\(port)\(path)"])
            let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
            let meta = lines.last!.split(separator: " ", maxSplits: 1)
            return (String(meta[0]), meta.count > 1 ? String(meta[1]) : "", lines.dropLast().joined(separator: "\n"))
        }
        let hostIndex = try String(contentsOfFile: site + "/index.html", encoding: .utf8)
        let index = try get("/")
        #expect(index.code == "200" && index.type.hasPrefix("text/html"))
        #expect(index.body == hostIndex)
        #expect(try get("/style.css").type.hasPrefix("text/css"))
        #expect(try get("/data.json").type == "application/json")
        #expect(try get("/images/dot.svg").type == "image/svg+xml")
        #expect(try get("/docs/").body.contains("Directories serve their index.html"))
        #expect(try get("/docs").code == "301")
        #expect(try get("/missing.html").code == "404")
        // Escapes: raw, percent-encoded (either case), doubled slashes, encoded separators, backslashes, NUL.
        for hostile in ["/../Package.swift", "/docs/../../Package.swift", "/%2e%2e/Package.swift",
                        "/%2E%2E/%2E%2E/etc/passwd", "/..%2fPackage.swift", "//etc/passwd", "/docs%2f..%2f..",
                        "/%5c..%5cPackage.swift", "/index.html%00.txt", "/.%2e/Package.swift"] {
            let r = try get(hostile)
            #expect(r.code == "400" || r.code == "404", "\(hostile) -> \(r.code)")
            #expect(!r.body.contains("swift-tools-version") && !r.body.contains("root:"), "\(hostile) leaked \(r.body)")
        }
        let (_, head) = try Shell.capture(["curl", "-s", "-I", "-m", "10", "http://127.0.0.1:\(port)/index.html"])
        #expect(head.contains("Content-Length: \(hostIndex.utf8.count)"))
    }
}
