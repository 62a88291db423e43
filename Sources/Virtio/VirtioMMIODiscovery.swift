import Hardware
import Interfaces

/// Where a virtio-mmio device lives: its register window and, when known, its interrupt line.
public struct VirtioMMIODeviceLocation: Hashable, Sendable, CustomStringConvertible {
    /// Physical address of the register window.
    public var base: UInt64
    /// Size of the register window in bytes.
    public var size: UInt64
    /// The interrupt (GSI) the device raises, when the source says.
    public var irq: UInt32?
    /// The optional platform device id of the Linux syntax (`...:<irq>:<id>`).
    public var id: UInt32?

    /// Describes a device window.
    public init(base: UInt64, size: UInt64, irq: UInt32? = nil, id: UInt32? = nil) {
        self.base = base
        self.size = size
        self.irq = irq
        self.id = id
    }

    /// `<size>@<base>:<irq>`.
    public var description: String {
        var text = hex(size) + "@" + hex(base)
        if let irq { text += ":\(irq)" }
        if let id { text += ":\(id)" }
        return text
    }
}

/// Why a `virtio_mmio.device=` value could not be parsed.
public enum VirtioMMIOCommandLineError: Error, Equatable, CustomStringConvertible {
    /// The size is missing, not a number, has an unknown suffix, is zero, or overflows.
    case badSize
    /// The `@` between size and base is missing.
    case missingBase
    /// The base address is not a number or overflows.
    case badBase
    /// The `:` before the interrupt number is missing.
    case missingIRQ
    /// The interrupt number is not a decimal number or overflows.
    case badIRQ
    /// The optional device id is not a decimal number.
    case badID
    /// Characters follow the value.
    case trailingCharacters
    /// base + size wraps past the end of the address space.
    case rangeOverflows

    /// A human-readable rendering.
    public var description: String {
        switch self {
        case .badSize: return "bad size"
        case .missingBase: return "missing '@<base>'"
        case .badBase: return "bad base address"
        case .missingIRQ: return "missing ':<irq>'"
        case .badIRQ: return "bad interrupt number"
        case .badID: return "bad device id"
        case .trailingCharacters: return "unexpected characters after the value"
        case .rangeOverflows: return "base + size overflows"
        }
    }
}

/// Parsing `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` kernel command-line entries, the syntax of Linux's
/// virtio-mmio driver that Firecracker (and QEMU `microvm` when booting Linux) use to announce devices.
///
/// `<size>` is a number with an optional `K`, `M` or `G` suffix (binary multiples, either case); `<base>` and
/// `<size>` are hexadecimal with a `0x` prefix or decimal without; `<irq>` and `<id>` are decimal.
/// Everything is compared as bytes (no String comparison).
public enum VirtioMMIOCommandLine {
    /// The key, `virtio_mmio.device=`.
    public static let key: [UInt8] = Array("virtio_mmio.device=".utf8)

    /// Every `virtio_mmio.device=` word of `commandLine` (words are separated by spaces, tabs or newlines), in
    /// order: the parsed locations and, separately, each malformed value's error.
    public static func parse(_ commandLine: [UInt8]) -> (devices: [VirtioMMIODeviceLocation], errors: [VirtioMMIOCommandLineError]) {
        var devices: [VirtioMMIODeviceLocation] = []
        var errors: [VirtioMMIOCommandLineError] = []
        var start = 0
        while start < commandLine.count {
            while start < commandLine.count && isSpace(commandLine[start]) { start += 1 }
            var end = start
            while end < commandLine.count && !isSpace(commandLine[end]) { end += 1 }
            let word = commandLine[start..<end]
            if word.count > key.count && word.prefix(key.count).elementsEqual(key) {
                do throws(VirtioMMIOCommandLineError) {
                    devices.append(try parseValue(word.dropFirst(key.count)))
                } catch {
                    errors.append(error)
                }
            }
            start = end
        }
        return (devices, errors)
    }

    /// Parses a command line given as a String (its UTF-8 bytes).
    public static func parse(_ commandLine: String) -> (devices: [VirtioMMIODeviceLocation], errors: [VirtioMMIOCommandLineError]) {
        parse(Array(commandLine.utf8))
    }

