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
    /// The unikernel package checkout whose linker script the toolset names. `build` replaces it with the checkout
    /// that the guest build of `packageDirectory` resolves (`locateUnikernelPackage()`), so the linker script always
    /// comes from the same checkout as the boot shim and the modules it is linked with.
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
            ] + (optimization == .size ? Self.sizeOptions : [])],
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

    /// Swift options of a size build (measured on HelloHTTP, 2026-11-28: 373,584 bytes stripped with `-Osize`
    /// alone, 354,848 with the first two of the following, whose effect on the scheduler's code is none: it is
    /// byte-identical either way).
    ///   * `-mergeable-traps`: a function's failed-check traps (`ud2`) may share one instruction. A trap still
    ///     reports its vector, the function's address and a backtrace; only the exact check inside the function is
    ///     no longer told apart by address. -4.8 KB.
    ///   * no closure specialization: the SIL pass copies a function for every closure literal passed to it
    ///     (`transmitIPv4(..., fill:)` was emitted four times, `ARPCache.enqueue` four times). Without it the
    ///     closure is called indirectly, one indirect call per packet on those paths. -14.5 KB.
    ///   * link-time optimization over the whole image (`swift build --experimental-lto-mode=full`, see
    ///     `buildArguments`): every module is compiled to LLVM bitcode and optimized and generated as one unit when
    ///     the image is linked, so code that no caller reaches is dropped function by function and data object by
    ///     data object, not object file by object file. Without it, Embedded Swift puts all of a module's class
    ///     metadata into one `.data` section per object file, which is kept whole if anything in it is used, and
    ///     that keeps every method its vtables name. -44 KB on HelloHTTP.
    ///   * `--target=x86_64-unknown-linux-gnu` for the link step only: clang's bare-metal driver refuses bitcode
    ///     inputs ("unable to pass LLVM bit-code files to linker"); its GNU driver hands them to lld, re-targeting
    ///     each module to the Linux triple on the way (one "overriding the module target triple" warning per
    ///     module). For this code the two triples generate the same instructions: red zone, frame pointers and size
    ///     are function attributes carried in the bitcode, lld links statically (no `-pie`), and the image uses no
    ///     thread-local storage or stack protector. `-nostdlib` and `-static` keep Linux start files and libraries
    ///     out.
    ///   * lld's identical code folding (`--icf=all`): specializations of one generic function for element types
    ///     of the same size compile to the same bytes and are kept once (Swift cannot compare functions for
    ///     identity). -3.5 KB.
    ///   * LLVM's machine outliner, run in the link-time code generator: instruction sequences repeated across
    ///     functions (the same retain/release and bounds-check tails) become one called fragment. A fault inside a
    ///     fragment is reported at the fragment's address (`OUTLINED_FUNCTION_n`) and the frame-pointer backtrace
    ///     continues from the function that called it. -11.8 KB, at a price under TCG, where each call and return
    ///     is a translation-block lookup: a semaphore context switch took 1,666 ns instead of 1,233 ns, and bulk
    ///     TCP over TAP lost about 20 % of its throughput (README, "Image size"). `--optimize speed` builds use none
    ///     of these options.
    /// HelloHTTP with all of the above: 271,152 bytes; 257,232 after the code changes that followed (2026-11-28).
    static let sizeOptions = [
        "-Osize", "-Xfrontend", "-mergeable-traps", "-Xllvm", "-sil-disable-pass=closure-specialize",
        "-Xclang-linker", "--target=x86_64-unknown-linux-gnu",
        "-Xlinker", "--icf=all",
        "-Xlinker", "-mllvm", "-Xlinker", "-enable-machine-outliner=always",
    ]

    /// The `swift build` arguments of a guest build of `product` (the driver path first).
    func buildArguments(product: String) -> [String] {
        [toolchain.swiftDriver.path, "build", "--package-path", packageDirectory.path,
         "--triple", Self.triple, "-c", "release", "--toolset", toolsetPath.path,
         "--scratch-path", scratchPath.path, "--product", product]
            + (optimization == .size ? ["--experimental-lto-mode=full"] : [])
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
        let json = try packageJSON(["describe", "--type", "json"], what: "swift package describe")
        guard let products = json["products"] as? [[String: Any]] else {
            throw .commandFailed("swift package describe", status: 0, output: "no products in the package description")
        }
        return products.compactMap { p in
            guard let name = p["name"] as? String, let type = p["type"] as? [String: Any], let kind = type.keys.first
            else { return nil }
            return (name, kind)
        }
    }

    /// Finds the unikernel package in `packageDirectory`'s dependency graph as the guest build resolves it (in the
    /// guest scratch path): the package itself when it is the unikernel package, otherwise the first dependency,
    /// direct or transitive, whose manifest is named `swift-unikernel`. Throws `checkoutWithoutLinkerScript` when
    /// that checkout has no linker script, and `invalidArgument` when the package does not depend on it at all.
    public func locateUnikernelPackage() throws(ToolError) -> UnikernelPackage {
        let graph = try packageJSON(["show-dependencies", "--format", "json"], what: "swift package show-dependencies")
        var queue = [graph]
        while !queue.isEmpty {
            let node = queue.removeFirst()
            if let name = node["name"] as? String, name == UnikernelPackage.manifestName,
               let path = node["path"] as? String {
                return try UnikernelPackage.validated(root: URL(fileURLWithPath: path))
            }
            queue += node["dependencies"] as? [[String: Any]] ?? []
        }
        throw .invalidArgument(
            "the package at \(packageDirectory.path) does not depend on \(UnikernelPackage.manifestName); add it to "
                + "Package.swift (`.package(url: \"<url>\", from: \"0.1.0\")`, and `.product(name: \"Runtime\", "
                + "package: \"<identity>\")` in the application's target) or create a package with `unikernel init`")
    }

    /// Runs `swift package <arguments>` in the guest scratch path and parses its JSON output.
    private func packageJSON(_ arguments: [String], what: String) throws(ToolError) -> [String: Any] {
        // The guest scratch path has its own lock, so this works while a host build or `swift test` holds .build.
        // Standard error apart: SwiftPM prints resolution progress ("Fetching ...") and "Another instance of
        // SwiftPM is already running ..." there, at any moment, and only the JSON object goes to standard output.
        let (status, output, errors) = try Shell.captureSeparately(
            [toolchain.swiftDriver.path, "package", "--scratch-path", scratchPath.path] + arguments,
            in: packageDirectory)
        guard status == 0 else { throw .commandFailed(what, status: status, output: errors + output) }
        let start = output.hasPrefix("{")
            ? output.startIndex : output.range(of: "\n{").map { output.index(after: $0.lowerBound) }
        guard let start, let end = output.lastIndex(of: "}"), start < end,
              let object = try? JSONSerialization.jsonObject(with: Data(output[start...end].utf8)) as? [String: Any]
        else {
            throw .commandFailed(what, status: status, output: errors + output)
        }
        return object
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
        // Link with the linker script of the checkout this build compiles (in an application package:
        // `.build-guest/checkouts/<identity>`), not necessarily the one the tool was compiled from.
        var resolved = GuestBuilder(packageDirectory: packageDirectory, unikernel: try locateUnikernelPackage(),
                                    toolchain: toolchain)
        resolved.optimization = optimization
        try resolved.writeToolset()
        // SwiftPM does not track the linker script as an input; removing the old image forces a fresh link.
        try? FileManager.default.removeItem(at: imagePath(for: product))
        let arguments = resolved.buildArguments(product: product)
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
