import Foundation
import Testing

@testable import UnikernelTool

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `path` (relative), creating directories; returns the file's URL.
    @discardableResult
    func write(_ path: String, _ contents: String, executable: Bool = false) throws -> URL {
        let file = url.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: file)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path) }
        return file
    }

    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs a command to completion and returns its status and combined output.
func runCommand(_ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, output: String) {
    try Shell.capture(arguments, in: directory)
}

/// This repository's root.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite struct ApplicationNamingTests {
    @Test func productNamesAreSwiftIdentifiersFromTheDirectoryName() {
        #expect(ApplicationPackage.productName(for: "my-app") == "MyApp")
        #expect(ApplicationPackage.productName(for: "hello world") == "HelloWorld")
        #expect(ApplicationPackage.productName(for: "my_app2") == "MyApp2")
        #expect(ApplicationPackage.productName(for: "myService") == "MyService")
        #expect(ApplicationPackage.productName(for: "2048") == "App2048")
        #expect(ApplicationPackage.productName(for: "---") == "App")
        #expect(ApplicationPackage.productName(for: "") == "App")
        #expect(ApplicationPackage.productName(for: "café-bar") == "CafBar")
    }

    @Test func namesTakenInThePackageGraphGetASuffix() {
        // A target named like one of ours makes SwiftPM refuse the graph ("target names need to be unique").
        #expect(ApplicationPackage.productName(for: "hello") == "HelloApp")
        #expect(ApplicationPackage.productName(for: "runtime") == "RuntimeApp")
        #expect(ApplicationPackage.productName(for: "HTTP") == "HTTPApp")
        #expect(ApplicationPackage.productName(for: "math") == "MathApp")
        #expect(ApplicationPackage.productName(for: "swift") == "SwiftApp")
        #expect(ApplicationPackage.productName(for: "http-server") == "HttpServer")
    }

    /// The reserved list must name every target of Package.swift; a new target added there fails this test
    /// until it is added to `ApplicationPackage.reservedNames`.
    @Test func reservedNamesCoverEveryTargetInPackageSwift() throws {
        let manifest = try String(contentsOf: repositoryRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"name:\s*"([A-Za-z_][A-Za-z0-9_]*)""#)
        let names = pattern.matches(in: manifest, range: NSRange(manifest.startIndex..., in: manifest)).compactMap {
            Range($0.range(at: 1), in: manifest).map { String(manifest[$0]) }
        }
        #expect(names.count > 20, "the manifest parse found too few names: \(names)")
        let reserved = Set(ApplicationPackage.reservedNames.map { $0.lowercased() })
        for name in names {
            #expect(reserved.contains(name.lowercased()), "\(name) from Package.swift is not a reserved name")
        }
    }

    @Test func identitiesFollowSwiftPM() {
        func identity(_ location: UnikernelDependency.Location) -> String {
            UnikernelDependency(location: location).identity
        }
        #expect(identity(.url("https://github.com/example/swift-unikernel.git")) == "swift-unikernel")
        #expect(identity(.url("https://github.com/example/Swift-Unikernel")) == "swift-unikernel")
        #expect(identity(.url("file:///work/wt/apppkg/")) == "apppkg")
        #expect(identity(.url("git@github.com:example/swift-unikernel.git")) == "swift-unikernel")
        #expect(identity(.path("/home/me/src/swift-unikernel")) == "swift-unikernel")
    }

    @Test func dependencyArgumentsAreURLsOrLocalPaths() {
        let base = URL(fileURLWithPath: "/work/apps")
        let from = UnikernelDependency.Requirement.from(ReleaseVersion(0, 1, 0))
        func location(_ argument: String) -> UnikernelDependency.Location {
            UnikernelDependency(argument: argument, requirement: from, relativeTo: base).location
        }
        #expect(location("https://github.com/example/swift-unikernel.git")
            == .url("https://github.com/example/swift-unikernel.git"))
        #expect(location("file:///srv/git/swift-unikernel") == .url("file:///srv/git/swift-unikernel"))
        #expect(location("git@github.com:example/swift-unikernel.git") == .url("git@github.com:example/swift-unikernel.git"))
        #expect(location("../lib/swift-unikernel") == .path("/work/lib/swift-unikernel"))
        #expect(location("/srv/swift-unikernel/") == .path("/srv/swift-unikernel"))
        #expect(location("swift-unikernel") == .path("/work/apps/swift-unikernel"))
    }

    @Test func manifestEntriesForEachKindOfDependency() {
        let url = "file:///srv/swift-unikernel"
        #expect(UnikernelDependency(location: .url(url), requirement: .from(ReleaseVersion(0, 1, 0))).manifestEntry
            == #".package(url: "file:///srv/swift-unikernel", from: "0.1.0")"#)
        #expect(UnikernelDependency(location: .url(url), requirement: .branch("main")).manifestEntry
            == #".package(url: "file:///srv/swift-unikernel", branch: "main")"#)
        #expect(UnikernelDependency(location: .path("/srv/a \"b\"\\c")).manifestEntry
            == #".package(path: "/srv/a \"b\"\\c")"#)
    }

    @Test func releaseVersionsAndTheirRanges() throws {
        #expect(ReleaseVersion("0.1.0") == ReleaseVersion(0, 1, 0))
        #expect(ReleaseVersion("v1.2.3") == ReleaseVersion(1, 2, 3))
        #expect(ReleaseVersion("1.2") == nil)
        #expect(ReleaseVersion("1.2.3-beta") == nil)
        #expect(ReleaseVersion("1.2.x") == nil)
        #expect(ReleaseVersion("1..3") == nil)
        let range = try #require(ReleaseVersion("0.1.0")).upToNextMajor
        #expect(range.contains(ReleaseVersion(0, 9, 12)))
        #expect(!range.contains(ReleaseVersion(1, 0, 0)))
        #expect(!range.contains(ReleaseVersion(0, 0, 9)))
    }
}

