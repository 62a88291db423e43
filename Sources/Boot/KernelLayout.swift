import BootShim

/// Where the linker placed the image (Linker/unikernel.ld) and the stacks the boot shim set up.
///
/// All addresses are physical = virtual. Reading `current` is only meaningful in the guest; the values come from
/// linker symbols that do not exist in a host build.
public struct KernelLayout: Equatable, Sendable {
    /// First byte of the image (1 MiB).
    public var imageStart: UInt64
    /// One past the last byte of the image, .bss included, page-aligned. Embedded content follows it.
    public var imageEnd: UInt64
    /// Executable code.
    public var textStart: UInt64, textEnd: UInt64
    /// Read-only data, including the PVH note.
    public var rodataStart: UInt64, rodataEnd: UInt64
    /// Start of writable data (.data then .bss, up to `imageEnd`).
    public var dataStart: UInt64
    /// The unmapped page below the boot stack, and the top of the boot stack.
    public var bootStackGuard: UInt64, bootStackTop: UInt64
    /// The unmapped pages below the four IST stacks (double fault, NMI, machine check, page fault).
    public var interruptStackGuards: (UInt64, UInt64, UInt64, UInt64)
    /// First byte of the embedded-content archive (`__embedded_start`): page-aligned, equal to `imageEnd`, in a
    /// read-only segment of its own. Its length is not a link-time constant: `unikernel embed` grows the archive
    /// after linking, so the length comes from the archive's header (`EmbeddedArchive.declaredLength`).
    public var embeddedStart: UInt64

    /// The layout of the running image.
    public static var current: KernelLayout {
        KernelLayout(
            imageStart: shim_symbol_kernel_start(), imageEnd: shim_symbol_kernel_end(),
            textStart: shim_symbol_text_start(), textEnd: shim_symbol_text_end(),
            rodataStart: shim_symbol_rodata_start(), rodataEnd: shim_symbol_rodata_end(),
            dataStart: shim_symbol_data_start(),
            bootStackGuard: shim_boot_stack_guard(), bootStackTop: shim_boot_stack_top(),
            interruptStackGuards: (shim_ist_guard(0), shim_ist_guard(1), shim_ist_guard(2), shim_ist_guard(3)),
            embeddedStart: shim_symbol_embedded_start())
    }

    /// All guard pages the shim created (boot stack and IST stacks), which must stay unmapped.
    public var guardPages: [UInt64] {
        [bootStackGuard, interruptStackGuards.0, interruptStackGuards.1, interruptStackGuards.2,
         interruptStackGuards.3]
    }

    /// Whether `page` is one of the IST guard pages.
    public func isInterruptStackGuard(_ page: UInt64) -> Bool {
        page == interruptStackGuards.0 || page == interruptStackGuards.1 || page == interruptStackGuards.2
            || page == interruptStackGuards.3
    }

    public static func == (a: KernelLayout, b: KernelLayout) -> Bool {
        a.imageStart == b.imageStart && a.imageEnd == b.imageEnd && a.textStart == b.textStart
            && a.textEnd == b.textEnd && a.rodataStart == b.rodataStart && a.rodataEnd == b.rodataEnd
            && a.dataStart == b.dataStart && a.bootStackGuard == b.bootStackGuard
            && a.bootStackTop == b.bootStackTop && a.guardPages == b.guardPages && a.embeddedStart == b.embeddedStart
    }
}
