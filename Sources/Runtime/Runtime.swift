/// `import Runtime` gives an application the whole runtime: the core (console, heap, clock, panic, arguments,
/// exit; module RuntimeCore) and, in this module, threads, interrupts and embedded files.
///
/// Two modules because Swift emits each module's type metadata and witness tables into a few data sections that
/// the linker keeps or drops as a whole: everything an image that only prints needs (the heap's witness table, the
/// console) lives in RuntimeCore, so such an image does not also carry the scheduler, the interrupt controllers and
/// RamFS that this module's data refers to.
@_exported import RuntimeCore