@Suite struct ApplicationPackageFileTests {
    let dependency = UnikernelDependency(location: .url("file:///srv/swift-unikernel"),
                                         requirement: .from(ReleaseVersion(0, 1, 0)))

    @Test func helloManifestDependsOnRuntimeByIdentity() {
        let package = ApplicationPackage(directory: URL(fileURLWithPath: "/tmp/my-app"), template: .hello,
                                         dependency: dependency)
        #expect(package.packageName == "my-app")
        #expect(package.productName == "MyApp")
        let manifest = package.manifest
        #expect(manifest.hasPrefix("// swift-tools-version: 6.0\n"))
        #expect(manifest.contains(#".executable(name: "MyApp", targets: ["MyApp"])"#))
        #expect(manifest.contains(#".package(url: "file:///srv/swift-unikernel", from: "0.1.0")"#))
        #expect(manifest.contains(#".product(name: "Runtime", package: "swift-unikernel")"#))
        #expect(!manifest.contains("TCPStack"))
        #expect(!manifest.contains("unsafeFlags("))
        #expect(package.files.map(\.path) == ["Package.swift", "Sources/MyApp/main.swift", "README.md", ".gitignore"])
    }

    @Test func httpManifestAddsTheNetworkProducts() {
        let package = ApplicationPackage(directory: URL(fileURLWithPath: "/tmp/web"), template: .http,
                                         dependency: dependency)
        for product in ["Runtime", "Services", "TCPStack", "HTTP"] {
            #expect(package.manifest.contains(#".product(name: "\#(product)", package: "swift-unikernel")"#))
        }
    }

    @Test func helloTemplatePrintsAGreetingAndItsArguments() {
        let main = ApplicationTemplate.hello.mainSwift(product: "MyApp")
        #expect(main.contains("import Runtime\n"))
        #expect(main.contains(#"print("Hello from MyApp!")"#))
        #expect(main.contains("for argument in System.arguments {"))
        #expect(main.contains(#"print("argument: " + argument)"#))
    }

