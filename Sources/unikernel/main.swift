// unikernel: build, boot and inspect Swift unikernel images.
import ArgumentParser
import Foundation
import UnikernelTool

/// Prints a tool error to stderr and exits with 125 (the tool's own failure status).
func fail(_ error: ToolError) -> Never {
    FileHandle.standardError.write(Data("unikernel: error: \(error)\n".utf8))
    exit(125)
}

func currentPackageDirectory(_ explicit: String?) -> URL {
    if let explicit { return URL(fileURLWithPath: explicit) }
    let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    return GuestBuilder.packageDirectory(containing: cwd) ?? cwd
}

@main
struct Unikernel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unikernel",
        abstract: "Build, boot and inspect Swift unikernel images.",
        subcommands: [Build.self, Run.self, Inspect.self, Embed.self, Init.self])
}

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an executable product as a bootable guest image; prints the image path as the last line.")

    @Argument(help: "The executable product to build (e.g. Hello).")
    var product: String

    @Option(name: .customLong("package-path"), help: "The package containing the product (default: the enclosing package).")
    var packagePath: String?

    @Flag(help: "Show only errors from the compiler.")
    var quiet = false

    @Option(help: "Optimize for size (default) or speed.")
    var optimize: String = "size"

    @Option(name: .customLong("embed"), help: "After linking, embed this directory in the image (see `unikernel embed`).")
    var embedDirectory: String?

    func run() throws {
        do throws(ToolError) {
            var builder = GuestBuilder(packageDirectory: currentPackageDirectory(packagePath),
                                       unikernel: try UnikernelPackage.current(), toolchain: try Toolchain.find())
            guard let optimization = GuestBuilder.Optimization(rawValue: optimize) else {
                throw ToolError.invalidArgument("--optimize must be size or speed, not '\(optimize)'")
            }
            builder.optimization = optimization
            let image = try builder.build(product: product, quiet: quiet)
            if let embedDirectory {
                do throws(EmbedError) {
                    let summary = try Embedder.embed(directory: embedDirectory, into: image.path)
                    FileHandle.standardError.write(Data("unikernel: \(summary)\n".utf8))
                } catch {
                    throw ToolError.embed(error.description)
                }
            }
            print(image.path)
        } catch {
            fail(error)
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Boot an image in QEMU with the serial console on stdout; exits with the guest's status.",
        discussion: """
            Exit status: the guest's own status (0 for success); 124 if --timeout expired; 125 if QEMU or the tool \
            failed; 126 if the guest stopped without reporting a status (e.g. a triple fault); 128 + N if the tool \
            got signal N (SIGTERM, SIGINT and SIGHUP stop QEMU first).
            The default accelerator is tcg (works everywhere). Pass --accel kvm on a host with a hardware hypervisor.
            """)

    @Argument(help: "The image (an ELF file with a PVH note), as printed by `unikernel build`.")
    var image: String

    @Option(help: "QEMU machine: microvm, pc or q35.")
    var machine: String = "microvm"

    @Option(help: "Guest memory in MiB.")
    var memory: Int = 128

    @Option(help: "Accelerator: tcg or kvm.")
    var accel: String = "tcg"

    @Option(help: "Network backend of the virtio-net device: user, tap:IFNAME or none (--forward implies user).")
    var net: String = "none"

    @Option(name: .customLong("forward"), help: "Forward host 127.0.0.1:HOST to guest port GUEST (HOST:GUEST). Repeatable.")
    var forwards: [String] = []

    @Option(name: .customLong("disk"), help: "Attach a raw disk image as a virtio-blk device. Repeatable.")
    var disks: [String] = []

    @Option(help: "Kernel command line: the application's arguments and unikernel.* options.")
    var append: String?

    @Option(help: "Stop the guest after this many seconds (exit status 124).")
    var timeout: Double?

    @Flag(help: "Attach a virtio-rng device (entropy).")
    var rng = false

    @Flag(name: .customLong("legacy-virtio"), help: "Use legacy virtio (virtio-mmio v1 / virtio-pci disable-modern=on).")
    var legacyVirtio = false

    @Flag(help: "Start QEMU's gdb server (tcp::--gdb-port) and wait for a debugger before the first instruction.")
    var gdb = false

    @Option(name: .customLong("gdb-port"), help: "Port for --gdb.")
    var gdbPort: Int = 1234

    @Flag(name: .customLong("print-command"), help: "Print the QEMU command line before running it.")
    var printCommand = false

    @Option(name: .customLong("qemu-arg"), parsing: .unconditionalSingleValue, help: "Extra argument for QEMU. Repeatable.")
    var qemuArguments: [String] = []

    func run() throws {
        var config = QEMUConfiguration(image: image)
        guard let m = QEMUConfiguration.Machine(rawValue: machine) else {
            fail(.invalidArgument("--machine must be microvm, pc or q35, not '\(machine)'"))
        }
        guard let a = QEMUConfiguration.Accelerator(rawValue: accel) else {
            fail(.invalidArgument("--accel must be tcg or kvm, not '\(accel)'"))
        }
        guard let n = QEMUConfiguration.Network(argument: net) else {
            fail(.invalidArgument("--net must be user, tap:IFNAME or none, not '\(net)'"))
        }
        guard memory >= 2 else { fail(.invalidArgument("--memory must be at least 2 (MiB)")) }
        config.machine = m
        config.accelerator = a
        config.network = n
        config.memoryMiB = memory
        for f in forwards {
            guard let parsed = QEMUConfiguration.Forward(argument: f) else {
                fail(.invalidArgument("--forward expects HOST:GUEST port numbers, not '\(f)'"))
            }
            config.forwards.append(parsed)
        }
        if case .tap = n, !forwards.isEmpty { fail(.invalidArgument("--forward needs user networking, not a TAP device")) }
        for d in disks where !FileManager.default.fileExists(atPath: d) { fail(.fileNotFound(d)) }
        config.disks = disks
        config.append = append
        config.randomNumberGenerator = rng
        config.legacyVirtio = legacyVirtio
        config.extraArguments = qemuArguments
        if gdb {
            config.gdbPort = gdbPort
            FileHandle.standardError.write(Data("""
                unikernel: waiting for gdb on tcp::\(gdbPort). In another terminal:
                  gdb \(image) -ex 'target remote :\(gdbPort)' -ex 'hbreak main' -ex continue

                """.utf8))
        }
        if printCommand {
            print(([config.qemu] + config.arguments).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " "))
        }
        do throws(ToolError) {
            var runner = QEMURunner(configuration: config, timeout: timeout)
            runner.stopOnSignals = true
            let outcome = try runner.run()
            switch outcome {
            case .exited: break
            case .timedOut:
                FileHandle.standardError.write(Data("unikernel: error: \(ToolError.guestTimedOut(seconds: timeout ?? 0))\n".utf8))
            case .qemuFailed(let status):
                FileHandle.standardError.write(Data("unikernel: error: QEMU failed (status \(status))\n".utf8))
            case .interrupted(let signal):
                FileHandle.standardError.write(Data("unikernel: stopped QEMU on signal \(signal)\n".utf8))
            case .stoppedWithoutStatus:
                FileHandle.standardError.write(Data(
                    "unikernel: error: the guest stopped without reporting a status (triple fault or power-off)\n".utf8))
            }
            Foundation.exit(outcome.toolStatus)
        } catch {
            fail(error)
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify an image's PVH note, entry point and segments; print section sizes, the largest symbols by module, and the embedded files.")

    @Argument(help: "The image to inspect.")
    var image: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Option(name: .customLong("top"), help: "How many of the largest symbols to list.")
    var top: Int = 20

    func run() throws {
        do throws(ToolError) {
            let report = try ImageReport(path: image, largestCount: top)
            print(json ? report.json : report.text)
        } catch {
            fail(error)
        }
    }
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a host directory into an image as embedded content, which the guest mounts into a RamFS.",
        discussion: """
            Regular files and directories are packed recursively, with names relative to DIRECTORY. Symbolic links, \
            FIFOs, sockets and devices are refused (links are never followed). Names must be UTF-8, components at \
            most 255 bytes, paths at most 4095 bytes. At most \(Embedder.Limits().maxEntries) files and directories \
            and \(Embedder.Limits().maxTotalBytes >> 20) MiB of file data. Content embedded earlier is replaced. The \
            guest reads the files in place: `System.mountEmbeddedFiles(into:)`. Give the guest enough memory to hold \
            the image and its content (the summary says how much).
            """)

    @Argument(help: "The image (as printed by `unikernel build`).")
    var image: String

    @Argument(help: "The directory to embed.")
    var directory: String

    @Option(help: "Write the result here instead of replacing the image.")
    var output: String?

    func run() throws {
        do throws(EmbedError) {
            let summary = try Embedder.embed(directory: directory, into: image, output: output)
            print("\(summary)")
        } catch {
            fail(.embed(error.description))
        }
    }
}

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an application package that depends on the unikernel package.",
        discussion: """
            Writes Package.swift (one executable product, named after the directory as a Swift identifier), \
            Sources/<Product>/main.swift from the template, a README with the commands that build and boot it, and \
            a .gitignore. The directory is created if missing and must otherwise be empty. Inside the new package the \
            tool is `swift run unikernel` (an executable product of the dependency).
            """)

    @Argument(help: "The new package's directory; its name names the package and the product.")
    var directory: String

    @Option(help: ArgumentHelp(
        "What main.swift does: hello (prints a greeting and its arguments) or http (serves port 8080).",
        valueName: "hello|http"))
    var template: String = "hello"

    @Option(help: ArgumentHelp(
        "The unikernel package: a git URL (https://…, file://…) or a local directory (used as it is).",
        discussion: "Default: the repository this tool was built from, as a file:// URL.", valueName: "url|path"))
    var dependency: String?

    @Option(help: ArgumentHelp("For a URL: accept this version up to the next major one.", valueName: "version"))
    var from: String = "0.1.0"

    @Option(help: ArgumentHelp("For a URL: follow this branch instead of a version.", valueName: "branch"))
    var branch: String?

    func run() throws {
        do throws(ToolError) {
            guard let chosen = ApplicationTemplate(rawValue: template) else {
                throw ToolError.invalidArgument("--template must be hello or http, not '\(template)'")
            }
            guard let version = ReleaseVersion(from) else {
                throw ToolError.invalidArgument("--from must be a version like 0.1.0, not '\(from)'")
            }
            let requirement: UnikernelDependency.Requirement = branch.map { .branch($0) } ?? .from(version)
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let tool = try? UnikernelPackage.current()
            var warnings: [String] = []
            let chosenDependency: UnikernelDependency
            if let dependency {
                chosenDependency = UnikernelDependency(argument: dependency, requirement: requirement, relativeTo: cwd)
            } else {
                guard let tool else {
                    throw ToolError.invalidArgument(
                        "cannot find the unikernel package this tool was built from; pass --dependency URL|PATH")
                }
                let (found, warning) = try UnikernelDependency.defaultDependency(tool: tool, requirement: requirement)
                chosenDependency = found
                if let warning { warnings.append(warning) }
            }
            if case .path(let path) = chosenDependency.location,
               !FileManager.default.fileExists(atPath: path + "/Package.swift") {
                warnings.append("there is no package at \(path) (no Package.swift).")
            }
            // The checkout the new package will build against, when it is on this machine.
            let checkout: URL?
            if case .path(let path) = chosenDependency.location { checkout = URL(fileURLWithPath: path) }
            else { checkout = tool?.root }
            if let checkout, !chosen.isAvailable(in: checkout) {
                warnings.append("the \(chosen) template uses HTTPServer, which this version of the unikernel package "
                    + "does not have yet; the new package will not build until its dependency does.")
            }
            let directoryURL = directory.hasPrefix("/") ? URL(fileURLWithPath: directory)
                : cwd.appendingPathComponent(directory)
            let package = ApplicationPackage(directory: directoryURL, template: chosen, dependency: chosenDependency)
            try package.write()
            print("Created \(package.packageName) in \(package.directory.path): product \(package.productName), "
                + "template \(chosen), dependency \(chosenDependency).")
            for file in package.files { print("  \(file.path)") }
            print("Next:\n  cd \(package.directory.path)\n  swift run unikernel build \(package.productName) && "
                + "swift run unikernel run \(package.imagePath)"
                + (chosen.servicePort.map { " --forward \($0):\($0)" } ?? ""))
            for warning in warnings { FileHandle.standardError.write(Data("unikernel: warning: \(warning)\n".utf8)) }
        } catch {
            fail(error)
        }
    }
}
