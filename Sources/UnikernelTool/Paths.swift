import Foundation

/// A checkout of the unikernel package: where its linker script and boot shim are. Inside this repository that is
/// the repository; inside an application package it is a dependency checkout (`.build/checkouts/<identity>` for the
/// tool itself, `.build-guest/checkouts/<identity>` for the guest build, which `GuestBuilder` links against).
public struct UnikernelPackage: Sendable {
    /// The `name:` in this package's manifest. Applications refer to the package by its identity (derived from
    /// the URL or path they use); the name stays the same wherever a checkout lives, so dependency graphs are
    /// searched by it.
    public static let manifestName = "swift-unikernel"

    /// Absolute path of the package root.
    public let root: URL

    /// Describes the checkout at `root` without checking it (see `validated(root:)`).
    public init(root: URL) { self.root = root }

    /// The package this tool was built from, located through the compile-time path of this source file.
    public static func current(sourceFile: String = #filePath) throws(ToolError) -> UnikernelPackage {
        let root = URL(fileURLWithPath: sourceFile)
            .deletingLastPathComponent()  // UnikernelTool
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()  // package root
        return try validated(root: root)
    }

    /// The checkout at `root`, after checking that it has the linker script (a checkout without it is
    /// incomplete or is not this package).
    public static func validated(root: URL) throws(ToolError) -> UnikernelPackage {
        let package = UnikernelPackage(root: root.standardizedFileURL)
        guard FileManager.default.fileExists(atPath: package.linkerScript.path) else {
            throw .checkoutWithoutLinkerScript(package.root.path)
        }
        return package
    }

    /// `Linker/unikernel.ld`.
    public var linkerScript: URL { root.appendingPathComponent("Linker/unikernel.ld") }
}

/// The Swift toolchain that builds guests: the `swift` found on PATH, wherever that toolchain is installed.
///
/// Invariant: a `Toolchain` returned by `find` or `validated(usr:)` has the driver, the Embedded Swift standard
/// library for `x86_64-unknown-none-elf` and its Unicode data tables; guest builds run this toolchain's own driver,
/// so the embedded libraries named in the toolset always match the compiler that uses them.
public struct Toolchain: Sendable {
    /// The toolchain's `usr` directory.
    public let usr: URL

    /// Creates a toolchain description without checking it (see `validated(usr:)`).
    public init(usr: URL) { self.usr = usr }

    /// Locates `swift` on PATH, resolves symlinks to the toolchain's `usr` directory and checks that the
    /// toolchain can build guests.
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ToolError) -> Toolchain {
        guard let swift = Shell.which("swift", environment: environment) else {
            throw .toolchainWithoutEmbedded("no `swift` on PATH (\(environment["PATH"] ?? "PATH is not set"))")
        }
        let resolved = URL(fileURLWithPath: swift).resolvingSymlinksInPath()
        return try validated(usr: resolved.deletingLastPathComponent().deletingLastPathComponent())
    }

    /// The toolchain whose `usr` directory is `usr`, after checking that it has a Swift driver and Embedded Swift
    /// for `x86_64-unknown-none-elf` (the standard library module and the Unicode data tables archive).
    public static func validated(usr: URL) throws(ToolError) -> Toolchain {
        let toolchain = Toolchain(usr: usr.standardizedFileURL)
        for required in [toolchain.swiftDriver, toolchain.embeddedStdlibModule, toolchain.unicodeDataTables]
        where !FileManager.default.fileExists(atPath: required.path) {
            throw .toolchainWithoutEmbedded(
                "\(required.path) is missing (the toolchain at \(toolchain.usr.path) has no Embedded Swift "
                    + "support for \(GuestBuilder.triple))")
        }
        return toolchain
    }

    /// The toolchain's `swift` driver; guest builds run it (not whatever `swift` PATH names later).
    public var swiftDriver: URL { usr.appendingPathComponent("bin/swift") }

    /// The Embedded Swift standard library module for the guest triple.
    public var embeddedStdlibModule: URL {
        usr.appendingPathComponent("lib/swift/embedded/Swift.swiftmodule/x86_64-unknown-none-elf.swiftmodule")
    }

    /// The Unicode data tables archive that String comparison needs.
    public var unicodeDataTables: URL {
        usr.appendingPathComponent("lib/swift/embedded/x86_64-unknown-none-elf/libswiftUnicodeDataTables.a")
    }
}

/// Small process helpers.
public enum Shell {
    /// The first executable named `name` on PATH.
    public static func which(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `arguments[0]` with the rest as arguments, capturing stdout and stderr together.
    public static func capture(_ arguments: [String], in directory: URL? = nil) throws(ToolError) -> (status: Int32, output: String) {
        let pipe = Pipe()
        let process = try start(arguments, in: directory) {
            $0.standardOutput = pipe
            $0.standardError = pipe
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs a command and returns its exit status, standard output and standard error, kept apart (for output a
    /// program parses, which diagnostics printed meanwhile must not interleave with).
    public static func captureSeparately(_ arguments: [String], in directory: URL? = nil) throws(ToolError)
        -> (status: Int32, output: String, errors: String) {
        let outPipe = Pipe(), errPipe = Pipe()
        let process = try start(arguments, in: directory) {
            $0.standardOutput = outPipe
            $0.standardError = errPipe
        }
        // Both pipes are drained at once, so a child filling one of them never blocks on it.
        final class Box: @unchecked Sendable { var data = Data() }
        let errors = Box()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errors.data = errPipe.fileHandleForReading.readDataToEndOfFile() }
        let output = outPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self),
                String(decoding: errors.data, as: UTF8.self))
    }

    /// Runs a command with inherited standard streams and returns its exit status.
    public static func run(_ arguments: [String], in directory: URL? = nil) throws(ToolError) -> Int32 {
        let process = try start(arguments, in: directory) { _ in }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Starts `arguments[0]` (found on PATH) with the rest as arguments in `directory`, after `configure` has set
    /// up its standard streams.
    private static func start(_ arguments: [String], in directory: URL?,
                              configure: (Process) -> Void) throws(ToolError) -> Process {
        guard let executable = which(arguments[0]) else { throw .fileNotFound(arguments[0]) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let directory { process.currentDirectoryURL = directory }
        configure(process)
        do { try process.run() } catch { throw .commandFailed(arguments.joined(separator: " "), status: -1, output: "\(error)") }
        return process
    }
}