    @Test func httpTemplateServesThePathOnPort8080() {
        let main = ApplicationTemplate.http.mainSwift(product: "Web")
        for module in ["HTTP", "Runtime", "Services", "TCPStack"] { #expect(main.contains("import \(module)\n")) }
        #expect(main.contains("try HTTPServer(port: 8080) { request in"))
        #expect(main.contains(#"let greeting = Array("Hello from Unikernel! Path: ".utf8)"#))
        #expect(main.contains("body: .bytes(greeting + request.path)"))
        #expect(main.contains("server.run()"))
        #expect(main.contains("do throws(SocketError) {"))
        #expect(main.contains(#"print("Web: listening on port 8080")"#))
        #expect(!main.contains("\nlet server = try"), "top-level try needs `any Error`, which Embedded Swift lacks")
        #expect(ApplicationTemplate.http.servicePort == 8080)
    }

    /// The README has exactly two commands: build and boot; boot with arguments.
    @Test(arguments: ApplicationTemplate.allCases)
    func readmeHasItsTwoCommands(template: ApplicationTemplate) {
        let package = ApplicationPackage(directory: URL(fileURLWithPath: "/tmp/my-app"), template: template,
                                         dependency: dependency)
        var commands: [String] = []
        var inBlock = false
        for line in package.readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock = line == "```sh"; continue }
            if inBlock && !line.isEmpty { commands.append(String(line)) }
        }
        let image = ".build-guest/x86_64-unknown-none-elf/release/MyApp"
        let forward = template == .http ? " --forward 8080:8080" : ""
        let arguments = template == .http ? "unikernel.ip=10.0.2.15/24 unikernel.gateway=10.0.2.2" : "one two"
        #expect(commands == [
            "swift run unikernel build MyApp && swift run unikernel run \(image)\(forward)",
            "swift run unikernel run \(image)\(forward) --append \"\(arguments)\"",
        ])
        #expect(package.imagePath == image)
    }

    @Test func gitignoreKeepsBuildProductsAndResolvedVersionsOut() throws {
        let directory = try TemporaryDirectory("init-gitignore")
        defer { directory.remove() }
        let package = ApplicationPackage(directory: directory.url, template: .hello, dependency: dependency)
        try package.write()
        #expect(try runCommand(["git", "init", "-q"], in: directory.url).status == 0)
        for ignored in [".build", ".build-guest", ".build/debug/x", "Package.resolved"] {
            #expect(try runCommand(["git", "check-ignore", "-q", ignored], in: directory.url).status == 0, "\(ignored)")
        }
        for kept in ["Package.swift", "README.md", "Sources/\(package.productName)/main.swift"] {
            #expect(try runCommand(["git", "check-ignore", "-q", kept], in: directory.url).status == 1, "\(kept)")
        }
    }

    @Test func writeCreatesTheFilesAndRefusesADirectoryInUse() throws {
        let directory = try TemporaryDirectory("init-write")
        defer { directory.remove() }
        let target = directory.url.appendingPathComponent("deep/new-app")
        let package = ApplicationPackage(directory: target, template: .hello, dependency: dependency)
        let written = try package.write()
        #expect(written.count == 4)
        for (path, contents) in package.files {
            #expect(try String(contentsOf: target.appendingPathComponent(path), encoding: .utf8) == contents)
        }
        // A second init into the same directory must not overwrite anything.
        try Data("mine".utf8).write(to: target.appendingPathComponent("Sources/NewApp/main.swift"))
        #expect(throws: ToolError.self) { try package.write() }
        #expect(try String(contentsOf: target.appendingPathComponent("Sources/NewApp/main.swift"), encoding: .utf8)
            == "mine")
        do {
            try package.write()
        } catch {
            #expect(error.description.contains("is not empty"))
        }
        // A directory holding only .git (after `git init`) is fine; a file in the way is not.
        let withGit = directory.url.appendingPathComponent("with-git")
        try FileManager.default.createDirectory(at: withGit.appendingPathComponent(".git"),
                                                withIntermediateDirectories: true)
        try ApplicationPackage(directory: withGit, template: .http, dependency: dependency).write()
        let file = try directory.write("plain-file", "x")
        #expect(throws: ToolError.self) {
            try ApplicationPackage(directory: file, template: .hello, dependency: dependency).write()
        }
    }

    /// SwiftPM itself reads the generated manifest: products, targets and the dependency come out as intended.
    @Test(arguments: ApplicationTemplate.allCases)
    func swiftPMAcceptsTheGeneratedManifest(template: ApplicationTemplate) throws {
        let directory = try TemporaryDirectory("init-manifest")
        defer { directory.remove() }
        let app = directory.url.appendingPathComponent("my-app")
        try ApplicationPackage(directory: app, template: template,
                               dependency: UnikernelDependency(location: .path(repositoryRoot.path))).write()
        let (status, output) = try runCommand(["swift", "package", "dump-package"], in: app)
        #expect(status == 0, "\(output)")
        let json = try #require(output.firstIndex(of: "{").flatMap {
            try JSONSerialization.jsonObject(with: Data(output[$0...].utf8)) as? [String: Any]
        })
        #expect(json["name"] as? String == "my-app")
        let products = try #require(json["products"] as? [[String: Any]])
        #expect(products.map { $0["name"] as? String } == ["MyApp"])
        #expect((products.first?["type"] as? [String: Any])?.keys.first == "executable")
        let targets = try #require(json["targets"] as? [[String: Any]])
        #expect(targets.map { $0["name"] as? String } == ["MyApp"])
        let dependencies = try #require(targets.first?["dependencies"] as? [[String: Any]])
        #expect(dependencies.count == template.libraryProducts.count)
        #expect("\(dependencies)".contains(repositoryRoot.lastPathComponent.lowercased()))
    }
}

