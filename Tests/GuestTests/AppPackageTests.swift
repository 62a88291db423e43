import Foundation
import Testing
import UnikernelTool

#if canImport(Glibc)
import Glibc
#endif

/// Boot tests for applications in their own package (issue 7): a package created by `unikernel init`, outside this
/// repository, depends on a temporary git clone of it by `file://` URL and version tag; inside it,
/// `swift run unikernel` (the dependency's executable product) builds, inspects and boots the image (QEMU TCG,
/// machine microvm).
@Suite(.serialized) struct AppPackageTests {
    @Test(.timeLimit(.minutes(30)))
    func helloPackageBuildsAndBootsFromATaggedFileURLDependency() throws {
        let workspace = try AppWorkspace()
        defer { workspace.remove() }
        let app = try workspace.createApplication(directoryName: "greeter", template: .hello)
        #expect(app.productName == "Greeter")

        let image = try workspace.build(app)
        #expect(image == app.directory.appendingPathComponent(app.imagePath).path)
        // The toolset links with the linker script of the checkout the guest build compiled, inside the application.
        let toolset = try JSONSerialization.jsonObject(
            with: Data(contentsOf: app.directory.appendingPathComponent(".build-guest/guest-toolset.json")))
        let linkerOptions = try #require(((toolset as? [String: Any])?["linker"] as? [String: Any])?["extraCLIOptions"]
            as? [String])
        let script = try #require(linkerOptions.firstIndex(of: "-T").map { linkerOptions[$0 + 1] })
        #expect(script == app.directory.appendingPathComponent(
            ".build-guest/checkouts/swift-unikernel/Linker/unikernel.ld").path)

        let inspect = try workspace.tool(["inspect", image], in: app, timeout: 300)
        #expect(inspect.status == 0, "\(inspect.output)")
        #expect(inspect.output.contains("XEN_ELFNOTE_PHYS32_ENTRY ok"))

        let run = try Guest.exclusively {
            try workspace.tool(["run", image, "--machine", "microvm", "--append", "one \"two words\"",
                                "--timeout", "60"], in: app, timeout: 300)
        }
        let lines = run.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(run.status == 0, "\(run.output)")
        #expect(lines.contains("Hello from Greeter!"), "\(run.output)")
        #expect(lines.contains("argument: one"))
        #expect(lines.contains("argument: two words"))
    }

    /// Boots the http template as its README's first command does (address from QEMU's DHCP server). Always runs:
    /// the repository declares the `HTTPServer` the template is written against, and the test fails if it stops
    /// doing so.
    @Test(.timeLimit(.minutes(30)))
    func httpPackageAnswersCurlThroughAPortForward() throws {
        #expect(AppWorkspace.httpTemplateAPIExists, "no library module declares the HTTPServer the template uses")
        let workspace = try AppWorkspace()
        defer { workspace.remove() }
        let app = try workspace.createApplication(directoryName: "web-service", template: .http)
        let image = try workspace.build(app)
        let port = try AppWorkspace.freeLocalPort()
        let pidFile = workspace.root.appendingPathComponent("qemu.pid")
        // The tool `swift run` built for the application. (Run directly, not through `swift run`: while a
        // `swift run` child is alive, Foundation in this process does not notice other children ending, so every
        // curl would look hung until the guest stopped.)
        let tool = app.directory.appendingPathComponent(".build/debug/unikernel").path
        try #require(FileManager.default.isExecutableFile(atPath: tool))
        try Guest.exclusively {
            let guest = try BoundedProcess(
                [tool, "run", image, "--forward", "\(port):8080", "--timeout", "120",
                 "--qemu-arg", "-pidfile", "--qemu-arg", pidFile.path],
                in: app.directory)
            defer {
                // Stop QEMU with SIGKILL (the tool then exits): a QEMU started from the test process inherits its
                // blocked SIGTERM and would outlive a SIGTERM as an orphan.
                if let text = try? String(contentsOf: pidFile, encoding: .utf8),
                   let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    kill(pid, SIGKILL)
                }
                _ = guest.wait(timeout: 20)
            }
            // Like the README's user: wait until the service says it listens, then ask it.
            let listening = "WebService: listening on port 8080"
            let deadline = Date().addingTimeInterval(120)
            while !guest.output.contains(listening) && guest.isRunning && Date() < deadline { usleep(50_000) }
            try #require(guest.output.contains(listening), "console:\n\(guest.output)")
            for path in ["/", "/hello/unikernel"] {
                let answer = try AppWorkspace.get(port: port, path: path, within: 30)
                #expect((try? answer.get()) == "Hello from Unikernel! Path: \(path)",
                        "\(answer)\nconsole so far:\n\(guest.output)")
            }
        }
    }
}

