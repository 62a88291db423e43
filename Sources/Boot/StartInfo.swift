import Interfaces

/// Bytes of physical memory that can be read by address, with every read bounds-checked.
///
/// In the guest the window covers the identity-mapped first 4 GiB (minus page 0); in host tests it is a byte
/// array placed at a chosen physical address. Parsing code reads only through a window, so a pointer in a
/// structure the hypervisor wrote can never make it read outside the memory the window names.
public struct PhysicalMemoryWindow {
    /// Physical address of `bytes[0]`.
    public let base: UInt64
    /// The readable bytes.
    public let bytes: UnsafeRawBufferPointer

    /// A window of `bytes` at physical address `base`.
    public init(base: UInt64, bytes: UnsafeRawBufferPointer) {
        self.base = base
        self.bytes = bytes
    }

    /// Whether `[address, address + count)` lies inside the window.
    public func contains(_ address: UInt64, count: UInt64) -> Bool {
        guard address >= base else { return false }
        let offset = address - base
        return offset <= UInt64(bytes.count) && count <= UInt64(bytes.count) - offset
    }

    /// The little-endian integer of type `T` at `address`, or nil if it is outside the window.
    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: UInt64) -> T? {
        let size = UInt64(MemoryLayout<T>.size)
        guard contains(address, count: size) else { return nil }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: Int(address - base), as: T.self))
    }

    /// The bytes of the NUL-terminated string at `address`, without the NUL, or nil if no NUL occurs within
    /// `maxLength` bytes or the window ends first.
    public func cString(at address: UInt64, maxLength: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var a = address
        while result.count <= maxLength {
            guard let byte = load(UInt8.self, at: a) else { return nil }
            if byte == 0 { return result }
            result.append(byte)
            a += 1
        }
        return nil
    }
}

/// A table or string that the PVH start info points to.
public enum StartInfoPart: Equatable, Sendable, CustomStringConvertible {
    case commandLine, memoryMap, moduleList, module, moduleCommandLine

    public var description: String {
        switch self {
        case .commandLine: return "command line"
        case .memoryMap: return "memory map"
        case .moduleList: return "module list"
        case .module: return "module"
        case .moduleCommandLine: return "module command line"
        }
    }
}

/// Why the PVH start info could not be used.
public enum StartInfoError: Error, Equatable, CustomStringConvertible {
    /// The structure itself lies outside readable memory.
    case unreadable(address: UInt64)
    /// The magic number is not 0x336ec578.
    case badMagic(UInt32)
    /// Version 0 has no memory map, which this kernel needs.
    case noMemoryMap(version: UInt32)
    /// More entries than the stated limit (the count is probably garbage).
    case tooManyEntries(what: StartInfoPart, count: UInt32, limit: UInt32)
    /// A table or string the start info points to lies outside readable memory or is unterminated.
    case badPointer(what: StartInfoPart, address: UInt64)

    /// The failure's kind and its key number, printable without allocating (boot-failure reports use this, so
    /// images do not carry the formatting code of `description`).
    public var brief: (what: StaticString, value: UInt64) {
        switch self {
        case .unreadable(let a): return ("start info outside readable memory at", a)
        case .badMagic(let m): return ("bad start info magic (expected 0x336ec578):", UInt64(m))
        case .noMemoryMap(let v): return ("start info has no memory map; version", UInt64(v))
        case .tooManyEntries(_, let count, _): return ("too many memory map or module entries:", UInt64(count))
        case .badPointer(_, let a): return ("a start info table is unreadable or unterminated at", a)
        }
    }

    /// A one-line explanation for boot failure reports.
    public var description: String {
        switch self {
        case .unreadable(let a): return "start info at \(hex(a)) is outside readable memory"
        case .badMagic(let m): return "bad magic \(hex(UInt64(m))) (expected 0x336ec578)"
        case .noMemoryMap(let v): return "start info version \(v) has no memory map"
        case .tooManyEntries(let what, let count, let limit): return "\(what) has \(count) entries (limit \(limit))"
        case .badPointer(let what, let a): return "\(what) at \(hex(a)) is unreadable or unterminated"
        }
    }
}

/// One module (an initrd-like blob) handed over by the hypervisor.
public struct BootModule: Equatable {
    /// Physical address of the module's bytes.
    public var address: UInt64
    /// Size in bytes.
    public var size: UInt64
    /// The module's command line (empty if none).
    public var commandLine: [UInt8]
}

