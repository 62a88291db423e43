import CLibELF
import Foundation

/// A guest image read with libelf: sections, program headers, symbols and notes, plus the checks a bootable
/// PVH image must pass.
public struct ELFImage {
    /// One section header.
    public struct Section: Equatable, Sendable {
        public var name: String
        public var type: UInt32
        public var flags: UInt64
        public var address: UInt64
        public var offset: UInt64
        public var size: UInt64
        /// Occupies memory at run time (SHF_ALLOC).
        public var isAllocated: Bool { flags & UInt64(SHF_ALLOC) != 0 }
        /// Has bytes in the file (not SHT_NOBITS).
        public var hasFileBytes: Bool { type != UInt32(SHT_NOBITS) }
    }

    /// One program header.
    public struct Segment: Equatable, Sendable {
        public var type: UInt32
        public var flags: UInt32
        public var offset: UInt64
        public var virtualAddress: UInt64
        public var physicalAddress: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
        public var alignment: UInt64
        public var isLoad: Bool { type == UInt32(PT_LOAD) }
        public var isExecutable: Bool { flags & UInt32(PF_X) != 0 }
        public var isWritable: Bool { flags & UInt32(PF_W) != 0 }
    }

    /// One symbol-table entry.
    public struct Symbol: Equatable, Sendable {
        public var name: String
        public var value: UInt64
        public var size: UInt64
        public var isFunction: Bool
        public var isObject: Bool
    }

    /// One ELF note.
    public struct Note: Equatable, Sendable {
        public var owner: String
        public var type: UInt32
        public var descriptor: [UInt8]
    }

    public let path: String
    public let fileSize: UInt64
    public let entry: UInt64
    public let machine: UInt16
    public let isExecutable: Bool
    public let sections: [Section]
    public let segments: [Segment]
    public let symbols: [Symbol]
    public let notes: [Note]

    /// `XEN_ELFNOTE_PHYS32_ENTRY` (Xen public/elfnote.h).
    public static let pvhNoteType: UInt32 = 18