@Suite struct DefaultDependencyTests {
    @Test func aGitCheckoutIsAFileURLWithAWarningUntilItHasAMatchingTag() throws {
        let directory = try TemporaryDirectory("init-default-git")
        defer { directory.remove() }
        let repository = directory.url.appendingPathComponent("swift-unikernel")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        let git = ["git", "-C", repository.path, "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        #expect(try runCommand(git + ["init", "-q", "-b", "main"]).status == 0)
        #expect(try runCommand(git + ["commit", "-q", "--allow-empty", "-m", "one"]).status == 0)
        let tool = UnikernelPackage(root: repository)
        let from = UnikernelDependency.Requirement.from(ReleaseVersion(0, 1, 0))

        let (untagged, warning) = try UnikernelDependency.defaultDependency(tool: tool, requirement: from)
        #expect(untagged.location == .url("file://" + repository.path))
        #expect(untagged.requirement == from)
        let message = try #require(warning)
        #expect(message.contains("no release tag in 0.1.0..<1.0.0"))
        #expect(message.contains("git -C \(repository.path) tag 0.1.0"))

        #expect(try runCommand(git + ["tag", "1.0.0"]).status == 0)
        #expect(try UnikernelDependency.defaultDependency(tool: tool, requirement: from).warning != nil,
                "1.0.0 is outside from: 0.1.0")
        #expect(try runCommand(git + ["tag", "0.3.1"]).status == 0)
        #expect(try UnikernelDependency.defaultDependency(tool: tool, requirement: from).warning == nil)

        #expect(try UnikernelDependency.defaultDependency(tool: tool, requirement: .branch("main")).warning == nil)
        let missing = try UnikernelDependency.defaultDependency(tool: tool, requirement: .branch("nope")).warning
        #expect(missing?.contains("no branch 'nope'") == true)
    }

    @Test func aDependencyCheckoutUsesThePinnedLocation() throws {
        let directory = try TemporaryDirectory("init-default-pin")
        defer { directory.remove() }
        let checkout = directory.url.appendingPathComponent("app/.build/checkouts/swift-unikernel")
        try FileManager.default.createDirectory(at: checkout, withIntermediateDirectories: true)
        let tool = UnikernelPackage(root: checkout)
        let from = UnikernelDependency.Requirement.from(ReleaseVersion(0, 2, 0))
        #expect(throws: ToolError.self) { try UnikernelDependency.defaultDependency(tool: tool, requirement: from) }

        func pin(kind: String, location: String) throws {
            try directory.write("app/Package.resolved", """
                { "pins" : [
                    { "identity" : "swift-argument-parser", "kind" : "remoteSourceControl",
                      "location" : "https://github.com/apple/swift-argument-parser", "state" : { "version" : "1.8.2" } },
                    { "identity" : "swift-unikernel", "kind" : "\(kind)", "location" : "\(location)",
                      "state" : { "revision" : "b82c15de7a0e3806145c98e1004526acff7355ef", "version" : "0.1.0" } }
                  ], "version" : 3 }
                """)
        }
        try pin(kind: "localSourceControl", location: "/srv/git/swift-unikernel")
        let (local, warning) = try UnikernelDependency.defaultDependency(tool: tool, requirement: from)
        #expect(local == UnikernelDependency(location: .url("file:///srv/git/swift-unikernel"), requirement: from))
        #expect(warning == nil)
        try pin(kind: "remoteSourceControl", location: "https://github.com/example/swift-unikernel.git")
        #expect(try UnikernelDependency.defaultDependency(tool: tool, requirement: from).dependency.location
            == .url("https://github.com/example/swift-unikernel.git"))
    }

    @Test func aPlainDirectoryIsAPathDependency() throws {
        let directory = try TemporaryDirectory("init-default-plain")
        defer { directory.remove() }
        let (dependency, warning) = try UnikernelDependency.defaultDependency(
            tool: UnikernelPackage(root: directory.url), requirement: .from(ReleaseVersion(0, 1, 0)))
        #expect(dependency.location == .path(directory.url.standardizedFileURL.path))
        #expect(warning == nil)
    }

    @Test func theHTTPTemplateIsAvailableOnceTheServerAPIExists() throws {
        let directory = try TemporaryDirectory("init-available")
        defer { directory.remove() }
        #expect(ApplicationTemplate.hello.isAvailable(in: directory.url))
        try directory.write("Sources/HTTP/Connection.swift", "public struct HTTPServerConfiguration {}\n")
        #expect(!ApplicationTemplate.http.isAvailable(in: directory.url))
        try directory.write("Sources/UnikernelTool/Notes.swift", "// final class HTTPServer in the host tool\n")
        #expect(!ApplicationTemplate.http.isAvailable(in: directory.url), "the host tool's sources do not count")
        try directory.write("Sources/Runtime/HTTPServer.swift", "public final class HTTPServer: Sink {\n}\n")
        #expect(ApplicationTemplate.http.isAvailable(in: directory.url))
        #expect(ApplicationTemplate.http.isAvailable(in: repositoryRoot), "this repository has the server")
    }
}