/// The pieces the HTTP case relies on, checked on their own so that a failure there points at the guest: a free
/// port, `get` against a port nobody listens on and against a real HTTP server (Python's), stopping a child process.
@Suite struct AppPackageHarnessTests {
    @Test func portsRequestsAndProcessesOfTheHTTPCaseWork() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("unikernel-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("Hello from Python".utf8).write(to: directory.appendingPathComponent("hello"))

        let port = try AppWorkspace.freeLocalPort()
        #expect(port > 0)
        #expect(try AppWorkspace.get(port: port, path: "/hello", within: 1).isFailure, "nothing listens yet")
        let server = try BoundedProcess(["python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1",
                                         "--directory", directory.path], in: nil)
        #expect(try AppWorkspace.get(port: port, path: "/hello", within: 20).get() == "Hello from Python")
        #expect(server.wait(timeout: 0.1) == nil, "a process still running at the deadline is stopped")
        #expect(try AppWorkspace.get(port: port, path: "/hello", within: 1).isFailure, "the server is gone")
    }
}

/// A temporary directory outside the repository holding a tagged clone of this repository (the working tree as it
/// is, committed) and the application packages created against it. `remove()` deletes all of it.
struct AppWorkspace {
    /// The temporary directory.
    let root: URL
    /// The clone: `<root>/swift-unikernel`, tagged `0.1.0`.
    let clone: URL

    /// Whether the socket-level server API that the http template is written against exists here.
    static var httpTemplateAPIExists: Bool { ApplicationTemplate.http.isAvailable(in: Guest.packageRoot) }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("unikernel-app-\(UUID().uuidString)")
        clone = root.appendingPathComponent("swift-unikernel")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        do {
            try Self.cloneWorkingTree(of: Guest.packageRoot, to: clone)
        } catch {
            remove()
            throw error
        }
    }

    /// Deletes the workspace, and the lock files SwiftPM left for its packages in the temporary directory
    /// (named after the package path with `/` as `_`).
    func remove() {
        let manager = FileManager.default
        try? manager.removeItem(at: root)
        let prefix = root.path.replacingOccurrences(of: "/", with: "_")
        let temporary = manager.temporaryDirectory
        for name in (try? manager.contentsOfDirectory(atPath: temporary.path)) ?? [] where name.hasPrefix(prefix) {
            try? manager.removeItem(at: temporary.appendingPathComponent(name))
        }
    }

    /// Clones `repository`, brings the clone to the working tree's state (uncommitted and untracked files
    /// included, ignored ones not), commits that and tags it `0.1.0`, so the test builds what is on disk.
    static func cloneWorkingTree(of repository: URL, to clone: URL) throws {
        try check(["git", "clone", "-q", "--no-hardlinks", repository.path, clone.path], in: nil)
        let listing = try check(["git", "-C", repository.path, "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], in: nil)
        let manager = FileManager.default
        for path in Set(listing.split(separator: "\0").map(String.init)) {
            let source = repository.appendingPathComponent(path)
            let destination = clone.appendingPathComponent(path)
            try? manager.removeItem(at: destination)
            guard manager.fileExists(atPath: source.path) else { continue }  // deleted in the working tree
            try manager.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try manager.copyItem(at: source, to: destination)
        }
        let git = ["git", "-C", clone.path, "-c", "user.name=AppPackageTests", "-c", "user.email=tests@example.invalid"]
        try check(git + ["add", "-A"], in: nil)
        try check(git + ["commit", "-q", "--allow-empty", "-m", "Working tree under test"], in: nil)
        try check(git + ["tag", "0.1.0"], in: nil)
    }

    /// Creates an application package with the tool's `init` code, depending on the clone by `file://` URL and
    /// `from: "0.1.0"`.
    func createApplication(directoryName: String, template: ApplicationTemplate) throws -> ApplicationPackage {
        let dependency = UnikernelDependency(location: .url("file://" + clone.path),
                                             requirement: .from(ReleaseVersion(0, 1, 0)))
        let app = ApplicationPackage(directory: root.appendingPathComponent(directoryName), template: template,
                                     dependency: dependency)
        try app.write()
        return app
    }

    /// `swift run unikernel build <product>` inside the application; returns the image path (the last line).
    /// Holds the boot lock: a whole package build keeps both cores busy for minutes, which would spoil the
    /// timing-sensitive boot tests (sleep lateness, timer periods) running meanwhile.
    func build(_ app: ApplicationPackage) throws -> String {
        let result = try Guest.exclusively {
            try tool(["build", app.productName, "--quiet"], in: app, timeout: 1500)
        }
        try #require(result.status == 0, "unikernel build failed:\n\(result.output.suffix(4000))")
        let image = try #require(result.output.split(separator: "\n").last.map(String.init))
        try #require(FileManager.default.fileExists(atPath: image), "no image at \(image):\n\(result.output)")
        return image
    }

    /// `swift run unikernel <arguments>` inside the application, stopped after `timeout` seconds.
    func tool(_ arguments: [String], in app: ApplicationPackage, timeout: Double) throws -> (status: Int32, output: String) {
        let process = try BoundedProcess(["swift", "run", "-q", "unikernel"] + arguments, in: app.directory)
        guard let status = process.wait(timeout: timeout) else {
            Issue.record("`unikernel \(arguments.joined(separator: " "))` did not finish within \(timeout) s")
            return (-1, process.output)
        }
        return (status, process.output)
    }

    /// Runs a command that must succeed within five minutes; returns its output.
    @discardableResult
    static func check(_ arguments: [String], in directory: URL?) throws -> String {
        let process = try BoundedProcess(arguments, in: directory)
        let status = process.wait(timeout: 300)
        let outcome = status.map { "status \($0)" } ?? "timeout"
        try #require(status == 0, "\(arguments.joined(separator: " ")) failed (\(outcome)):\n\(process.output)")
        return process.output
    }

    /// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's choice for port 0).
    static func freeLocalPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        try #require(bound)
        return UInt16(bigEndian: address.sin_port)
    }

    /// The body of `GET http://127.0.0.1:<port><path>` with curl, retried until the guest answers or `within`
    /// seconds pass; then the failure of the last attempt (curl's status and message).
    static func get(port: UInt16, path: String, within seconds: Double) throws -> Result<String, CurlFailure> {
        let deadline = Date().addingTimeInterval(seconds)
        var failure = CurlFailure(description: "curl never ran")
        repeat {
            let start = Date()
            let curl = try BoundedProcess(["curl", "-s", "-S", "--max-time", "5", "http://127.0.0.1:\(port)\(path)"],
                                          in: nil)
            let status = curl.wait(timeout: 10)
            if status == 0 { return .success(curl.output) }
            let elapsed = Int(Date().timeIntervalSince(start) * 1000)
            failure = CurlFailure(description: "curl status \(status.map(String.init) ?? "timeout") after \(elapsed) ms: "
                + curl.output)
            usleep(500_000)
        } while Date() < deadline
        return .failure(failure)
    }
}