    /// Reads `path`. Throws `fileNotFound` or `notAnELF`.
    public init(path: String) throws(ToolError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .fileNotFound(path) }
        guard elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE) else { throw .notAnELF(path, reason: "libelf is too old") }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .notAnELF(path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard let elf = elf_begin(fd, ELF_C_READ, nil) else {
            throw .notAnELF(path, reason: String(cString: elf_errmsg(-1)))
        }
        defer { elf_end(elf) }
        guard elf_kind(elf) == ELF_K_ELF else { throw .notAnELF(path, reason: "not an ELF file") }
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else { throw .notAnELF(path, reason: String(cString: elf_errmsg(-1))) }
        guard gelf_getclass(elf) == ELFCLASS64 else { throw .notAnELF(path, reason: "not a 64-bit ELF file") }
        self.path = path
        fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
        entry = header.e_entry
        machine = header.e_machine
        isExecutable = header.e_type == UInt16(ET_EXEC)

        var names = 0
        guard elf_getshdrstrndx(elf, &names) == 0 else { throw .notAnELF(path, reason: "no section name table") }
        var sections: [Section] = []
        var symbols: [Symbol] = []
        var notes: [Note] = []
        var scn = elf_nextscn(elf, nil)
        while let s = scn {
            var sh = GElf_Shdr()
            if gelf_getshdr(s, &sh) != nil {
                let name = elf_strptr(elf, names, Int(sh.sh_name)).map { String(cString: $0) } ?? "?"
                sections.append(Section(name: name, type: sh.sh_type, flags: sh.sh_flags, address: sh.sh_addr,
                                        offset: sh.sh_offset, size: sh.sh_size))
                if sh.sh_type == UInt32(SHT_SYMTAB), let data = elf_getdata(s, nil), sh.sh_entsize > 0 {
                    let count = Int(sh.sh_size / sh.sh_entsize)
                    for i in 0..<count {
                        var sym = GElf_Sym()
                        guard gelf_getsym(data, Int32(i), &sym) != nil else { continue }
                        let type = Int32(sym.st_info & 0xf)
                        guard type == STT_FUNC || type == STT_OBJECT || type == STT_NOTYPE, sym.st_name != 0,
                              let cName = elf_strptr(elf, Int(sh.sh_link), Int(sym.st_name)) else { continue }
                        symbols.append(Symbol(name: String(cString: cName), value: sym.st_value, size: sym.st_size,
                                              isFunction: type == STT_FUNC, isObject: type == STT_OBJECT))
                    }
                }
                if sh.sh_type == UInt32(SHT_NOTE), let data = elf_getdata(s, nil) {
                    notes += Self.readNotes(data)
                }
            }
            scn = elf_nextscn(elf, s)
        }
        var segments: [Segment] = []
        var count = 0
        if elf_getphdrnum(elf, &count) == 0 {
            for i in 0..<count {
                var ph = GElf_Phdr()
                guard gelf_getphdr(elf, Int32(i), &ph) != nil else { continue }
                segments.append(Segment(type: ph.p_type, flags: ph.p_flags, offset: ph.p_offset,
                                        virtualAddress: ph.p_vaddr, physicalAddress: ph.p_paddr,
                                        fileSize: ph.p_filesz, memorySize: ph.p_memsz, alignment: ph.p_align))
            }
        }
        self.sections = sections
        self.segments = segments
        self.symbols = symbols
        self.notes = notes
    }

    private static func readNotes(_ data: UnsafeMutablePointer<Elf_Data>) -> [Note] {
        var notes: [Note] = []
        var offset = 0
        while true {
            var header = GElf_Nhdr()
            var nameOffset = 0
            var descOffset = 0
            let next = gelf_getnote(data, offset, &header, &nameOffset, &descOffset)
            if next == 0 { break }
            let base = data.pointee.d_buf!.assumingMemoryBound(to: UInt8.self)
            var owner = ""
            if header.n_namesz > 0 {
                owner = String(decoding: UnsafeBufferPointer(start: base + nameOffset, count: Int(header.n_namesz) - 1), as: UTF8.self)
            }
            let desc = Array(UnsafeBufferPointer(start: base + descOffset, count: Int(header.n_descsz)))
            notes.append(Note(owner: owner, type: header.n_type, descriptor: desc))
            offset = next
        }
        return notes
    }

    /// The 32-bit PVH entry address, after checking that the note exists, is well-formed, and points into an
    /// executable PT_LOAD segment below 4 GiB.
    public func pvhEntry() throws(ToolError) -> UInt32 {
        guard let note = notes.first(where: { $0.owner == "Xen" && $0.type == Self.pvhNoteType }) else {
            throw .missingPVHNote(path)
        }
        guard note.descriptor.count >= 4 else {
            throw .badPVHNote(path, reason: "descriptor is \(note.descriptor.count) bytes, expected 4 or 8")
        }
        let entry = note.descriptor.prefix(4).enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        guard segments.contains(where: { $0.isLoad && $0.isExecutable && UInt64(entry) >= $0.physicalAddress
                                          && UInt64(entry) < $0.physicalAddress + $0.memorySize }) else {
            throw .badPVHNote(path, reason: "entry 0x\(String(entry, radix: 16)) is not inside an executable PT_LOAD segment")
        }
        return entry
    }

    /// Checks everything a hypervisor relies on: x86-64 executable, PVH note, load segments at or above 1 MiB.
    public func verifyBootable() throws(ToolError) {
        guard machine == UInt16(EM_X86_64) else { throw .notAnELF(path, reason: "machine \(machine) is not x86-64") }
        guard isExecutable else { throw .notAnELF(path, reason: "not an executable (ET_EXEC) image") }
        _ = try pvhEntry()
        guard segments.contains(where: { $0.isLoad }) else { throw .notAnELF(path, reason: "no PT_LOAD segment") }
        for s in segments where s.isLoad && s.physicalAddress < 0x10_0000 {
            throw .notAnELF(path, reason: "a PT_LOAD segment starts below 1 MiB (0x\(String(s.physicalAddress, radix: 16)))")
        }
    }

    /// Bytes of the loadable segments' file contents (what a stripped image must carry).
    public var loadableBytes: UInt64 { segments.filter { $0.isLoad }.reduce(0) { $0 + $1.fileSize } }

    /// The module a symbol belongs to, from its Swift mangling (`$s`/`$e` + module) or `C/asm` otherwise.
    public static func module(ofSymbol name: String) -> String {
        var s = Substring(name)
        if s.hasPrefix("_") { s = s.dropFirst() }
        guard s.hasPrefix("$s") || s.hasPrefix("$e") else { return "C/asm" }
        s = s.dropFirst(2)
        if s.hasPrefix("s"), let next = s.dropFirst().first, !next.isNumber { return "Swift" }
        let digits = s.prefix { $0.isNumber }
        guard let length = Int(digits), length > 0 else { return "Swift" }
        let rest = s.dropFirst(digits.count)
        guard rest.count >= length else { return "Swift" }
        return String(rest.prefix(length))
    }

    /// The function symbol containing `address`, with the offset into it.
    public func symbol(containing address: UInt64) -> (Symbol, UInt64)? {
        var best: Symbol?
        for s in symbols where s.isFunction && s.value <= address && (s.size == 0 ? s.value == address : address < s.value + s.size) {
            if best == nil || s.value > best!.value { best = s }
        }
        guard let best else { return nil }
        return (best, address - best.value)
    }
}
