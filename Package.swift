// swift-tools-version: 6.0
//
// One package, two builds:
//   * host:  `swift build` / `swift test` compile every module for Linux with no Embedded settings; pure logic is
//            unit-tested here and the example applications also link as ordinary Linux programs (hosted mode).
//   * guest: `swift run unikernel build <Product>` writes a SwiftPM toolset (Embedded Swift, no red zone,
//            freestanding, lld, the linker script) and runs `swift build --triple x86_64-unknown-none-elf` with it.
// No target carries unsafeFlags, so applications can depend on this package by URL (see README).
import PackageDescription

/// Library modules an application imports, bottom to top. Dependencies point downward only.
let libraries: [String] = [
    "Interfaces", "Hardware", "Boot", "Memory", "Scheduler", "Virtio", "VirtioNet", "VirtioBlk",
    "TCPStack", "HTTP", "RamFS", "RuntimeCore", "Runtime", "Services",
]

let package = Package(
    name: "swift-unikernel",
    products: libraries.map { .library(name: $0, targets: [$0]) } + [
        .executable(name: "unikernel", targets: ["unikernel"]),
        .executable(name: "Hello", targets: ["Hello"]),
        .executable(name: "HelloHTTP", targets: ["HelloHTTP"]),
        .executable(name: "StaticSite", targets: ["StaticSite"]),
        .executable(name: "KernelCheck", targets: ["KernelCheck"]),
        .executable(name: "EmbedCheck", targets: ["EmbedCheck"]),
        .executable(name: "SchedulerCheck", targets: ["SchedulerCheck"]),
        .executable(name: "NetBench", targets: ["NetBench"]),
        .executable(name: "DeviceCheck", targets: ["DeviceCheck"]),
        .executable(name: "BlockCheck", targets: ["BlockCheck"]),
        .executable(name: "NetEcho", targets: ["NetEcho"]),
        .executable(name: "RamFSBench", targets: ["RamFSBench"]),
        .executable(name: "RamFSGuestBench", targets: ["RamFSGuestBench"]),
        .executable(name: "TCPBench", targets: ["TCPBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C boot shim: PVH entry, long mode, GDT/TSS/IDT, trap stubs, context switch, freestanding libc.
        .target(name: "BootShim", path: "Boot"),

        // Protocols and value types shared by every component (pure Swift, no dependencies).
        .target(name: "Interfaces"),
        // Typed access to port I/O, MMIO, CPU registers, the UART, PIT, CMOS, APIC. Only it and Boot touch hardware.
        .target(name: "Hardware", dependencies: ["BootShim", "Interfaces"]),
        // PVH start info, descriptor tables, traps and exception reports.
        .target(name: "Boot", dependencies: ["BootShim", "Hardware", "Interfaces"]),
        // Memory map, physical frames, page tables, heap allocators (pure; host-tested over host buffers).
        .target(name: "Memory", dependencies: ["Interfaces"]),
        // Threads, run queues, timers, wait queues and synchronisation.
        .target(name: "Scheduler", dependencies: ["Interfaces", "BootShim"]),
        // Virtio transports (PCI, MMIO) and split virtqueues.
        .target(name: "Virtio", dependencies: ["Interfaces", "Hardware"]),
        .target(name: "VirtioNet", dependencies: ["Virtio", "Interfaces"]),
        .target(name: "VirtioBlk", dependencies: ["Virtio", "Interfaces"]),
        // Ethernet, ARP, IPv4, ICMP, UDP, TCP, DHCP, DNS over any NetworkDevice.
        .target(name: "TCPStack", dependencies: ["Interfaces", "Scheduler"]),
        // HTTP/1.1 request parsing and responses for applications.
        .target(name: "HTTP", dependencies: ["Interfaces"]),
        // In-memory file system behind the FileSystem protocol.
        .target(name: "RamFS", dependencies: ["Interfaces"]),
        // Runtime core: boot into `main`, console, heap, clock, panic, entropy, arguments, exit, the C symbols
        // Embedded Swift needs. Everything an image that only prints uses, and nothing else (see Runtime.swift).
        .target(name: "RuntimeCore", dependencies: ["BootShim", "Interfaces", "Hardware", "Boot", "Memory", "RamFS"]),
        // Composition root applications import: re-exports RuntimeCore and adds threads (the guest ThreadPlatform,
        // scheduler choice), interrupt controllers and timer, embedded files.
        .target(
            name: "Runtime",
            dependencies: ["RuntimeCore", "BootShim", "Interfaces", "Hardware", "Boot", "Memory", "Scheduler", "RamFS"]),
        // Devices and network services on top of the Runtime: virtio discovery and drivers with their interrupts,
        // `System.network` (TCP/IP over virtio-net), `HTTPServer`. A module of its own so that images which use
        // none of it (Hello) do not carry it: Swift emits a module's metadata into one data section, so anything in
        // Runtime's would be linked into every image.
        .target(
            name: "Services",
            dependencies: [
                "Runtime", "BootShim", "Interfaces", "Hardware", "Boot", "Memory", "Scheduler", "Virtio",
                "VirtioNet", "VirtioBlk", "TCPStack", "HTTP", "RamFS",
            ]),

        // Example applications: each builds into a bootable image.
        .executableTarget(name: "Hello", dependencies: ["Runtime"], path: "Examples/Hello"),
        .executableTarget(name: "HelloHTTP", dependencies: ["Runtime", "Services", "HTTP", "TCPStack"], path: "Examples/HelloHTTP"),
        .executableTarget(name: "StaticSite", dependencies: ["Runtime", "Services", "HTTP", "TCPStack", "RamFS"],
                          path: "Examples/StaticSite", exclude: ["site"]),
        .executableTarget(name: "DeviceCheck", dependencies: ["Runtime", "Services"], path: "Examples/DeviceCheck"),
        // Boot-test image for the foundation (scenarios chosen on the kernel command line).
        .executableTarget(name: "KernelCheck", dependencies: ["Runtime"], path: "Tests/Images/KernelCheck"),
        .executableTarget(name: "EmbedCheck", dependencies: ["Runtime"], path: "Tests/Images/EmbedCheck"),
        .executableTarget(name: "SchedulerCheck", dependencies: ["Runtime"], path: "Tests/Images/SchedulerCheck"),
        // Network test and benchmark image: HTTP, TCP echo, bulk TCP, heap statistics (Scripts/reliability.sh).
        .executableTarget(name: "NetBench", dependencies: ["Runtime", "Services", "HTTP", "TCPStack"], path: "Tests/Images/NetBench"),
        // Boot-test images for virtio-blk (BlockCheck) and raw networking over TAP (NetEcho).
        .executableTarget(name: "BlockCheck", dependencies: ["Runtime", "Services"], path: "Tests/Images/BlockCheck"),
        .executableTarget(name: "NetEcho", dependencies: ["Runtime", "Services"], path: "Tests/Images/NetEcho"),

        // Benchmarks run on the host (programs that print numbers).
        .target(name: "RamFSWorkload", dependencies: ["RamFS", "Interfaces"], path: "Benchmarks/RamFSWorkload"),
        .executableTarget(name: "RamFSBench", dependencies: ["RamFS", "RamFSWorkload", "Interfaces"],
                          path: "Benchmarks/RamFSBench"),
        .executableTarget(name: "RamFSGuestBench", dependencies: ["Runtime", "RamFS", "RamFSWorkload"],
                          path: "Benchmarks/RamFSGuestBench"),
        .executableTarget(name: "TCPBench", dependencies: ["TCPStack", "Interfaces"], path: "Benchmarks/TCPBench"),

        // Host tool.
        .systemLibrary(
            name: "CLibELF", path: "Sources/CLibELF", pkgConfig: "libelf",
            providers: [.apt(["libelf-dev"])]),
        .target(name: "UnikernelTool", dependencies: ["CLibELF", "Interfaces", "RamFS"]),
        // Host-only: a TAP NetworkDevice over /dev/net/tun and network-namespace helpers for interop tests.
        .target(name: "HostNetworking", dependencies: ["Interfaces", "TCPStack"]),
        .executableTarget(
            name: "unikernel",
            dependencies: ["UnikernelTool", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Host tests (Swift Testing).
        .testTarget(name: "InterfacesTests", dependencies: ["Interfaces"]),
        .testTarget(name: "HardwareTests", dependencies: ["Hardware", "Interfaces"]),
        .testTarget(name: "BootTests", dependencies: ["Boot", "Interfaces"]),
        .testTarget(name: "MemoryTests", dependencies: ["Memory", "Interfaces"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Interfaces"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "Runtime", "Interfaces"]),
        .testTarget(name: "UnikernelToolTests", dependencies: ["UnikernelTool"]),
        .testTarget(name: "TCPStackTests", dependencies: ["TCPStack", "Interfaces"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Interfaces"]),
        .testTarget(name: "RamFSTests", dependencies: ["RamFS", "Interfaces"]),
        .testTarget(name: "HostNetworkingTests",
                    dependencies: ["HostNetworking", "TCPStack", "Runtime", "Services", "Scheduler", "Interfaces"]),
        .testTarget(name: "VirtioTests", dependencies: ["Virtio", "VirtioNet", "VirtioBlk", "Hardware", "Interfaces"]),
        // Boot tests: build guest images and boot them in QEMU.
        .testTarget(name: "GuestTests", dependencies: ["UnikernelTool", "Interfaces"]),
    ],
    swiftLanguageModes: [.v5]
)