/// Item 6 of the issue: the tool's errors for a toolchain without Embedded Swift, a product that is not an
/// executable, a dependency checkout without the linker script, and a missing QEMU.
@Suite struct AppPackageErrorTests {
    @Test func aToolchainWithoutEmbeddedSwiftIsNamed() throws {
        let directory = try TemporaryDirectory("toolchain")
        defer { directory.remove() }
        try directory.write("usr/bin/swift", "#!/bin/sh\nexit 0\n", executable: true)
        let bin = directory.url.appendingPathComponent("usr/bin").path
        #expect(throws: ToolError.self) { try Toolchain.find(environment: ["PATH": bin]) }
        do {
            _ = try Toolchain.find(environment: ["PATH": bin])
        } catch {
            let message = error.description
            #expect(message.contains("cannot build guests"))
            #expect(message.contains("lib/swift/embedded/Swift.swiftmodule/x86_64-unknown-none-elf.swiftmodule is missing"))
            #expect(message.contains("no Embedded Swift support for x86_64-unknown-none-elf"))
            #expect(message.contains("swift.org"))
        }
        // With the standard library module but without the Unicode tables archive.
        try directory.write("usr/lib/swift/embedded/Swift.swiftmodule/x86_64-unknown-none-elf.swiftmodule", "")
        do {
            _ = try Toolchain.validated(usr: directory.url.appendingPathComponent("usr"))
            Issue.record("a toolchain without the Unicode tables was accepted")
        } catch {
            #expect(error.description.contains("libswiftUnicodeDataTables.a is missing"))
        }
        do {
            _ = try Toolchain.find(environment: ["PATH": "/nonexistent-bin"])
            Issue.record("found a swift in /nonexistent-bin")
        } catch {
            #expect(error.description.contains("no `swift` on PATH (/nonexistent-bin)"))
        }
        // The real toolchain passes, and guest builds run its own driver.
        let real = try Toolchain.find()
        #expect(FileManager.default.isExecutableFile(atPath: real.swiftDriver.path))
    }

