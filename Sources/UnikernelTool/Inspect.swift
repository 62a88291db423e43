import Foundation

/// What `unikernel inspect` reports about an image.
public struct ImageReport {
    public let image: ELFImage
    public let pvhEntry: UInt32
    /// Allocated sections with their sizes, in address order.
    public let sections: [(name: String, size: UInt64, address: UInt64)]
    /// Bytes of symbol sizes per module, largest first.
    public let modules: [(module: String, bytes: UInt64, symbols: Int)]
    /// The largest symbols, largest first.
    public let largest: [(name: String, module: String, size: UInt64)]

    /// Verifies `path` as a bootable image and summarizes it.
    public init(path: String, largestCount: Int = 20) throws(ToolError) {
        image = try ELFImage(path: path)
        try image.verifyBootable()
        pvhEntry = try image.pvhEntry()
        sections = image.sections.filter { $0.isAllocated && $0.size > 0 }
            .sorted { $0.address < $1.address }
            .map { ($0.name, $0.size, $0.address) }
        var totals: [String: (UInt64, Int)] = [:]
        for s in image.symbols where s.size > 0 {
            let m = ELFImage.module(ofSymbol: s.name)
            let t = totals[m] ?? (0, 0)
            totals[m] = (t.0 + s.size, t.1 + 1)
        }
        modules = totals.map { ($0.key, $0.value.0, $0.value.1) }.sorted { $0.bytes > $1.bytes }
        largest = image.symbols.filter { $0.size > 0 }
            .sorted { $0.size > $1.size }
            .prefix(largestCount)
            .map { ($0.name, ELFImage.module(ofSymbol: $0.name), $0.size) }
    }

    /// Human-readable report.
    public var text: String {
        var t = "image      \(image.path)\n"
        t += "file size  \(image.fileSize) bytes (loadable contents \(image.loadableBytes) bytes)\n"
        t += "PVH entry  0x\(String(pvhEntry, radix: 16)) (XEN_ELFNOTE_PHYS32_ENTRY ok)\n"
        t += "ELF entry  0x\(String(image.entry, radix: 16))\n\nsegments\n"
        for s in image.segments {
            let kind = s.isLoad ? "LOAD" : (s.type == 4 ? "NOTE" : "type \(s.type)")
            let flags = (s.flags & 4 != 0 ? "R" : "-") + (s.isWritable ? "W" : "-") + (s.isExecutable ? "X" : "-")
            t += "  \(kind.padding(toLength: 6, withPad: " ", startingAt: 0)) \(flags) paddr 0x\(String(s.physicalAddress, radix: 16)) "
                + "file \(s.fileSize) mem \(s.memorySize)\n"
        }
        t += "\nsections\n"
        for s in sections {
            t += "  \(s.name.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(s.size).leftPadded(9)) bytes at 0x\(String(s.address, radix: 16))\n"
        }
        t += "\nsymbol bytes by module\n"
        for m in modules {
            t += "  \(m.module.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(m.bytes).leftPadded(9)) bytes in \(m.symbols) symbols\n"
        }
        t += "\nlargest symbols\n"
        for s in largest {
            t += "  \(String(s.size).leftPadded(8))  \(s.module.padding(toLength: 12, withPad: " ", startingAt: 0)) \(Demangler.shared.demangle(s.name))\n"
        }
        return t
    }

    /// Machine-readable report.
    public var json: String {
        let object: [String: Any] = [
            "image": image.path,
            "fileSize": image.fileSize,
            "loadableBytes": image.loadableBytes,
            "pvhEntry": Int(pvhEntry),
            "elfEntry": image.entry,
            "segments": image.segments.map {
                ["type": $0.type, "flags": $0.flags, "physicalAddress": $0.physicalAddress, "fileSize": $0.fileSize,
                 "memorySize": $0.memorySize] as [String: Any]
            },
            "sections": sections.map { ["name": $0.name, "size": $0.size, "address": $0.address] as [String: Any] },
            "modules": modules.map { ["module": $0.module, "bytes": $0.bytes, "symbols": $0.symbols] as [String: Any] },
            "largestSymbols": largest.map { ["name": $0.name, "module": $0.module, "size": $0.size] as [String: Any] },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
