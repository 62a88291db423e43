// swift-tools-version: 6.0
//
// libFuzzer targets for the network stack and the HTTP parser: a package of its own, so that it may carry
// `unsafeFlags` (the root package must not: applications depend on it by URL). See README.md.
//
// Every target is an executable with a Swift `LLVMFuzzerTestOneInput`; its `main.swift` hands the command line
// to libFuzzer (`LLVMFuzzerRunDriver`), because SwiftPM aliases `main` to the module's own entry point.
// The flags below instrument the harnesses and link libFuzzer and AddressSanitizer, so a plain
// `swift build -c release --package-path Fuzz` gives working fuzzers. The library modules under test (TCPStack,
// HTTP, Interfaces) come from the root package, which carries no flags; Scripts/fuzz.sh instruments them too by
// adding `-Xswiftc -sanitize=fuzzer,address` (not `--sanitize`: SwiftPM passes several `--sanitize` values as
// separate `-sanitize=` options, and the compiler keeps only the last, so the coverage instrumentation is lost).
import Foundation
import PackageDescription

/// The root package is a path dependency, and SwiftPM names a path dependency after its directory.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
    .resolvingSymlinksInPath().lastPathComponent.lowercased()

/// `-sanitize=fuzzer,address`: coverage instrumentation, libFuzzer's main, AddressSanitizer.
/// The two SIL code-motion passes are disabled because of a Swift 6.3.1 miscompile they cause in harness code (a
/// store to a field of a struct from another module dropped inside a loop; see README.md, "Toolchain issue").
let fuzzerFlags = [
    "-sanitize=fuzzer,address",
    "-Xllvm", "-sil-disable-pass=early-codemotion", "-Xllvm", "-sil-disable-pass=late-codemotion",
]

/// Target name (as Scripts/fuzz.sh and Corpus/ spell it) and module.
let fuzzTargets: [(name: String, module: String, uses: [String])] = [
    ("ethernet", "FuzzEthernet", ["TCPStack"]),
    ("arp", "FuzzARP", ["TCPStack"]),
    ("ipv4", "FuzzIPv4", ["TCPStack"]),
    ("icmp", "FuzzICMP", ["TCPStack"]),
    ("udp", "FuzzUDP", ["TCPStack"]),
    ("tcp", "FuzzTCP", ["TCPStack"]),
    ("dhcp", "FuzzDHCP", ["TCPStack"]),
    ("dns", "FuzzDNS", ["TCPStack"]),
    ("http", "FuzzHTTP", ["HTTP"]),
    ("tcpstate", "FuzzTCPState", ["TCPStack"]),
    ("stack", "FuzzStack", ["TCPStack"]),
]

let package = Package(
    name: "swift-unikernel-fuzz",
    products: fuzzTargets.map { .executable(name: "fuzz-\($0.name)", targets: [$0.module]) },
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzDriver"),
        .target(
            name: "FuzzSupport",
            dependencies: [
                "FuzzDriver", .product(name: "Interfaces", package: root), .product(name: "TCPStack", package: root),
                // TCPStack's blocking sockets use Scheduler, whose thread system the runtime supplies (on the
                // host: OS threads, `HostThreads.swift`).
                .product(name: "Runtime", package: root),
            ],
            swiftSettings: [.unsafeFlags(fuzzerFlags)]),
    ] + fuzzTargets.map { target in
        .executableTarget(
            name: target.module,
            dependencies: ["FuzzSupport", .product(name: "Interfaces", package: root)]
                + target.uses.map { .product(name: $0, package: root) },
            swiftSettings: [.unsafeFlags(fuzzerFlags)],
            linkerSettings: [.unsafeFlags(fuzzerFlags)])
    },
    swiftLanguageModes: [.v5]
)
