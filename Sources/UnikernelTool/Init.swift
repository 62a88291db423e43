import Foundation

// `unikernel init`: new application packages that depend on the unikernel package.
//
// An application lives in its own package, which depends on this one (by URL and version, or by local path) and has
// one executable product. The tool is then reachable there as `swift run unikernel`, an executable product of the
// dependency, and builds the product into a bootable image with the toolset (no `unsafeFlags` anywhere, which
// SwiftPM would refuse in a dependency fetched by URL).

/// What a new application starts from (`unikernel init --template`).
public enum ApplicationTemplate: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Prints a greeting and its command-line arguments, then returns (status 0), like `Examples/Hello`.
    case hello
    /// Answers every HTTP request on port 8080 with `Hello from Unikernel! Path: <path>`.
    case http

    /// The template name as given to `--template`.
    public var description: String { rawValue }

    /// The unikernel package's library products the application's target depends on.
    public var libraryProducts: [String] {
        switch self {
        case .hello: return ["Runtime"]
        case .http: return ["Runtime", "Services", "TCPStack", "HTTP"]
        }
    }

    /// The guest TCP port the application listens on, if it serves anything.
    public var servicePort: UInt16? { self == .http ? 8080 : nil }

    /// `Sources/<product>/main.swift`.
    public func mainSwift(product: String) -> String {
        switch self {
        case .hello:
            return #"""
                // \#(product): a Swift unikernel application. It prints a greeting and its command-line arguments (the
                // words after `--append` in `unikernel run`), then returns from main, which powers the machine off
                // with status 0 (`System.exit(_:)` picks another status).
                import Runtime

                print("Hello from \#(product)!")
                for argument in System.arguments {
                    print("argument: " + argument)
                }

                """#
        case .http:
            // Top-level `try` is not possible in Embedded Swift (it needs `any Error`), hence the typed do/catch.
            return #"""
                // \#(product): a Swift unikernel HTTP service. It answers every request on port 8080 with the path it
                // asked for. Boot it with a port forward (`unikernel run IMAGE --forward 8080:8080`), then ask it:
                //   curl http://127.0.0.1:8080/hello
                // The guest's address comes from DHCP, or from its command line:
                //   --append "unikernel.ip=10.0.2.15/24 unikernel.gateway=10.0.2.2"
                import HTTP
                import Runtime
                import Services
                import TCPStack

                /// The start of every answer; the request's path (as received, still percent-encoded) follows it.
                let greeting = Array("Hello from Unikernel! Path: ".utf8)

                do throws(SocketError) {
                    let server = try HTTPServer(port: 8080) { request in
                        HTTPResponse(status: .ok, contentType: "text/plain", body: .bytes(greeting + request.path))
                    }
                    print("\#(product): listening on port 8080")
                    server.run()
                } catch {
                    print("\#(product): cannot serve on port 8080: "
                        + (error == .notConfigured ? "no network device (boot with --forward or --net)" : error.description))
                    System.exit(.failure)
                }

                """#
        }
    }

    /// Whether the unikernel checkout at `root` has the API this template is written against: always for `hello`;
    /// for `http`, a declaration of `HTTPServer` in one of its library modules (the server arrived after the
    /// template was first written; a template that is available but does not build is a bug, not a skip).
    public func isAvailable(in root: URL) -> Bool {
        guard self == .http else { return true }
        let pattern = try! NSRegularExpression(pattern: #"\b(struct|class|enum|actor|typealias)\s+HTTPServer\b"#)
        let sources = root.appendingPathComponent("Sources")
        let modules = (try? FileManager.default.contentsOfDirectory(atPath: sources.path)) ?? []
        for module in modules where module != "UnikernelTool" && module != "unikernel" {
            let directory = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
                continue
            }
            for case let file as URL in files where file.pathExtension == "swift" {
                guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
                if pattern.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil { return true }
            }
        }
        return false
    }
}

/// A semantic version `major.minor.patch` (SemVer 2.0.0 §2), as SwiftPM reads release tags.
public struct ReleaseVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Incremented for incompatible changes.
    public var major: Int
    /// Incremented for compatible additions.
    public var minor: Int
    /// Incremented for fixes.
    public var patch: Int

    /// Creates a version from its three numbers.
    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `1.2.3` or a tag `v1.2.3`. Pre-release and build suffixes are refused: such tags never satisfy a plain
    /// `from:` requirement.
    public init?(_ text: String) {
        let body = text.hasPrefix("v") ? text.dropFirst() : Substring(text)
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              let major = Int(parts[0]), let minor = Int(parts[1]), let patch = Int(parts[2])
        else { return nil }
        self.init(major, minor, patch)
    }

    /// `major.minor.patch`.
    public var description: String { "\(major).\(minor).\(patch)" }

    /// Orders by major, then minor, then patch.
    public static func < (a: ReleaseVersion, b: ReleaseVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    /// The versions SwiftPM accepts for `from: self`: up to, not including, the next major version.
    public var upToNextMajor: Range<ReleaseVersion> { self..<ReleaseVersion(major + 1, 0, 0) }
}

/// Where an application package gets the unikernel package from: the `.package(...)` entry of its manifest.
public struct UnikernelDependency: Equatable, Sendable, CustomStringConvertible {
    /// A source-control URL or a local directory.
    public enum Location: Equatable, Sendable {
        /// A git URL (`https://…`, `file:///…`, `git@host:…`): resolved by version or branch.
        case url(String)
        /// A local directory, used as it is (uncommitted changes included, no version).
        case path(String)
    }

    /// Which versions a URL dependency accepts (a path dependency has none).
    public enum Requirement: Equatable, Sendable {
        /// `from: "x.y.z"`: that version up to the next major one.
        case from(ReleaseVersion)
        /// `branch: "name"`: the branch's newest commit.
        case branch(String)
    }

    /// Where SwiftPM finds the unikernel package.
    public var location: Location
    /// What the dependency requires of the resolved version.
    public var requirement: Requirement

    /// Creates a dependency.
    public init(location: Location, requirement: Requirement = .from(ReleaseVersion(0, 1, 0))) {
        self.location = location
        self.requirement = requirement
    }

    /// Interprets a `--dependency` argument: text with a URL scheme (`scheme://…`) or an scp-style git address
    /// (`user@host:path`) is a URL; anything else is a local directory, made absolute against `base`.
    public init(argument: String, requirement: Requirement, relativeTo base: URL) {
        if argument.contains("://") || (argument.contains("@") && argument.contains(":") && !argument.hasPrefix("/")) {
            self.init(location: .url(argument), requirement: requirement)
        } else {
            let url = argument.hasPrefix("/") ? URL(fileURLWithPath: argument)
                : base.appendingPathComponent(argument)
            self.init(location: .path(url.standardizedFileURL.path), requirement: requirement)
        }
    }

    /// SwiftPM's identity of the dependency, which `.product(name:package:)` names: the last path component of
    /// the URL or path, without a `.git` suffix, in lower case.
    public var identity: String {
        let text: String
        switch location {
        case .url(let url): text = url
        case .path(let path): text = path
        }
        var trimmed = Substring(text)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        var last = trimmed.split(whereSeparator: { $0 == "/" || $0 == ":" }).last.map(String.init) ?? String(trimmed)
        if last.hasSuffix(".git") { last = String(last.dropLast(4)) }
        return last.lowercased()
    }

    /// The `.package(...)` expression for `Package.swift`.
    public var manifestEntry: String {
        switch (location, requirement) {
        case (.path(let path), _):
            return ".package(path: \(swiftLiteral(path)))"
        case (.url(let url), .from(let version)):
            return ".package(url: \(swiftLiteral(url)), from: \(swiftLiteral(version.description)))"
        case (.url(let url), .branch(let branch)):
            return ".package(url: \(swiftLiteral(url)), branch: \(swiftLiteral(branch)))"
        }
    }

    /// The dependency for people: the URL and its requirement, or the path.
    public var description: String {
        switch (location, requirement) {
        case (.path(let path), _): return "\(path) (local path)"
        case (.url(let url), .from(let version)): return "\(url), from \(version)"
        case (.url(let url), .branch(let branch)): return "\(url), branch \(branch)"
        }
    }

    /// The dependency `unikernel init` writes when none is given: the unikernel package the tool was built from.
    ///
    /// - From a git checkout (this repository): its location as a `file://` URL with `requirement`. The result
    ///   carries a warning when the repository has no tag (or branch) that satisfies the requirement, because
    ///   SwiftPM could not resolve the new package until it has one.
    /// - From a dependency checkout (`<package>/.build…/checkouts/<identity>`, i.e. the tool run inside an
    ///   application package): the location pinned for that identity in `<package>/Package.resolved`.
    /// - From a directory that is not a git repository: that directory as a path dependency.
    public static func defaultDependency(
        tool: UnikernelPackage, requirement: Requirement
    ) throws(ToolError) -> (dependency: UnikernelDependency, warning: String?) {
        let root = tool.root.standardizedFileURL
        let components = root.pathComponents
        if components.count >= 4, components[components.count - 2] == "checkouts",
           components[components.count - 3].hasPrefix(".build") {
            let application = root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let resolved = application.appendingPathComponent("Package.resolved")
            guard let location = pinnedLocation(identity: root.lastPathComponent.lowercased(), in: resolved) else {
                throw .invalidArgument(
                    "cannot tell where the unikernel package checkout at \(root.path) came from (no pin for "
                        + "'\(root.lastPathComponent)' in \(resolved.path)); pass --dependency URL|PATH")
            }
            return (UnikernelDependency(location: location, requirement: requirement), nil)
        }
        guard let top = try? Shell.capture(["git", "-C", root.path, "rev-parse", "--show-toplevel"]), top.status == 0,
              URL(fileURLWithPath: top.output.trimmingCharacters(in: .whitespacesAndNewlines))
                .resolvingSymlinksInPath().path == root.resolvingSymlinksInPath().path
        else {
            return (UnikernelDependency(location: .path(root.path), requirement: requirement), nil)
        }
        let dependency = UnikernelDependency(location: .url("file://" + root.path), requirement: requirement)
        return (dependency, unresolvableWarning(repository: root, requirement: requirement))
    }

    /// A warning when the git repository at `repository` has nothing that satisfies `requirement`.
    static func unresolvableWarning(repository: URL, requirement: Requirement) -> String? {
        switch requirement {
        case .from(let version):
            guard let tags = try? Shell.capture(["git", "-C", repository.path, "tag", "--list"]), tags.status == 0
            else { return nil }
            let range = version.upToNextMajor
            let satisfied = tags.output.split(separator: "\n").contains { tag in
                ReleaseVersion(String(tag)).map(range.contains) ?? false
            }
            if satisfied { return nil }
            return "\(repository.path) has no release tag in \(range.lowerBound)..<\(range.upperBound), so SwiftPM "
                + "cannot resolve `from: \"\(version)\"` yet. Tag a commit there (git -C \(repository.path) tag "
                + "\(version)), or pass --branch NAME, or --dependency \(repository.path) to use the checkout as a "
                + "local path."
        case .branch(let branch):
            guard let found = try? Shell.capture(["git", "-C", repository.path, "rev-parse", "--verify", "--quiet",
                                                  "refs/heads/\(branch)"]) else { return nil }
            return found.status == 0 ? nil : "\(repository.path) has no branch '\(branch)'."
        }
    }

    /// The location pinned for `identity` in a `Package.resolved` file (versions 1 to 3).
    static func pinnedLocation(identity: String, in resolved: URL) -> Location? {
        guard let data = try? Data(contentsOf: resolved),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let pins = (json["pins"] as? [[String: Any]])
            ?? ((json["object"] as? [String: Any])?["pins"] as? [[String: Any]]) ?? []
        for pin in pins {
            let pinIdentity = (pin["identity"] as? String) ?? (pin["package"] as? String)?.lowercased()
            guard pinIdentity == identity,
                  let location = (pin["location"] as? String) ?? (pin["repositoryURL"] as? String) else { continue }
            switch pin["kind"] as? String {
            case "fileSystem": return .path(location)
            case "localSourceControl": return .url(location.hasPrefix("/") ? "file://" + location : location)
            default: return .url(location)
            }
        }
        return nil
    }
}

/// A new application package: its names, its dependency on the unikernel package, and the files `unikernel init`
/// writes (`Package.swift`, `Sources/<Product>/main.swift`, `README.md`, `.gitignore`).
public struct ApplicationPackage: Sendable {
    /// The package's directory.
    public var directory: URL
    /// The package name: the directory's name.
    public var packageName: String
    /// The executable product and its target: the directory's name as a Swift identifier (`productName(for:)`).
    public var productName: String
    /// What `main.swift` does.
    public var template: ApplicationTemplate
    /// Where the unikernel package comes from.
    public var dependency: UnikernelDependency

    /// Describes the package for `directory`; nothing is written until `write()`.
    public init(directory: URL, template: ApplicationTemplate, dependency: UnikernelDependency) {
        self.directory = directory.standardizedFileURL
        self.packageName = self.directory.lastPathComponent
        self.productName = Self.productName(for: self.directory.lastPathComponent)
        self.template = template
        self.dependency = dependency
    }

    /// Module names an application target must not take: every target of the unikernel package and of its
    /// dependency swift-argument-parser (SwiftPM requires target names to be unique across the whole package
    /// graph, used or not), and modules of the toolchain. Compared without regard to case.
    public static let reservedNames: [String] = [
        // swift-unikernel (a unit test checks this list against Package.swift)
        "BootShim", "Interfaces", "Hardware", "Boot", "Memory", "Scheduler", "Virtio", "VirtioNet", "VirtioBlk",
        "TCPStack", "HTTP", "RamFS", "RuntimeCore", "Runtime", "Services", "HostNetworking", "Hello", "HelloHTTP",
        "StaticSite", "DeviceCheck", "KernelCheck", "EmbedCheck", "SchedulerCheck", "BlockCheck", "NetEcho",
        "RamFSWorkload", "RamFSBench", "TCPBench", "RamFSGuestBench", "NetBench", "CLibELF", "UnikernelTool",
        "unikernel",
        "InterfacesTests", "HardwareTests", "BootTests", "MemoryTests", "RuntimeTests", "SchedulerTests",
        "UnikernelToolTests", "TCPStackTests", "HTTPTests", "RamFSTests", "VirtioTests", "GuestTests",
        "HostNetworkingTests",
        // swift-argument-parser
        "ArgumentParser", "ArgumentParserToolInfo", "ArgumentParserTestHelpers", "GenerateManual",
        "GenerateDoccReference", "Roll", "Math", "Repeat", "Color",
        // the toolchain
        "Swift", "SwiftShims", "Foundation", "FoundationEssentials", "Glibc", "Dispatch", "XCTest", "Testing",
        "PackageDescription", "CoreFoundation",
    ]

    /// The directory name as a Swift identifier for the product: ASCII letters and digits kept, every other
    /// character separating words, each word starting with a capital (`my-app` → `MyApp`); `App` in front of a
    /// leading digit or of nothing at all, and `App` appended to a reserved name (`hello` → `HelloApp`).
    public static func productName(for directoryName: String) -> String {
        var name = ""
        var startOfWord = true
        for scalar in directoryName.unicodeScalars {
            let isLetter = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
            let isDigit = scalar >= "0" && scalar <= "9"
            guard isLetter || isDigit else {
                startOfWord = true
                continue
            }
            name += startOfWord ? String(scalar).uppercased() : String(scalar)
            startOfWord = false
        }
        if name.isEmpty { return "App" }
        if let first = name.unicodeScalars.first, first >= "0" && first <= "9" { name = "App" + name }
        if reservedNames.contains(where: { $0.lowercased() == name.lowercased() }) { name += "App" }
        return name
    }

    /// Where `swift run unikernel build <product>` puts the image, relative to the package directory.
    public var imagePath: String { ".build-guest/\(GuestBuilder.triple)/release/\(productName)" }

    /// `Package.swift`.
    public var manifest: String {
        let products = template.libraryProducts.map {
            "                .product(name: \(swiftLiteral($0)), package: \(swiftLiteral(dependency.identity))),"
        }.joined(separator: "\n")
        return """
            // swift-tools-version: 6.0
            // \(packageName): a Swift unikernel application (created by `unikernel init --template \(template)`).
            // `swift run unikernel build \(productName)` turns the executable product into a bootable x86_64 image.
            // The guest settings come from the tool's toolset, so no target here needs unsafeFlags.
            import PackageDescription

            let package = Package(
                name: \(swiftLiteral(packageName)),
                products: [
                    .executable(name: \(swiftLiteral(productName)), targets: [\(swiftLiteral(productName))]),
                ],
                dependencies: [
                    \(dependency.manifestEntry),
                ],
                targets: [
                    .executableTarget(
                        name: \(swiftLiteral(productName)),
                        dependencies: [
            \(products)
                        ]),
                ],
                swiftLanguageModes: [.v5]
            )

            """
    }

    /// `Sources/<product>/main.swift`.
    public var mainSwift: String { template.mainSwift(product: productName) }

    /// `README.md`: what the package is and its two commands (build and boot; boot with arguments).
    public var readme: String {
        let forward = template.servicePort.map { " --forward \($0):\($0)" } ?? ""
        let arguments = template == .http ? "unikernel.ip=10.0.2.15/24 unikernel.gateway=10.0.2.2" : "one two"
        let argumentsNote = template == .http
            ? "here runtime options: a static address instead of DHCP"
            : "the application reads them from `System.arguments`; `unikernel.*` words are runtime options"
        let service = template.servicePort.map {
            "While it runs, it answers on http://127.0.0.1:\($0)/ (try any path, for instance with curl).\n\n"
        } ?? ""
        return """
            # \(packageName)

            A Swift unikernel application: `Sources/\(productName)/main.swift`, linked with the
            [swift-unikernel](\(dependencyLink)) library OS into a bootable x86_64 image (no Linux, no libc).
            It needs a Swift 6 toolchain with Embedded Swift and QEMU (`qemu-system-x86_64`); the first build takes a
            few minutes.

            Build the image and boot it in QEMU (the console is on standard output; `swift run unikernel` is the tool
            of the unikernel package this one depends on):

            ```sh
            swift run unikernel build \(productName) && swift run unikernel run \(imagePath)\(forward)
            ```

            \(service)Boot it again with arguments on its command line (\(argumentsNote)):

            ```sh
            swift run unikernel run \(imagePath)\(forward) --append "\(arguments)"
            ```

            """
    }

    /// `.gitignore`: build products and the resolved-versions file stay out of version control.
    public var gitignore: String {
        """
        .build*
        Package.resolved
        /.swiftpm

        """
    }

    /// The files, as paths relative to `directory` and their contents.
    public var files: [(path: String, contents: String)] {
        [("Package.swift", manifest), ("Sources/\(productName)/main.swift", mainSwift), ("README.md", readme),
         (".gitignore", gitignore)]
    }

    /// Creates `directory` if needed and writes the files; returns their URLs. Refuses a directory that has any
    /// entry other than `.git`, so nothing of the user's is overwritten.
    @discardableResult
    public func write() throws(ToolError) -> [URL] {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw .invalidArgument("\(directory.path) exists and is not a directory")
            }
            let entries = ((try? manager.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0 != ".git" }
            guard entries.isEmpty else {
                let shown = entries.sorted().prefix(3).joined(separator: ", ") + (entries.count > 3 ? ", …" : "")
                throw .invalidArgument(
                    "\(directory.path) is not empty (\(shown)); unikernel init writes only into a new or empty directory")
            }
        }
        var written: [URL] = []
        for (path, contents) in files {
            let url = directory.appendingPathComponent(path)
            do {
                try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(contents.utf8).write(to: url)
            } catch {
                throw .invalidArgument("cannot write \(url.path): \(error)")
            }
            written.append(url)
        }
        return written
    }

    /// A link for the README: the dependency's URL, or its path.
    private var dependencyLink: String {
        switch dependency.location {
        case .url(let url): return url
        case .path(let path): return "file://" + path
        }
    }
}

/// `text` as a Swift string literal.
func swiftLiteral(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
