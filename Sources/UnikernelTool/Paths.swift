import Foundation

/// Where the unikernel package's own files are: the root of the checkout holding this tool's sources. Inside
/// this repository that is the repository; inside an application package it is the dependency checkout
/// (`.build/checkouts/<name>`), because the tool is compiled from there.
public struct UnikernelPackage: Sendable {
    /// Absolute path of the package root.
    public let root: URL

    /// The package this tool was built from, located through the compile-time path of this source file.
    public static func current(sourceFile: String = #filePath) throws(ToolError) -> UnikernelPackage {
        let root = URL(fileURLWithPath: sourceFile)
            .deletingLastPathComponent()  // UnikernelTool
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()  // package root
        let package = UnikernelPackage(root: root)
        guard FileManager.default.fileExists(atPath: package.linkerScript.path) else {
            throw .checkoutWithoutLinkerScript(root.path)
        }
        return package
    }

    /// `Linker/unikernel.ld`.
    public var linkerScript: URL { root.appendingPathComponent("Linker/unikernel.ld") }
}

/// The Swift toolchain that runs this tool (the `swift` found on PATH).
public struct Toolchain: Sendable {
    /// The toolchain's `usr` directory.
    public let usr: URL

    /// Locates `swift` on PATH (or `$SWIFT_EXEC`'s toolchain) and resolves symlinks to the toolchain directory.
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ToolError) -> Toolchain {
        guard let swift = Shell.which("swift", environment: environment) else {
            throw .toolchainWithoutEmbedded("no `swift` on PATH")
        }
        let resolved = URL(fileURLWithPath: swift).resolvingSymlinksInPath()
        let usr = resolved.deletingLastPathComponent().deletingLastPathComponent()
        let toolchain = Toolchain(usr: usr)
        guard FileManager.default.fileExists(atPath: toolchain.embeddedStdlibModule.path) else {
            throw .toolchainWithoutEmbedded("\(toolchain.embeddedStdlibModule.path) is missing")
        }
        guard FileManager.default.fileExists(atPath: toolchain.unicodeDataTables.path) else {
            throw .toolchainWithoutEmbedded("\(toolchain.unicodeDataTables.path) is missing")
        }
        return toolchain
    }

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
        guard let executable = which(arguments[0]) else { throw .fileNotFound(arguments[0]) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { throw .commandFailed(arguments.joined(separator: " "), status: -1, output: "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs a command with inherited standard streams and returns its exit status.
    public static func run(_ arguments: [String], in directory: URL? = nil) throws(ToolError) -> Int32 {
        guard let executable = which(arguments[0]) else { throw .fileNotFound(arguments[0]) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let directory { process.currentDirectoryURL = directory }
        do { try process.run() } catch { throw .commandFailed(arguments.joined(separator: " "), status: -1, output: "\(error)") }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
