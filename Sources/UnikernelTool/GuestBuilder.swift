import Foundation

/// Builds guest images: writes the SwiftPM toolset that turns an ordinary `swift build` into an Embedded Swift,
/// freestanding, statically linked build for `x86_64-unknown-none-elf`, and runs it.
///
/// The toolset carries every guest-only setting, so no target in `Package.swift` needs `unsafeFlags` and an
/// application package can depend on the unikernel package by URL (DESIGN.md, "Guest flags belong in a
/// SwiftPM toolset").
public struct GuestBuilder {
    /// The package whose product is built (the application's package, or this repository).
    public let packageDirectory: URL
    /// The unikernel package checkout (linker script, boot shim).
    public let unikernel: UnikernelPackage
    /// The Swift toolchain.
    public let toolchain: Toolchain

    /// The guest triple.
    public static let triple = "x86_64-unknown-none-elf"

    /// What the optimizer favours. Size is the default: images stay small and boot fast; speed (`-O`) is for
    /// throughput-bound services.
    public enum Optimization: String, CaseIterable, Sendable { case size, speed }

    /// The optimization used by `build`.
    public var optimization: Optimization = .size

    /// Creates a builder for the package at `packageDirectory`.
    public init(packageDirectory: URL, unikernel: UnikernelPackage, toolchain: Toolchain) {
        self.packageDirectory = packageDirectory
        self.unikernel = unikernel
        self.toolchain = toolchain
    }

    /// Where guest builds go; kept apart from the host build so the two never share products.
    public var scratchPath: URL { packageDirectory.appendingPathComponent(".build-guest") }
    /// The toolset file the builder writes.
    public var toolsetPath: URL { scratchPath.appendingPathComponent("guest-toolset.json") }

    /// The compiler, C compiler and linker options of a guest build.
    public var toolset: [String: Any] {
        [
            "schemaVersion": "1.0",
            "swiftCompiler": ["extraCLIOptions": [
                "-enable-experimental-feature", "Embedded",
                "-Xfrontend", "-disable-stack-protector",
                "-Xfrontend", "-function-sections",
                "-Xcc", "-mno-red-zone", "-Xcc", "-ffreestanding", "-Xcc", "-fno-omit-frame-pointer",
                // Exclusivity is checked statically, and dynamically by the host build that runs the tests; in
                // the guest, the dynamic checks (swift_beginAccess on every class-property access) would cost
                // more than the context switch they sit in.
                "-enforce-exclusivity=unchecked",
                "-Xclang-linker", "-fuse-ld=lld", "-Xclang-linker", "-nostdlib", "-Xclang-linker", "-static",
            ] + (optimization == .size ? ["-Osize"] : [])],
            "cCompiler": ["extraCLIOptions": [
                "-ffreestanding", "-mno-red-zone", "-fno-stack-protector", "-fno-omit-frame-pointer",
                "-ffunction-sections", "-fdata-sections",
            ] + (optimization == .size ? ["-Os"] : ["-O2"])],
            "linker": ["extraCLIOptions": [
                "-T", unikernel.linkerScript.path, "--gc-sections", "-z", "max-page-size=16", "-z", "norelro",
                "--build-id=none", toolchain.unicodeDataTables.path,
            ]],
        ]
    }

    /// Writes the toolset file and returns its path.
    @discardableResult
    public func writeToolset() throws(ToolError) -> URL {
        do {
            try FileManager.default.createDirectory(at: scratchPath, withIntermediateDirectories: true)
            let data = try JSONSerialization.data(withJSONObject: toolset, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: toolsetPath)
        } catch {
            throw .invalidArgument("cannot write \(toolsetPath.path): \(error)")
        }
        return toolsetPath
    }

    /// The package's products as (name, kind) pairs, e.g. ("Hello", "executable").
    public func products() throws(ToolError) -> [(name: String, kind: String)] {
        // The guest scratch path has its own lock, so this works while a host build or `swift test` holds .build.
        let (status, output) = try Shell.capture(["swift", "package", "--scratch-path", scratchPath.path,
                                                  "describe", "--type", "json"], in: packageDirectory)
        guard status == 0 else { throw .commandFailed("swift package describe", status: status, output: output) }
        // SwiftPM may print resolution progress before the JSON.
        guard let start = output.firstIndex(of: "{"),
              let json = try? JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any],
              let products = json["products"] as? [[String: Any]] else {
            throw .commandFailed("swift package describe", status: status, output: output)
        }
        return products.compactMap { p in
            guard let name = p["name"] as? String, let type = p["type"] as? [String: Any], let kind = type.keys.first
            else { return nil }
            return (name, kind)
        }
    }

    /// The image a build of `product` produces.
    public func imagePath(for product: String) -> URL {
        scratchPath.appendingPathComponent("\(Self.triple)/release/\(product)")
    }

    /// Builds `product` (which must be an executable product) and returns the image path.
    public func build(product: String, quiet: Bool = false) throws(ToolError) -> URL {
        let all = try products()
        guard let found = all.first(where: { $0.name == product }) else {
            throw .noSuchProduct(product, available: all.filter { $0.kind == "executable" }.map(\.name))
        }
        guard found.kind == "executable" else { throw .productNotExecutable(product, type: found.kind) }
        try writeToolset()
        // SwiftPM does not track the linker script as an input; removing the old image forces a fresh link.
        try? FileManager.default.removeItem(at: imagePath(for: product))
        let arguments = ["swift", "build", "--package-path", packageDirectory.path, "--triple", Self.triple,
                         "-c", "release", "--toolset", toolsetPath.path, "--scratch-path", scratchPath.path,
                         "--product", product]
        if quiet {
            let (status, output) = try Shell.capture(arguments)
            guard status == 0 else { throw .commandFailed("guest build of \(product)", status: status, output: output) }
        } else {
            let status = try Shell.run(arguments)
            guard status == 0 else { throw .commandFailed("guest build of \(product)", status: status, output: "") }
        }
        let image = imagePath(for: product)
        let elf = try ELFImage(path: image.path)
        try elf.verifyBootable()
        return image
    }

    /// The nearest directory at or above `start` that holds a `Package.swift`.
    public static func packageDirectory(containing start: URL) -> URL? {
        var dir = start.standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { return nil }
            dir = parent
        }
    }
}
