// NetEcho: boot-test image for raw Ethernet over virtio-net. The full TCP/IP stack (`System.network`, address from
// `unikernel.ip=...`) answers ARP and ICMP echo; frames of EtherType 0x88B5 (IEEE 802 local experimental 1)
// addressed to the guest come straight back with source and destination swapped (see EchoFilter). A frame of that
// type whose payload starts with `NETECHO-STOP` ends the run: the guest prints its counters and exits 0.
//
//   NETECHO ready mac 52:54:00:12:34:56 ip 10.0.0.2 ethertype 0x88b5
//   NETECHO echoed 10000 frames (8000000 bytes), dropped 0; passed to the stack 12; device rx ... tx ... errors 0
//
// Tests/GuestTests/VirtioBootTests.swift boots it on a TAP device inside a network namespace.
import Interfaces
import Runtime
import Services
import Scheduler
import TCPStack
import VirtioNet

#if os(none)
guard let nic = Devices.networkDevices.first else {
    print("NETECHO FAIL: no virtio-net device")
    System.exit(.failure)
}
let filter = EchoFilter(inner: nic, etherType: 0x88B5)
guard let network = System.network(over: filter) else {
    print("NETECHO FAIL: the network stack could not be started")
    System.exit(.failure)
}
let configured = System.now + .seconds(5)
while network.address == nil && System.now < configured { Thread.sleep(for: .milliseconds(1)) }
guard let address = network.address else {
    print("NETECHO FAIL: no IPv4 address (give unikernel.ip=ADDRESS/PREFIX)")
    System.exit(.failure)
}
print("NETECHO ready mac \(nic.macAddress) ip \(address) ethertype 0x88b5")
while !filter.stopRequested { filter.stop.wait() }
// Let the device send the echoed stop frame before the machine goes away.
let sent = System.now + .milliseconds(200)
while nic.freeTransmitBufferCount < nic.transmitBufferTotal && System.now < sent {
    nic.poll()
    Thread.sleep(for: .milliseconds(1))
}
let s = nic.statistics
print("NETECHO echoed \(filter.echoed) frames (\(filter.echoedBytes) bytes), dropped \(filter.dropped); passed to the "
      + "stack \(filter.passedOn); device rx \(s.receivedPackets) frames, tx \(s.transmittedPackets) frames, rx drops "
      + "\(s.receiveDrops), tx drops \(s.transmitDrops), errors \(s.errors)")
System.exit(filter.dropped == 0 && s.errors == 0 ? .success : .failure)
#else
print("NETECHO FAIL: NetEcho runs only as a guest image")
System.exit(.failure)
#endif
