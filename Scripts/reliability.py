#!/usr/bin/env python3
"""Network reliability figures: the unikernel's TCP/IP stack against Linux's TCP over a TAP device.

Boots the NetBench image (Tests/Images/NetBench: HTTP with /stats on 8080, TCP echo on 7) in QEMU (TCG) on a TAP
interface inside a network namespace this script creates, talks to it only from inside that namespace, and
prints four figures, each PASS or FAIL with the measured values:

  transfer    100 MB each way through the guest's TCP echo port, with 5 % loss and reordering of IPv4 frames in
              both directions on the host side of the TAP; the SHA-256 of what came back must equal that of what
              was sent.
  heap        10,000 sequential HTTP connections (half closed by the client first, half by the server with
              `Connection: close`); once the guest's TIME-WAIT connections are gone, its heap bytes in use must be
              back at the baseline measured after a warm-up.
  flood       100,000 SYNs from spoofed off-link sources (raw frames, at a bounded rate) at the HTTP port; a real
              client must still be served afterwards (and is tried during the flood).
  concurrent  1,000 connections open at the same time; each then gets a correct response.

The exit status is 1 if any figure failed, 2 on a setup error. Namespaces are named rel-<pid>-<n> and deleted at
the end, also on failure or Ctrl-C (processes still inside them, all started by this script, are killed first).
Needs root, /dev/net/tun, iproute2, QEMU and Python 3.

Loss and reordering. The kernel here is built without sch_netem (`tc qdisc add dev X root netem ...` fails with
"Specified qdisc kind is unknown"), so the impairment is done in user space, inside the namespace: QEMU's TAP
(`tapg`, no address, ARP off) and the host's TAP (`taph`, 10.77.0.1/24) are joined by a relay (this script's
`_relay` mode: an AF_PACKET socket on tapg, the TUN descriptor of taph) that drops each IPv4 frame with
probability LOSS and holds back each IPv4 frame with probability REORDER until the next frame in the same
direction has gone out (so the two arrive swapped), in both directions, from a seeded random generator. ARP frames
pass untouched. The other figures use a plain TAP (`tap0`, 10.77.0.1/24) without the relay.

Usage: Scripts/reliability.py [--only transfer,heap,flood,concurrent] [--image PATH] [--quick] [options]
"""
import argparse
import fcntl
import hashlib
import json
import os
import random
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import netns  # shared with Benchmarks/network.py
from netns import SetupError, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THIS = os.path.abspath(__file__)
GUEST_IP = "10.77.0.2"
HOST_IP = "10.77.0.1"
PREFIX = 24
GREETING = "Hello from Unikernel! Path: "


def log(text):
    print(text, flush=True)


