#!/usr/bin/env python3
"""Sampling profiler for a running guest: where its virtual CPU is, sampled through the QEMU monitor.

Start the guest with a monitor socket, start the workload, then run this script while the workload runs:

    swift run unikernel run IMAGE --qemu-arg=-monitor --qemu-arg=unix:/tmp/guest-monitor.sock,server,nowait ...
    Scripts/guest-profile.py --image IMAGE --monitor /tmp/guest-monitor.sock --samples 400

Each sample asks the monitor for the registers (`info registers`) and reads the return address above the frame
pointer (`x/2gx RBP`), so it needs no debugger and does not stop the guest. The report lists the functions the
instruction pointer was in, most frequent first, and the most frequent (function <- caller) pairs (for a leaf
function that sets up no frame, the "caller" is its caller's caller). Under TCG a
sample inside a trapped MMIO or port access (a virtio notify, an interrupt acknowledgement) includes the time the
vCPU waits for QEMU's device model; `waitForInterrupt` (HLT) is idle time.

Symbols come from the image's symbol table (`nm`), names from `swift demangle`; use the unstripped image.
"""
import argparse
import bisect
import collections
import re
import socket
import subprocess
import sys
import time


class Monitor:
    """A QEMU human monitor (HMP) session over a Unix socket."""

    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX)
        self.socket.connect(path)
        self.socket.settimeout(10)
        self.command("")  # the greeting and first prompt

    def command(self, text):
        self.socket.sendall((text + "\n").encode())
        reply = b""
        while not reply.rstrip().endswith(b"(qemu)"):
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError("the monitor closed the connection (guest stopped?)")
            reply += chunk
        return reply.decode(errors="replace")

    def sample(self):
        """(RIP, return address of the current frame or 0)."""
        registers = self.command("info registers")
        rip = re.search(r"RIP=([0-9a-f]+)", registers)
        rbp = re.search(r"RBP=([0-9a-f]+)", registers)
        caller = 0
        if rbp and int(rbp.group(1), 16) >= 0x100000:
            # The monitor echoes the typed command (with terminal escapes); the answer is the line
            # "ADDRESS: 0xSAVED_RBP 0xRETURN_ADDRESS".
            memory = re.search(r"^[0-9a-f]+: 0x([0-9a-f]+) 0x([0-9a-f]+)", self.command(f"x/2gx 0x{rbp.group(1)}"),
                               re.MULTILINE)
            if memory:
                caller = int(memory.group(2), 16)
        return (int(rip.group(1), 16) if rip else 0), caller


class Symbols:
    """Function symbols of an ELF image, demangled, for address lookup."""

    def __init__(self, image):
        listing = subprocess.run(["nm", "-n", "--defined-only", image], stdout=subprocess.PIPE, text=True,
                                 check=True).stdout
        self.addresses, mangled = [], []
        for line in listing.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "tTwW":
                self.addresses.append(int(parts[0], 16))
                mangled.append(parts[2])
        demangled = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(mangled),
                                   stdout=subprocess.PIPE, text=True).stdout.splitlines()
        self.names = demangled if len(demangled) == len(mangled) else mangled

    def name(self, address):
        i = bisect.bisect_right(self.addresses, address) - 1
        return self.names[i] if i >= 0 and address else "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the guest image (with symbols)")
    parser.add_argument("--monitor", required=True, help="the monitor's Unix socket")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between samples")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()

    symbols = Symbols(args.image)
    monitor = Monitor(args.monitor)
    samples = []
    try:
        for _ in range(args.samples):
            samples.append(monitor.sample())
            time.sleep(args.interval)
    except (ConnectionError, OSError) as e:
        print(f"# sampling stopped after {len(samples)} samples: {e}", file=sys.stderr)
    if not samples:
        return 1
    functions = collections.Counter(symbols.name(rip) for rip, _ in samples)
    pairs = collections.Counter(f"{symbols.name(rip)}  <-  {symbols.name(caller)}" for rip, caller in samples)
    n = len(samples)
    print(f"# {n} samples of {args.image}")
    print("# functions")
    for name, count in functions.most_common(args.top):
        print(f"{100 * count / n:5.1f}%  {name}")
    print("# function <- caller")
    for name, count in pairs.most_common(args.top):
        print(f"{100 * count / n:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
