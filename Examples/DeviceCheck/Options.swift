// DeviceCheck's command line. Words are compared as UTF-8 bytes (no String comparison: it would link the Unicode
// tables into the image).

/// What DeviceCheck was asked to do, from the kernel command line (`--append` in QEMU, `boot_args` in Firecracker).
///
/// | word | meaning |
/// | --- | --- |
/// | `json` | one JSON object per line instead of TAP 14 |
/// | `tap` | TAP 14 (the default) |
/// | `expect=net,blk,rng` | these device types must be present: a missing one is a failed check |
/// | `devicecheck.write` (or `=yes`/`=no`) | allow the block check to write (and restore) one scratch block |
/// | `devicecheck.scratch=N` | the scratch block (default: the disk's last block) |
/// | `devicecheck.ip=A.B.C.D` | sender address of the ARP request that provokes a receive interrupt (default 10.0.2.15) |
/// | `devicecheck.peer=A.B.C.D` | the address asked for (default 10.0.2.2, QEMU user networking's gateway) |
///
/// Other words (Firecracker's `console=ttyS0 reboot=k panic=1 pci=off`, `virtio_mmio.device=...`, which the runtime
/// reads itself) are ignored; they are listed in `ignored`.
struct DeviceCheckOptions {
    /// JSON lines instead of TAP.
    var json = false
    /// Device types that must be present (virtio device IDs), in command-line order.
    var expected: [UInt32] = []
    /// Whether the block check may write its scratch block.
    var allowWrites = false
    /// The block the write check uses (nil: the last block).
    var scratchBlock: UInt64? = nil
    /// Sender IPv4 address of the ARP probe, as four bytes.
    var arpSender: [UInt8] = [10, 0, 2, 15]
    /// Target IPv4 address of the ARP probe, as four bytes.
    var arpTarget: [UInt8] = [10, 0, 2, 2]
    /// Problems with the words DeviceCheck understands (each becomes a failed check).
    var errors: [String] = []
    /// Words DeviceCheck does not know (reported as comments).
    var ignored: [String] = []

    /// Parses the application's arguments (`System.arguments`).
    static func parse(_ arguments: [String]) -> DeviceCheckOptions {
        var o = DeviceCheckOptions()
        for argument in arguments {
            let word = Array(argument.utf8)
            if equal(word, "json") {
                o.json = true
            } else if equal(word, "tap") {
                o.json = false
            } else if let value = value(of: "expect=", in: word) {
                for name in split(value, separator: UInt8(ascii: ",")) where !name.isEmpty {
                    if let type = deviceType(named: name) {
                        if !o.expected.contains(type) { o.expected.append(type) }
                    } else {
                        o.errors.append("expect: unknown device type '" + String(decoding: name, as: UTF8.self)
                                            + "' (known: net, blk, console, rng)")
                    }
                }
            } else if equal(word, "devicecheck.write") {
                o.allowWrites = true
            } else if let value = value(of: "devicecheck.write=", in: word) {
                if equal(value, "yes") || equal(value, "1") || equal(value, "true") {
                    o.allowWrites = true
                } else if equal(value, "no") || equal(value, "0") || equal(value, "false") {
                    o.allowWrites = false
                } else {
                    o.errors.append("devicecheck.write takes yes or no, not '" + String(decoding: value, as: UTF8.self) + "'")
                }
            } else if let value = value(of: "devicecheck.scratch=", in: word) {
                if let n = decimal(value) { o.scratchBlock = n } else {
                    o.errors.append("devicecheck.scratch takes a block number, not '" + String(decoding: value, as: UTF8.self) + "'")
                }
            } else if let value = value(of: "devicecheck.ip=", in: word) {
                if let a = ipv4(value) { o.arpSender = a } else {
                    o.errors.append("devicecheck.ip takes an IPv4 address, not '" + String(decoding: value, as: UTF8.self) + "'")
                }
            } else if let value = value(of: "devicecheck.peer=", in: word) {
                if let a = ipv4(value) { o.arpTarget = a } else {
                    o.errors.append("devicecheck.peer takes an IPv4 address, not '" + String(decoding: value, as: UTF8.self) + "'")
                }
            } else if value(of: "virtio_mmio.device=", in: word) != nil {
                continue  // read by the runtime's device discovery
            } else {
                o.ignored.append(argument)
            }
        }
        return o
    }

    /// The virtio device ID for `net`, `blk`, `console` or `rng`.
    static func deviceType(named name: [UInt8]) -> UInt32? {
        if equal(name, "net") { return 1 }
        if equal(name, "blk") { return 2 }
        if equal(name, "console") { return 3 }
        if equal(name, "rng") { return 4 }
        return nil
    }

    /// Whether `bytes` are exactly the UTF-8 of `literal`.
    static func equal(_ bytes: [UInt8], _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { $0.elementsEqual(bytes) }
    }

    /// The bytes after `prefix` when `word` starts with it.
    static func value(of prefix: StaticString, in word: [UInt8]) -> [UInt8]? {
        prefix.withUTF8Buffer { p -> [UInt8]? in
            guard word.count >= p.count, word[0..<p.count].elementsEqual(p) else { return nil }
            return Array(word[p.count...])
        }
    }

    /// `bytes` split at every `separator`.
    static func split(_ bytes: [UInt8], separator: UInt8) -> [[UInt8]] {
        var parts: [[UInt8]] = [[]]
        for b in bytes {
            if b == separator { parts.append([]) } else { parts[parts.count - 1].append(b) }
        }
        return parts
    }

    /// A decimal number of at most 19 digits.
    static func decimal(_ bytes: [UInt8]) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var n: UInt64 = 0
        for b in bytes {
            guard b >= 0x30 && b <= 0x39 else { return nil }
            n = n * 10 + UInt64(b - 0x30)
        }
        return n
    }

    /// A dotted-quad IPv4 address as four bytes.
    static func ipv4(_ bytes: [UInt8]) -> [UInt8]? {
        let parts = split(bytes, separator: UInt8(ascii: "."))
        guard parts.count == 4 else { return nil }
        var result: [UInt8] = []
        for p in parts {
            guard p.count <= 3, let n = decimal(p), n <= 255 else { return nil }
            result.append(UInt8(n))
        }
        return result
    }
}