def note(text):
    """Progress for people, on standard error (figures go to standard output)."""
    print("  .. " + text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Helpers that run inside the namespace (invoked as `ip netns exec NS python3 reliability.py _MODE ...`). Each prints
# one JSON line with its result as the last line of its standard output.
# ---------------------------------------------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def is_ipv4(frame):
    return len(frame) >= 14 and frame[12] == 0x08 and frame[13] == 0x00


class Direction:
    def __init__(self, name, send):
        self.name = name
        self.send_raw = send
        self.held = None
        self.held_until = 0.0
        self.stats = {"frames": 0, "ipv4": 0, "dropped": 0, "reordered": 0, "forwarded": 0, "queue_drops": 0}

    def send(self, frame):
        try:
            self.send_raw(frame)
            self.stats["forwarded"] += 1
        except (BlockingIOError, OSError):
            self.stats["queue_drops"] += 1  # the kernel queue towards QEMU or the host was full: lost, as on a wire

    def release(self, now, force=False):
        if self.held is not None and (force or now >= self.held_until):
            frame, self.held = self.held, None
            self.send(frame)


def relay_main(args):
    """Joins QEMU's TAP (via AF_PACKET) and the host's TAP (via its TUN descriptor), impairing IPv4 frames."""
    guest = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    guest.bind((args.guest_if, 0))
    guest.setblocking(False)
    guest.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    guest.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    host = open_tap(args.host_if)
    rng = random.Random(args.seed)
    loss, reorder, hold = args.loss / 100.0, args.reorder / 100.0, args.hold_ms / 1000.0
    to_host = Direction("guest_to_host", lambda f: os.write(host, f))
    to_guest = Direction("host_to_guest", lambda f: guest.send(f))
    stopping = []

    def finish(*_):
        stopping.append(True)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)

    def handle(direction, frame):
        direction.stats["frames"] += 1
        if is_ipv4(frame):
            direction.stats["ipv4"] += 1
            if rng.random() < loss:
                direction.stats["dropped"] += 1
                return
            if direction.held is None and rng.random() < reorder:
                direction.held = frame
                direction.held_until = time.monotonic() + hold
                direction.stats["reordered"] += 1
                return
        direction.send(frame)
        direction.release(0, force=True)  # a held frame follows the one that overtook it

    selector = selectors.DefaultSelector()
    selector.register(guest, selectors.EVENT_READ, "guest")
    selector.register(host, selectors.EVENT_READ, "host")
    print("RELAY READY", flush=True)
    while not stopping:
        now = time.monotonic()
        pending = [d.held_until for d in (to_host, to_guest) if d.held is not None]
        timeout = max(0.0, min(pending) - now) if pending else 0.5
        try:
            events = selector.select(timeout)
        except InterruptedError:
            continue
        for key, _ in events:
            for _ in range(64):
                try:
                    if key.data == "guest":
                        frame, address = guest.recvfrom(65535)
                        if address[2] == socket.PACKET_OUTGOING:
                            continue  # our own transmission towards QEMU
                        handle(to_host, frame)
                    else:
                        handle(to_guest, os.read(host, 65535))
                except (BlockingIOError, InterruptedError):
                    break
        now = time.monotonic()
        to_host.release(now)
        to_guest.release(now)
    print(json.dumps({"guest_to_host": to_host.stats, "host_to_guest": to_guest.stats}), flush=True)


def http_get(path, timeout=10.0, close=False):
    """One HTTP/1.1 GET on a new connection; returns (status, body). The client closes first unless `close`."""
    s = socket.create_connection((GUEST_IP, 8080), timeout=timeout)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: guest\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
        s.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("end of stream inside the header")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        length = int(match.group(1)) if match else 0
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("end of stream inside the body")
            body += chunk
        if close:  # the server closes after the response: wait for its FIN
            while s.recv(65536):
                pass
        return status, body.decode(errors="replace")
    finally:
        s.close()


def stats_main(args):
    status, body = http_get("/stats")
    counters = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", body)}
    print(json.dumps(counters), flush=True)


def echo_main(args):
    """Sends `bytes` seeded-random bytes to the echo port while reading the echo; compares SHA-256."""
    data = random.Random(args.seed).randbytes(args.bytes)
    sent_digest = hashlib.sha256(data).hexdigest()
    s = socket.create_connection((GUEST_IP, 7), timeout=30)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    received_digest = hashlib.sha256()
    received = 0
    start = time.monotonic()
    deadline = start + args.timeout
    failure = []

    def sender():
        view = memoryview(data)
        try:
            for offset in range(0, len(data), 1 << 16):
                if time.monotonic() > deadline:
                    failure.append("send timed out")
                    return
                s.sendall(view[offset:offset + (1 << 16)])
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            failure.append(f"send: {e}")

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    last_note = start
    try:
        while True:
            if time.monotonic() > deadline:
                failure.append("timed out")
                break
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            received_digest.update(chunk)
            received += len(chunk)
            now = time.monotonic()
            if now - last_note >= 15:
                last_note = now
                note(f"transfer: {received / 1e6:.1f} MB echoed after {now - start:.0f} s")
    except OSError as e:
        failure.append(f"receive: {e}")
    seconds = time.monotonic() - start
    thread.join(timeout=5)
    s.close()
    print(json.dumps({"bytes": len(data), "received": received, "seconds": seconds,
                      "sha256_sent": sent_digest, "sha256_received": received_digest.hexdigest(),
                      "errors": failure}), flush=True)