extension Result {
    /// Whether this is a failure.
    var isFailure: Bool { if case .failure = self { return true } else { return false } }
}

/// Why `AppWorkspace.get` got no answer.
struct CurlFailure: Error, CustomStringConvertible {
    var description: String
}

/// A child process whose output is collected as it arrives and which can be waited for with a deadline; on
/// timeout it is interrupted (SIGINT, on which SwiftPM stops its children), then terminated, then killed.
final class BoundedProcess: @unchecked Sendable {
    private let process = Process()
    private let buffer = OutputBuffer()
    private let finished = DispatchSemaphore(value: 0)

    init(_ arguments: [String], in directory: URL?, mergeErrors: Bool = true) throws {
        guard let executable = Shell.which(arguments[0]) else { throw ToolError.fileNotFound(arguments[0]) }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = mergeErrors ? pipe : FileHandle.nullDevice
        let buffer = buffer, finished = finished
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                finished.signal()
            } else {
                buffer.append(String(decoding: data, as: UTF8.self))
            }
        }
        try process.run()
    }

    /// Everything the process has written so far.
    var output: String { buffer.text }

    /// Whether the process has not ended yet.
    var isRunning: Bool { process.isRunning }

    /// The process identifier.
    var pid: Int32 { process.processIdentifier }

    /// The exit status, or nil when the process had to be stopped after `timeout` seconds.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            // SIGINT first (SwiftPM stops its compiler children on it), SIGTERM for a child that ignores SIGINT
            // (inherited from a background job), then SIGKILL.
            for signal in [SIGINT, SIGTERM, SIGKILL] where process.isRunning {
                kill(process.processIdentifier, signal)
                let grace = Date().addingTimeInterval(3)
                while process.isRunning && Date() < grace { usleep(20_000) }
            }
        }
        process.waitUntilExit()
        _ = finished.wait(timeout: .now() + 5)
        return timedOut ? nil : process.terminationStatus
    }
}