/// The PVH boot information (`struct hvm_start_info`, Xen public header arch-x86/hvm/start_info.h), parsed and
/// validated: every count is bounded, every pointer checked against readable memory, every string terminated.
///
/// Layout (little endian): magic u32 @0, version u32 @4, flags u32 @8, nr_modules u32 @12, modlist_paddr u64 @16,
/// cmdline_paddr u64 @24, rsdp_paddr u64 @32; version >= 1 adds memmap_paddr u64 @40, memmap_entries u32 @48.
/// Module entries are 32 bytes (paddr, size, cmdline_paddr, reserved); memory map entries 24 bytes
/// (addr u64, size u64, type u32, reserved u32) with E820 type numbers.
public struct StartInfo: Equatable {
    /// `XEN_HVM_START_MAGIC_VALUE`.
    public static let magic: UInt32 = 0x336e_c578
    /// Largest accepted memory map.
    public static let maxMemoryMapEntries: UInt32 = 128
    /// Largest accepted module list.
    public static let maxModules: UInt32 = 16
    /// Longest accepted command line in bytes.
    public static let maxCommandLineLength = 4096

    /// Structure version (1 or later: the memory map is present).
    public var version: UInt32
    /// Flags word (`SIF_*`).
    public var flags: UInt32
    /// The kernel command line, without its NUL.
    public var commandLine: [UInt8]
    /// The physical memory map, in the order the hypervisor gave it.
    public var memoryMap: [MemoryRegion]
    /// Physical address of the ACPI RSDP, or nil if the hypervisor gave none.
    public var rsdp: UInt64?
    /// Modules passed by the hypervisor.
    public var modules: [BootModule]

    /// Parses the start info at physical address `address`, reading only through `memory`.
    public static func parse(at address: UInt64, in memory: PhysicalMemoryWindow) throws(StartInfoError) -> StartInfo {
        guard memory.contains(address, count: 56) else { throw .unreadable(address: address) }
        func u32(_ offset: UInt64) -> UInt32 { memory.load(UInt32.self, at: address + offset)! }
        func u64(_ offset: UInt64) -> UInt64 { memory.load(UInt64.self, at: address + offset)! }

        let magic = u32(0)
        guard magic == StartInfo.magic else { throw .badMagic(magic) }
        let version = u32(4)
        guard version >= 1 else { throw .noMemoryMap(version: version) }

        var commandLine: [UInt8] = []
        let commandLineAddress = u64(24)
        if commandLineAddress != 0 {
            guard let text = memory.cString(at: commandLineAddress, maxLength: maxCommandLineLength) else {
                throw .badPointer(what: .commandLine, address: commandLineAddress)
            }
            commandLine = text
        }

        let entryCount = u32(48)
        guard entryCount <= maxMemoryMapEntries else {
            throw .tooManyEntries(what: .memoryMap, count: entryCount, limit: maxMemoryMapEntries)
        }
        let mapAddress = u64(40)
        guard entryCount == 0 || memory.contains(mapAddress, count: UInt64(entryCount) * 24) else {
            throw .badPointer(what: .memoryMap, address: mapAddress)
        }
        var map: [MemoryRegion] = []
        map.reserveCapacity(Int(entryCount))
        for i in 0..<UInt64(entryCount) {
            let entry = mapAddress + i * 24
            let start = memory.load(UInt64.self, at: entry)!
            let size = memory.load(UInt64.self, at: entry + 8)!
            let type = memory.load(UInt32.self, at: entry + 16)!
            if size == 0 { continue }
            map.append(MemoryRegion(start: PhysicalAddress(start), length: size, kind: MemoryKind(e820Type: type)))
        }

        let moduleCount = u32(12)
        guard moduleCount <= maxModules else {
            throw .tooManyEntries(what: .moduleList, count: moduleCount, limit: maxModules)
        }
        let listAddress = u64(16)
        guard moduleCount == 0 || memory.contains(listAddress, count: UInt64(moduleCount) * 32) else {
            throw .badPointer(what: .moduleList, address: listAddress)
        }
        var modules: [BootModule] = []
        for i in 0..<UInt64(moduleCount) {
            let entry = listAddress + i * 32
            let moduleAddress = memory.load(UInt64.self, at: entry)!
            let size = memory.load(UInt64.self, at: entry + 8)!
            guard memory.contains(moduleAddress, count: size) else {
                throw .badPointer(what: .module, address: moduleAddress)
            }
            let lineAddress = memory.load(UInt64.self, at: entry + 16)!
            var line: [UInt8] = []
            if lineAddress != 0 {
                guard let text = memory.cString(at: lineAddress, maxLength: maxCommandLineLength) else {
                    throw .badPointer(what: .moduleCommandLine, address: lineAddress)
                }
                line = text
            }
            modules.append(BootModule(address: moduleAddress, size: size, commandLine: line))
        }

        let rsdp = u64(32)
        return StartInfo(version: version, flags: u32(8), commandLine: commandLine, memoryMap: map,
                         rsdp: rsdp == 0 ? nil : rsdp, modules: modules)
    }
}