def sequential_main(args):
    """`count` connections one after another; odd ones ask the server to close first."""
    ok, errors, first_error = 0, 0, None
    start = time.monotonic()
    for i in range(args.count):
        try:
            status, body = http_get(f"/seq/{i}", close=(i % 2 == 1))
            if status == 200 and body == f"{GREETING}/seq/{i}":
                ok += 1
            else:
                errors += 1
                first_error = first_error or f"connection {i}: {status} {body!r}"
        except OSError as e:
            errors += 1
            first_error = first_error or f"connection {i}: {e}"
        if (i + 1) % 2000 == 0:
            note(f"heap: {i + 1} connections after {time.monotonic() - start:.0f} s")
    print(json.dumps({"ok": ok, "errors": errors, "first_error": first_error,
                      "seconds": time.monotonic() - start}), flush=True)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def syn_frame(rng, src_mac, dst_mac, dst_ip, dst_port):
    src_ip = bytes([198, 18 + rng.randrange(2), rng.randrange(256), 1 + rng.randrange(254)])  # RFC 2544 range
    dst = socket.inet_aton(dst_ip)
    tcp = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65536), dst_port, rng.getrandbits(32), 0, 6 << 4, 0x02,
                      64240, 0, 0) + struct.pack("!BBH", 2, 4, 1460)  # SYN with an MSS option
    pseudo = src_ip + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.randrange(65536), 0, 64, 6, 0, src_ip, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