    /// Parses one value, `<size>@<base>:<irq>[:<id>]`.
    public static func parseValue(_ value: ArraySlice<UInt8>) throws(VirtioMMIOCommandLineError) -> VirtioMMIODeviceLocation {
        var i = value.startIndex
        guard let size = number(value, &i, allowHex: true), size > 0 else { throw .badSize }
        var scaledSize = size
        if i < value.endIndex {
            let shift: UInt64?
            switch value[i] | 0x20 {  // lower-case
            case UInt8(ascii: "k"): shift = 10
            case UInt8(ascii: "m"): shift = 20
            case UInt8(ascii: "g"): shift = 30
            default: shift = nil
            }
            if let shift {
                guard size <= UInt64.max >> shift else { throw .badSize }
                scaledSize = size << shift
                i += 1
            }
        }
        guard i < value.endIndex, value[i] == UInt8(ascii: "@") else { throw .missingBase }
        i += 1
        guard let base = number(value, &i, allowHex: true) else { throw .badBase }
        guard i < value.endIndex, value[i] == UInt8(ascii: ":") else { throw .missingIRQ }
        i += 1
        guard let irq = number(value, &i, allowHex: false), irq <= UInt64(UInt32.max) else { throw .badIRQ }
        var id: UInt32?
        if i < value.endIndex && value[i] == UInt8(ascii: ":") {
            i += 1
            guard let n = number(value, &i, allowHex: false), n <= UInt64(UInt32.max) else { throw .badID }
            id = UInt32(n)
        }
        guard i == value.endIndex else { throw .trailingCharacters }
        guard base.addingReportingOverflow(scaledSize).overflow == false else { throw .rangeOverflows }
        return VirtioMMIODeviceLocation(base: base, size: scaledSize, irq: UInt32(irq), id: id)
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// Parses a decimal (or, with `allowHex`, `0x`-prefixed hexadecimal) number at `i`; nil if there are no
    /// digits or it overflows 64 bits.
    private static func number(_ s: ArraySlice<UInt8>, _ i: inout Int, allowHex: Bool) -> UInt64? {
        var radix: UInt64 = 10
        if allowHex, i + 1 < s.endIndex, s[i] == UInt8(ascii: "0"), s[i + 1] | 0x20 == UInt8(ascii: "x") {
            radix = 16
            i += 2
        }
        var value: UInt64 = 0
        var digits = 0
        while i < s.endIndex {
            let c = s[i]
            let d: UInt64
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                d = UInt64(c - UInt8(ascii: "0"))
            } else if radix == 16, c | 0x20 >= UInt8(ascii: "a"), c | 0x20 <= UInt8(ascii: "f") {
                d = UInt64((c | 0x20) - UInt8(ascii: "a") + 10)
            } else {
                break
            }
            let (m, o1) = value.multipliedReportingOverflow(by: radix)
            let (sum, o2) = m.addingReportingOverflow(d)
            guard !o1, !o2 else { return nil }
            value = sum
            digits += 1
            i += 1
        }
        return digits > 0 ? value : nil
    }
}

/// Probing candidate virtio-mmio windows.
public enum VirtioMMIOProbe {
    /// The 24 virtio-mmio slots of QEMU's `microvm` machine: 512 bytes each from 0xFEB00000 (filled from the
    /// top: the first `-device` lands in slot 23). Their interrupts are not announced on the command line;
    /// QEMU wires slot `i` to GSI `irqBase + i`, with `irqBase` 24 (the second IO-APIC, present when ACPI is on,
    /// the default), 16 (ACPI without the second IO-APIC, 8 slots) or 5 (no ACPI, 8 slots); the ACPI DSDT
    /// describes the lines authoritatively.
    public static func microvmSlots(irqBase: UInt32? = 24) -> [VirtioMMIODeviceLocation] {
        (0..<24).map { i in
            VirtioMMIODeviceLocation(base: 0xFEB0_0000 + UInt64(i) * 0x200, size: 0x200,
                                     irq: irqBase.map { $0 + UInt32(i) })
        }
    }

    /// A candidate slot that holds a device.
    public struct Found: Equatable, Sendable {
        /// The slot.
        public var location: VirtioMMIODeviceLocation
        /// The device type (never 0).
        public var deviceType: VirtioDeviceType
        /// The register layout version (1 or 2).
        public var version: UInt32
    }

    /// The candidates whose window holds the magic value 0x74726976, a known version (1 or 2) and a device ID
    /// other than 0 (an empty slot). `window(location)` maps a candidate's registers (nil skips it).
    public static func probe<Window: RegisterWindow>(_ candidates: [VirtioMMIODeviceLocation],
                                                     window: (VirtioMMIODeviceLocation) -> Window?) -> [Found] {
        var found: [Found] = []
        for location in candidates {
            guard let w = window(location), w.size >= VirtioMMIORegister.config,
                  w.read32(at: VirtioMMIORegister.magicValue) == VirtioMMIORegister.magic else { continue }
            let version = w.read32(at: VirtioMMIORegister.version)
            let id = w.read32(at: VirtioMMIORegister.deviceID)
            guard version == 1 || version == 2, id != 0 else { continue }
            found.append(Found(location: location, deviceType: VirtioDeviceType(rawValue: id), version: version))
        }
        return found
    }
}
