// swift-tools-version: 6.0
//
// libFuzzer targets for the network stack and the HTTP parser: a package of its own, so that it may carry
// `unsafeFlags` (the root package must not: applications depend on it by URL). See README.md.
//
// Every target is an executable whose `LLVMFuzzerTestOneInput` is written in Swift; libFuzzer supplies `main`.
// The flags below instrument the harnesses and link libFuzzer. To instrument the library modules under test as
// well (TCPStack, HTTP, Interfaces: they come from the root package, which carries no flags), build with
// `--sanitize=fuzzer --sanitize=address` on the command line, as Scripts/fuzz.sh does.
import Foundation
import PackageDescription

/// The root package is a path dependency, and SwiftPM names a path dependency after its directory.
let root = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent()
    .resolvingSymlinksInPath().lastPathComponent.lowercased()

/// `-sanitize=fuzzer,address`: coverage instrumentation, libFuzzer's main, AddressSanitizer.
/// `early-codemotion` is disabled because of a Swift 6.3.1 miscompile it causes in harness code (a store to a
/// field of a struct from another module dropped inside a loop; see README.md, "Toolchain issue").
let fuzzerFlags = ["-sanitize=fuzzer,address", "-Xllvm", "-sil-disable-pass=early-codemotion"]

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
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "Interfaces", package: root), .product(name: "TCPStack", package: root),
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