    @Test func aProductThatIsNotAnExecutableIsRefused() throws {
        let directory = try TemporaryDirectory("not-executable")
        defer { directory.remove() }
        try directory.write("Package.swift", """
            // swift-tools-version: 6.0
            import PackageDescription
            let package = Package(name: "mixed",
                products: [.library(name: "Lib", targets: ["Lib"]), .executable(name: "Tool", targets: ["Tool"])],
                targets: [.target(name: "Lib"), .executableTarget(name: "Tool")])
            """)
        try directory.write("Sources/Lib/Lib.swift", "public let x = 1\n")
        try directory.write("Sources/Tool/main.swift", "print(1)\n")
        let builder = GuestBuilder(packageDirectory: directory.url, unikernel: UnikernelPackage(root: repositoryRoot),
                                   toolchain: try Toolchain.find())
        #expect(throws: ToolError.productNotExecutable("Lib", type: "library")) { try builder.build(product: "Lib") }
        #expect(ToolError.productNotExecutable("Lib", type: "library").description
            == "product 'Lib' is a library, not an executable; only executable products build into images")
        #expect(throws: ToolError.noSuchProduct("Nope", available: ["Tool"])) { try builder.build(product: "Nope") }
    }

    @Test func aDependencyCheckoutWithoutTheLinkerScriptIsRefused() throws {
        let directory = try TemporaryDirectory("no-linker-script")
        defer { directory.remove() }
        // A package named like ours, without Linker/unikernel.ld, and an application that depends on it.
        try directory.write("swift-unikernel/Package.swift", """
            // swift-tools-version: 6.0
            import PackageDescription
            let package = Package(name: "swift-unikernel", products: [.library(name: "Runtime", targets: ["Runtime"])],
                                  targets: [.target(name: "Runtime")])
            """)
        try directory.write("swift-unikernel/Sources/Runtime/Runtime.swift", "public let runtime = 1\n")
        try directory.write("app/Package.swift", """
            // swift-tools-version: 6.0
            import PackageDescription
            let package = Package(name: "app", dependencies: [.package(path: "../swift-unikernel")],
                targets: [.executableTarget(name: "App", dependencies: [.product(name: "Runtime", package: "swift-unikernel")])])
            """)
        try directory.write("app/Sources/App/main.swift", "import Runtime\n")
        let fake = directory.url.appendingPathComponent("swift-unikernel").standardizedFileURL
        let builder = GuestBuilder(packageDirectory: directory.url.appendingPathComponent("app"),
                                   unikernel: UnikernelPackage(root: repositoryRoot), toolchain: try Toolchain.find())
        #expect(throws: ToolError.checkoutWithoutLinkerScript(fake.path)) { try builder.locateUnikernelPackage() }
        #expect(ToolError.checkoutWithoutLinkerScript(fake.path).description.contains("has no Linker/unikernel.ld"))
        #expect(throws: ToolError.checkoutWithoutLinkerScript("/nowhere")) {
            try UnikernelPackage.current(sourceFile: "/nowhere/Sources/UnikernelTool/Paths.swift")
        }

        // With the linker script the same checkout is found.
        try directory.write("swift-unikernel/Linker/unikernel.ld", "/* test */\n")
        #expect(try builder.locateUnikernelPackage().root.path == fake.path)
        // This repository finds itself.
        let here = GuestBuilder(packageDirectory: repositoryRoot, unikernel: UnikernelPackage(root: fake),
                                toolchain: try Toolchain.find())
        #expect(try here.locateUnikernelPackage().root.path == repositoryRoot.standardizedFileURL.path)
    }

    @Test func aPackageThatDoesNotDependOnUsIsToldHow() throws {
        let directory = try TemporaryDirectory("no-dependency")
        defer { directory.remove() }
        try directory.write("Package.swift", """
            // swift-tools-version: 6.0
            import PackageDescription
            let package = Package(name: "lonely", targets: [.executableTarget(name: "Lonely")])
            """)
        try directory.write("Sources/Lonely/main.swift", "print(1)\n")
        let builder = GuestBuilder(packageDirectory: directory.url, unikernel: UnikernelPackage(root: repositoryRoot),
                                   toolchain: try Toolchain.find())
        do {
            _ = try builder.locateUnikernelPackage()
            Issue.record("a package without the dependency was accepted")
        } catch {
            #expect(error.description.contains("does not depend on swift-unikernel"))
            #expect(error.description.contains("unikernel init"))
        }
    }

    @Test func missingQEMUSaysHowToInstallIt() throws {
        var configuration = QEMUConfiguration(image: try writeTestELF(pvhEntry: 0x100010))
        configuration.qemu = "qemu-system-missing-for-test"
        do {
            _ = try QEMURunner(configuration: configuration).run()
            Issue.record("ran without QEMU")
        } catch {
            #expect(error == .qemuNotFound("qemu-system-missing-for-test"))
            #expect(error.description.contains("was not found on PATH"))
            #expect(error.description.contains("apt-get install qemu-system-x86"))
        }
    }
}
