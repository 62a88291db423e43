import Interfaces
import TCPStack

/// What the audit learned from one transmitted frame, for harnesses that model the peer.
public struct TransmittedFrame {
    /// The EtherType.
    public var etherType: UInt16
    /// The IPv4 source and destination, for IPv4 frames.
    public var source: IPv4Address?
    public var destination: IPv4Address?
    /// The IPv4 protocol number.
    public var protocolNumber: UInt8?
    /// UDP ports and payload.
    public var udpSourcePort: UInt16?
    public var udpDestinationPort: UInt16?
    public var udpPayload: [UInt8] = []
    /// The TCP header, for TCP segments.
    public var tcp: TCPHeader?
    /// The TCP payload length.
    public var tcpPayloadLength = 0
    /// The ARP packet, for ARP frames.
    public var arp: ARPRepr?
}

/// Checks what the stack sends: whatever was fed in, every frame leaving it must be well formed.
public enum Audit {
    /// Checks one transmitted frame: a valid Ethernet II frame from `mac` of at most `mtu + 14` bytes; ARP
    /// frames valid and from `mac`; IPv4 packets with a correct header checksum, an exact total length, no
    /// fragmentation, no options; TCP, UDP and ICMP with correct checksums, and TCP headers whose options parse.
    /// Returns what it read.
    @discardableResult
    public static func frame(_ frame: [UInt8], mac: MACAddress, mtu: Int) -> TransmittedFrame {
        frame.withUnsafeBytes { raw in
            require(raw.count <= mtu + EthernetFrame.headerLength, "frame of \(raw.count) bytes exceeds MTU \(mtu)")
            let eth: EthernetFrame
            do { eth = try EthernetFrame(validating: raw) } catch {
                invariantFailed("transmitted frame is not Ethernet II (\(error)): \(hex(raw))")
            }
            require(eth.source == mac, "transmitted frame from \(eth.source), not our MAC \(mac)")
            var seen = TransmittedFrame(etherType: eth.etherType)
            switch eth.etherType {
            case EtherType.arp:
                let packet: ARPPacket
                do { packet = try ARPPacket(validating: eth.payload) } catch {
                    invariantFailed("transmitted ARP packet invalid (\(error)): \(hex(eth.payload))")
                }
                require(eth.payload.count == ARPPacket.length, "ARP frame carries \(eth.payload.count) bytes")
                require(packet.senderHardwareAddress == mac, "ARP sender MAC is not ours")
                seen.arp = ARPRepr(packet)
            case EtherType.ipv4:
                let ip: IPv4Packet
                do { ip = try IPv4Packet(validating: eth.payload) } catch {
                    invariantFailed("transmitted IPv4 packet invalid (\(error)): \(hex(eth.payload))")
                }
                require(ip.totalLength == eth.payload.count, "IPv4 total length \(ip.totalLength) != frame payload")
                require(ip.headerLength == 20, "transmitted IPv4 header has options")
                require(!ip.isFragment, "transmitted IPv4 packet is a fragment")
                require(ip.totalLength <= mtu, "IPv4 packet longer than the MTU")
                seen.source = ip.source
                seen.destination = ip.destination
                seen.protocolNumber = ip.protocolNumber
                transport(ip.protocolNumber, ip.payload, source: ip.source, destination: ip.destination, into: &seen)
            default:
                invariantFailed("transmitted frame with EtherType \(eth.etherType)")
            }
            return seen
        }
    }

    /// Checks one transport payload the stack or the TCP engine produced.
    public static func transport(_ proto: UInt8, _ payload: UnsafeRawBufferPointer, source: IPv4Address,
                                 destination: IPv4Address, into seen: inout TransmittedFrame) {
        switch proto {
        case IPProtocolNumber.tcp:
            let (header, length) = tcpSegment(payload, source: source, destination: destination)
            seen.tcp = header
            seen.tcpPayloadLength = length
        case IPProtocolNumber.udp:
            let udp: UDPDatagram
            do { udp = try UDPDatagram(validating: payload, source: source, destination: destination) } catch {
                invariantFailed("transmitted UDP datagram invalid (\(error)): \(hex(payload))")
            }
            require(udp.length == payload.count, "UDP length \(udp.length) != IP payload \(payload.count)")
            require(udp.checksum != 0, "transmitted UDP datagram without checksum")
            seen.udpSourcePort = udp.sourcePort
            seen.udpDestinationPort = udp.destinationPort
            seen.udpPayload = Array(udp.payload)
        case IPProtocolNumber.icmp:
            do { _ = try ICMPv4Message(validating: payload) } catch {
                invariantFailed("transmitted ICMP message invalid (\(error)): \(hex(payload))")
            }
        default:
            invariantFailed("transmitted IPv4 packet with protocol \(proto)")
        }
    }

    /// Checks a TCP segment: header and data offset valid, checksum correct, options parse, never more than
    /// 40 option bytes. Returns the header and the payload length.
    public static func tcpSegment(_ bytes: UnsafeRawBufferPointer, source: IPv4Address,
                                  destination: IPv4Address) -> (TCPHeader, Int) {
        let view: TCPSegmentView
        do { view = try TCPSegmentView(checking: bytes) } catch {
            invariantFailed("transmitted TCP segment invalid (\(error)): \(hex(bytes))")
        }
        require(view.verifyChecksum(source: source, destination: destination), "transmitted TCP checksum wrong")
        let header: TCPHeader
        do { header = try TCPHeader(parsing: view) } catch {
            invariantFailed("transmitted TCP options invalid (\(error)): \(hex(bytes))")
        }
        require(header.length == view.headerLength, "options re-encode to \(header.length), sent \(view.headerLength)")
        require(view.sourcePort != 0 && view.destinationPort != 0, "transmitted TCP segment with port 0")
        return (header, view.payload.count)
    }
}
