import BootShim

/// An x86 I/O port. The only way Swift code performs port I/O (`in`/`out` instructions).
///
/// Ports are plain numbers; reading or writing one has whatever side effect the device behind it defines, so
/// callers own the protocol of the device they talk to. Port I/O executes only in the guest.
public struct IOPort: Hashable, Sendable {
    /// The port number, 0...0xffff.
    public let number: UInt16

    /// Names port `number`.
    public init(_ number: UInt16) { self.number = number }

    /// The port `offset` above this one (device registers are usually laid out from a base port).
    public func advanced(by offset: UInt16) -> IOPort { IOPort(number &+ offset) }

    /// Reads one byte.
    @inline(__always) public func read8() -> UInt8 { shim_inb(number) }
    /// Reads 16 bits.
    @inline(__always) public func read16() -> UInt16 { shim_inw(number) }
    /// Reads 32 bits.
    @inline(__always) public func read32() -> UInt32 { shim_inl(number) }
    /// Writes one byte.
    @inline(__always) public func write8(_ value: UInt8) { shim_outb(number, value) }
    /// Writes 16 bits.
    @inline(__always) public func write16(_ value: UInt16) { shim_outw(number, value) }
    /// Writes 32 bits.
    @inline(__always) public func write32(_ value: UInt32) { shim_outl(number, value) }
}