def flood_main(args):
    """Writes `count` SYN frames at `rate` per second into the TAP; a real client is tried once a second meanwhile
    and again afterwards."""
    rng = random.Random(args.seed)
    src_mac = bytes.fromhex(open(f"/sys/class/net/{args.iface}/address").read().strip().replace(":", ""))
    dst_mac = bytes.fromhex(args.guest_mac.replace(":", ""))
    tx_dropped_path = f"/sys/class/net/{args.iface}/statistics/tx_dropped"
    dropped_before = int(open(tx_dropped_path).read())
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((args.iface, 0))
    during = {"tries": 0, "ok": 0, "latencies": []}
    done = threading.Event()

    def prober():
        while not done.wait(1.0):
            during["tries"] += 1
            t0 = time.monotonic()
            try:
                status, body = http_get("/during-flood", timeout=5)
                if status == 200 and body == GREETING + "/during-flood":
                    during["ok"] += 1
                    during["latencies"].append(time.monotonic() - t0)
            except OSError:
                pass

    thread = threading.Thread(target=prober, daemon=True)
    thread.start()
    start = time.monotonic()
    sent, send_errors = 0, 0
    batch = 100
    while sent < args.count and time.monotonic() - start < args.max_seconds:
        for _ in range(min(batch, args.count - sent)):
            try:
                s.send(syn_frame(rng, src_mac, dst_mac, GUEST_IP, 8080))
            except OSError:
                send_errors += 1
            sent += 1
        ahead = sent / args.rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    flood_seconds = time.monotonic() - start
    done.set()
    thread.join(timeout=10)
    dropped = int(open(tx_dropped_path).read()) - dropped_before
    after = {"ok": False, "seconds": None, "error": None}
    t0 = time.monotonic()
    for attempt in range(3):
        try:
            status, body = http_get("/after-flood", timeout=10)
            if status == 200 and body == GREETING + "/after-flood":
                after = {"ok": True, "seconds": time.monotonic() - t0, "error": None, "attempts": attempt + 1}
                break
            after["error"] = f"{status} {body!r}"
        except OSError as e:
            after["error"] = str(e)
    latencies = sorted(during.pop("latencies"))
    during["median_latency"] = latencies[len(latencies) // 2] if latencies else None
    print(json.dumps({"sent": sent, "send_errors": send_errors, "seconds": flood_seconds,
                      "host_queue_drops": dropped, "during": during, "after": after}), flush=True)


def concurrent_main(args):
    """Opens `count` connections, waits until all are established, then sends a request on each and reads every
    response while all are still open; closes them at the end."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (args.count + 256, args.count + 256))
    selector = selectors.DefaultSelector()
    sockets = []
    start = time.monotonic()
    for i in range(args.count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((GUEST_IP, 8080))
        sockets.append(s)
        selector.register(s, selectors.EVENT_WRITE, i)
    connected, failed = set(), {}
    deadline = start + args.timeout
    while len(connected) + len(failed) < args.count and time.monotonic() < deadline:
        for key, _ in selector.select(1.0):
            i = key.data
            error = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            selector.unregister(key.fileobj)
            if error == 0:
                connected.add(i)
            else:
                failed[i] = os.strerror(error)
    connect_seconds = time.monotonic() - start
    # All connections are open now (those that connected): the guest holds them at once.
    try:
        status, body = http_get("/stats")
        guest_connections = int(re.search(r"tcp_connections=(\d+)", body).group(1))
    except (OSError, AttributeError):
        guest_connections = None
    responses = {}
    serve_start = time.monotonic()
    for i in connected:
        s = sockets[i]
        s.setblocking(True)
        s.settimeout(10)
        try:
            s.sendall(f"GET /c/{i} HTTP/1.1\r\nHost: guest\r\n\r\n".encode())
        except OSError as e:
            failed[i] = f"send: {e}"
            continue
        s.setblocking(False)
        responses[i] = b""
        selector.register(s, selectors.EVENT_READ, i)
    correct = 0
    deadline = time.monotonic() + args.timeout
    pending = set(responses)
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(1.0):
            i = key.data
            try:
                chunk = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                failed[i] = f"receive: {e}"
                chunk = b""
            responses[i] += chunk
            expected = f"{GREETING}/c/{i}".encode()
            done = responses[i].endswith(expected) and b" 200 " in responses[i].split(b"\r\n", 1)[0]
            if done or not chunk:
                selector.unregister(key.fileobj)
                pending.discard(i)
                if done:
                    correct += 1
                elif i not in failed:
                    failed[i] = f"incomplete response {responses[i][:80]!r}"
    serve_seconds = time.monotonic() - serve_start
    for i in pending:
        failed.setdefault(i, "no complete response before the deadline")
    for s in sockets:
        s.close()
    first = sorted(failed.items())[:3]
    print(json.dumps({"count": args.count, "connected": len(connected), "connect_seconds": connect_seconds,
                      "guest_connections_while_open": guest_connections, "correct": correct,
                      "serve_seconds": serve_seconds, "failed": len(failed), "first_failures": first}), flush=True)


# ---------------------------------------------------------------------------------------------------------------
# The orchestrator (main namespace): namespaces, QEMU, and the helpers above run inside the namespace.
# ---------------------------------------------------------------------------------------------------------------

class Namespace(netns.Namespace):
    """A namespace that can also run this script's helper modes."""

    def __init__(self):
        super().__init__("rel")

    def helper(self, mode, arguments, timeout):
        """Runs this script's `mode` inside the namespace; returns its JSON result."""
        command = self.command([sys.executable, THIS, mode] + [str(a) for a in arguments])
        try:
            result = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SetupError(f"{mode} did not finish within {timeout} s")
        lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
        if result.returncode != 0 or not lines:
            raise SetupError(f"{mode} failed ({result.returncode}): {result.stdout.strip()[-500:]}")
        return json.loads(lines[-1])


class Guest:
    """NetBench under `unikernel run` inside a namespace, console in a log file."""

    def __init__(self, namespace, tap, unikernel, image, memory, machine, timeout, log_path):
        self.log_path = log_path
        self.logfile = open(log_path, "w")
        command = namespace.command([unikernel, "run", image, "--machine", machine, "--memory", str(memory),
                                     "--net", f"tap:{tap}", "--timeout", str(timeout), "--append",
                                     f"unikernel.ip={GUEST_IP}/{PREFIX} unikernel.gateway={HOST_IP}"])
        self.process = subprocess.Popen(command, stdout=self.logfile, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while "NetBench: ready" not in self.console():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SetupError("NetBench did not start:\n" + self.console())
            time.sleep(0.1)

    def console(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.logfile.close()


def build(args):
    if not args.unikernel:
        run(["swift", "build", "--product", "unikernel"], cwd=ROOT, timeout=1800)
        bin_path = run(["swift", "build", "--show-bin-path"], cwd=ROOT).stdout.strip().splitlines()[-1]
        args.unikernel = os.path.join(bin_path, "unikernel")
    if not args.image:
        out = run([args.unikernel, "build", "NetBench", "--quiet"], cwd=ROOT, timeout=1800).stdout
        args.image = out.strip().splitlines()[-1]
    if not os.path.exists(args.image):
        raise SetupError(f"no image at {args.image}")


class Figures:
    def __init__(self):
        self.results = []

    def record(self, name, passed, text):
        self.results.append((name, passed))
        log(f"{'PASS' if passed else 'FAIL'} {name}: {text}")


def guest_stats(namespace):
    return namespace.helper("_stats", [], timeout=30)


def figure_transfer(args, figures):
    namespace = Namespace()
    relay = guest = None
    try:
        namespace.add_tap("tapg", arp=False)  # QEMU's end
        namespace.add_tap("taph", address=f"{HOST_IP}/{PREFIX}")  # the host's end, fed by the relay
        relay = subprocess.Popen(namespace.command([sys.executable, THIS, "_relay", "--guest-if", "tapg",
                                                    "--host-if", "taph", "--loss", str(args.loss), "--reorder",
                                                    str(args.reorder), "--seed", str(args.seed)]),
                                 stdout=subprocess.PIPE, text=True, start_new_session=True)
        if relay.stdout.readline().strip() != "RELAY READY":
            raise SetupError("the relay did not start")
        guest = Guest(namespace, "tapg", args.unikernel, args.image, args.memory, args.machine,
                      args.transfer_timeout + 120, os.path.join(args.logs, "transfer-guest.log"))
        note(f"transfer: {args.transfer_bytes / 1e6:.0f} MB each way through the echo port, "
             f"{args.loss}% loss and {args.reorder}% reordering each way")
        result = namespace.helper("_echo", ["--bytes", args.transfer_bytes, "--seed", args.seed,
                                            "--timeout", args.transfer_timeout], timeout=args.transfer_timeout + 60)
        stats = guest_stats(namespace)
        os.killpg(relay.pid, signal.SIGTERM)
        relay_out, _ = relay.communicate(timeout=10)
        impairment = json.loads([l for l in relay_out.splitlines() if l.startswith("{")][-1])
        equal = result["sha256_sent"] == result["sha256_received"] and result["received"] == result["bytes"]
        mbps = result["received"] / result["seconds"] / 1e6 if result["seconds"] else 0
        g2h, h2g = impairment["guest_to_host"], impairment["host_to_guest"]
        figures.record(
            "transfer", equal and not result["errors"],
            f"{result['bytes']:,} bytes sent, {result['received']:,} echoed back in {result['seconds']:.1f} s "
            f"({mbps:.2f} MB/s each way); SHA-256 {'equal' if equal else 'DIFFERENT'} "
            f"({result['sha256_received'][:16]}...); impairment host->guest: {h2g['dropped']:,} of {h2g['ipv4']:,} "
            f"IPv4 frames dropped, {h2g['reordered']:,} reordered; guest->host: {g2h['dropped']:,} of "
            f"{g2h['ipv4']:,} dropped, {g2h['reordered']:,} reordered; guest TCP retransmissions "
            f"{stats.get('tcp_retransmissions')}" + (f"; errors: {result['errors']}" if result["errors"] else ""))
    except (SetupError, OSError, ValueError, KeyError) as e:
        figures.record("transfer", False, f"setup or helper failure: {e}")
        if guest:
            log(guest.console()[-3000:])
    finally:
        if guest:
            guest.stop()
        if relay and relay.poll() is None:
            os.killpg(relay.pid, signal.SIGKILL)
            relay.wait()
        namespace.destroy()


def figure_heap(args, namespace, figures):
    """Two rounds of the same connections: the first brings every table to its high-water mark (slot arrays, the
    connection dictionary, TIME-WAIT queues keep their capacity), the second must leave the heap exactly there."""
    try:
        namespace.helper("_sequential", ["--count", 200], timeout=300)  # ARP, first buffers
        start = wait_for_quiet(namespace, args.time_wait_limit)
        note(f"heap: after 200 warm-up connections {start['heap_bytes_in_use']:,} bytes in use; round 1 "
             f"(high-water mark): {args.connections:,} sequential connections")
        first = namespace.helper("_sequential", ["--count", args.connections], timeout=args.connections * 0.2 + 120)
        baseline = wait_for_quiet(namespace, args.time_wait_limit)
        note(f"heap: baseline {baseline['heap_bytes_in_use']:,} bytes in use; round 2: {args.connections:,} "
             f"sequential connections")
        result = namespace.helper("_sequential", ["--count", args.connections], timeout=args.connections * 0.2 + 120)
        right_after = guest_stats(namespace)
        note(f"heap: right after: {right_after['heap_bytes_in_use']:,} bytes, "
             f"{right_after['tcp_connections']} connections (TIME-WAIT included); waiting for TIME-WAIT to end")
        final = wait_for_quiet(namespace, args.time_wait_limit)
        delta = final["heap_bytes_in_use"] - baseline["heap_bytes_in_use"]
        errors = first["errors"] + result["errors"]
        passed = errors == 0 and delta == 0 and final["tcp_connections"] <= 1
        figures.record(
            "heap", passed,
            f"{result['ok']:,} of {args.connections:,} sequential connections (half closed by the server first) "
            f"answered correctly in {result['seconds']:.1f} s ({args.connections / result['seconds']:.0f}/s); heap bytes "
            f"in use: baseline {baseline['heap_bytes_in_use']:,} (after a first round of {args.connections:,}, which "
            f"grew tables from {start['heap_bytes_in_use']:,} in {start['heap_live_allocations']:,} allocations), right after {right_after['heap_bytes_in_use']:,} "
            f"({right_after['tcp_connections']} connections held, TIME-WAIT included), after TIME-WAIT "
            f"{final['heap_bytes_in_use']:,} (difference {delta:+,}); live allocations "
            f"{baseline['heap_live_allocations']:,} -> {final['heap_live_allocations']:,}; peak "
            f"{final['heap_peak_bytes']:,}; TIME-WAIT evictions {final['tcp_time_wait_evictions']}"
            + (f"; first error: {first['first_error'] or result['first_error']}" if errors else ""))
    except (SetupError, KeyError) as e:
        figures.record("heap", False, f"setup or helper failure: {e}")


def wait_for_quiet(namespace, limit):
    """Waits until the guest holds only the /stats connection (TIME-WAIT over); returns the counters then."""
    deadline = time.monotonic() + limit
    while True:
        stats = guest_stats(namespace)
        if stats["tcp_connections"] <= 1 or time.monotonic() > deadline:
            time.sleep(0.2)
            return guest_stats(namespace)  # a second reading: the previous /stats connection has ended too
        time.sleep(2)


def guest_mac(namespace):
    out = run(namespace.command(["ip", "neigh", "show", GUEST_IP])).stdout
    match = re.search(r"lladdr ([0-9a-f:]{17})", out)
    if not match:
        raise SetupError(f"no neighbour entry for {GUEST_IP}: {out!r}")
    return match.group(1)


def figure_flood(args, namespace, figures):
    try:
        before = guest_stats(namespace)
        mac = guest_mac(namespace)
        note(f"flood: {args.syns:,} SYNs at up to {args.syn_rate:,}/s from spoofed 198.18.0.0/15 sources to {mac}")
        result = namespace.helper("_flood", ["--count", args.syns, "--rate", args.syn_rate, "--iface", "tap0",
                                             "--guest-mac", mac, "--seed", args.seed, "--max-seconds", 120],
                                  timeout=240)
        after = guest_stats(namespace)
        during = result["during"]
        latency = during["median_latency"]
        cookies = after["tcp_syn_cookies_sent"] - before["tcp_syn_cookies_sent"]
        evicted = after["tcp_syn_queue_evictions"] - before["tcp_syn_queue_evictions"]
        dropped = after["tcp_syns_dropped"] - before["tcp_syns_dropped"]
        segments = after["tcp_segments_received"] - before["tcp_segments_received"]
        failures = after["tcp_send_failures"] - before["tcp_send_failures"]
        figures.record(
            "flood", result["after"]["ok"],
            f"{result['sent']:,} SYNs written in {result['seconds']:.1f} s ({result['sent'] / result['seconds']:,.0f}/s; "
            f"{result['host_queue_drops']:,} dropped by the TAP queue before QEMU read them); the guest's TCP "
            f"received {segments:,} segments, sent {cookies:,} SYN cookies, evicted {evicted:,} half-open "
            f"connections, dropped {dropped:,} SYNs, could not send {failures:,} segments (transmit queue full), held "
            f"{after['tcp_connections']} connections afterwards; during the flood {during['ok']} of {during['tries']} real GETs "
            f"answered" + (f" (median {latency * 1000:.0f} ms)" if latency is not None else "") +
            "; afterwards a real GET was answered "
            + (f"in {result['after']['seconds'] * 1000:.0f} ms" if result["after"]["ok"]
               else f"NOT: {result['after']['error']}")
            + f"; guest alive: {'yes' if namespace.guest.alive() else 'NO'}")
    except (SetupError, KeyError) as e:
        figures.record("flood", False, f"setup or helper failure: {e}")


def figure_concurrent(args, namespace, figures):
    try:
        note(f"concurrent: {args.concurrent:,} connections at once")
        result = namespace.helper("_concurrent", ["--count", args.concurrent, "--timeout", 120], timeout=400)
        passed = result["correct"] == args.concurrent and result["connected"] == args.concurrent
        figures.record(
            "concurrent", passed,
            f"{result['connected']:,} of {args.concurrent:,} connections established in {result['connect_seconds']:.1f} s"
            f" and held open together (the guest counted {result['guest_connections_while_open']} connections, the "
            f"/stats one included); {result['correct']:,} correct responses in {result['serve_seconds']:.1f} s"
            + (f"; {result['failed']} failures, first: {result['first_failures']}" if result["failed"] else ""))
    except (SetupError, KeyError) as e:
        figures.record("concurrent", False, f"setup or helper failure: {e}")


def orchestrate(args):
    if os.geteuid() != 0:
        raise SetupError("needs root (network namespaces and TAP devices)")
    for tool in ("ip", "qemu-system-x86_64"):
        if run(["sh", "-c", f"command -v {tool}"], check=False).returncode != 0:
            raise SetupError(f"{tool} is not installed")
    os.makedirs(args.logs, exist_ok=True)
    build(args)
    log(f"# image {args.image} ({os.path.getsize(args.image):,} bytes with symbols), machine {args.machine}, "
        f"{args.memory} MiB, TCG; logs in {args.logs}")
    figures = Figures()
    start = time.monotonic()
    if "transfer" in args.only:
        figure_transfer(args, figures)
    rest = [f for f in ("heap", "concurrent", "flood") if f in args.only]
    if rest:
        namespace = Namespace()
        guest = None
        try:
            namespace.add_tap("tap0", address=f"{HOST_IP}/{PREFIX}")
            guest = Guest(namespace, "tap0", args.unikernel, args.image, args.memory, args.machine, 1800,
                          os.path.join(args.logs, "guest.log"))
            namespace.guest = guest
            for name in rest:
                {"heap": figure_heap, "concurrent": figure_concurrent, "flood": figure_flood}[name](args, namespace,
                                                                                                 figures)
                if not guest.alive():
                    log("# the guest stopped:\n" + guest.console()[-3000:])
                    break
        except SetupError as e:
            figures.record("setup", False, str(e))
        finally:
            if guest:
                guest.stop()
            namespace.destroy()
    failed = [name for name, passed in figures.results if not passed]
    log(f"# {len(figures.results) - len(failed)} passed, {len(failed)} failed, {time.monotonic() - start:.0f} s")
    return 1 if failed else 0


def main():
    helpers = {"_relay": relay_main, "_stats": stats_main, "_echo": echo_main, "_sequential": sequential_main,
               "_flood": flood_main, "_concurrent": concurrent_main}
    if len(sys.argv) > 1 and sys.argv[1] in helpers:
        p = argparse.ArgumentParser(prog=f"reliability.py {sys.argv[1]}")
        p.add_argument("--guest-if"); p.add_argument("--host-if"); p.add_argument("--iface")
        p.add_argument("--guest-mac")
        p.add_argument("--loss", type=float, default=0); p.add_argument("--reorder", type=float, default=0)
        p.add_argument("--hold-ms", type=float, default=5)
        p.add_argument("--seed", type=int, default=1); p.add_argument("--bytes", type=int, default=0)
        p.add_argument("--count", type=int, default=0); p.add_argument("--rate", type=int, default=10000)
        p.add_argument("--timeout", type=float, default=300); p.add_argument("--max-seconds", type=float, default=60)
        helper_args = p.parse_args(sys.argv[2:])
        helpers[sys.argv[1]](helper_args)
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="transfer,heap,concurrent,flood",
                   help="comma-separated figures: transfer, heap, concurrent, flood")
    p.add_argument("--image", help="NetBench image (default: build it)")
    p.add_argument("--unikernel", help="the unikernel tool binary (default: build it)")
    p.add_argument("--machine", default="microvm", choices=["microvm", "pc", "q35"])
    p.add_argument("--memory", type=int, default=256, help="guest MiB (default 256)")
    p.add_argument("--transfer-bytes", type=int, default=100_000_000)
    p.add_argument("--transfer-timeout", type=float, default=420)
    p.add_argument("--loss", type=float, default=5.0, help="percent of IPv4 frames dropped each way")
    p.add_argument("--reorder", type=float, default=5.0, help="percent of IPv4 frames reordered each way")
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--time-wait-limit", type=float, default=90, help="seconds to wait for TIME-WAIT to end")
    p.add_argument("--syns", type=int, default=100_000)
    p.add_argument("--syn-rate", type=int, default=10_000, help="SYNs per second at most")
    p.add_argument("--concurrent", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--logs", default="/tmp/reliability-logs")
    p.add_argument("--quick", action="store_true", help="small counts, for trying the script out")
    args = p.parse_args()
    args.only = set(args.only.split(","))
    if args.quick:
        args.transfer_bytes, args.connections, args.syns, args.concurrent = 5_000_000, 500, 5_000, 100
    stopping = []

    def interrupted(signum, _):
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        return orchestrate(args)
    except SetupError as e:
        log(f"FAIL setup: {e}")
        return 2
    except KeyboardInterrupt:
        log("# interrupted")
        return 130
    finally:
        Namespace.destroy_all()


if __name__ == "__main__":
    sys.exit(main())
