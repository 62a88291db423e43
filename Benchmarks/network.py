#!/usr/bin/env python3
"""Network benchmark: the unikernel against a Linux guest under the same QEMU configuration and network backend.

Measures, for each backend (QEMU user networking with a port forward on 127.0.0.1, and a TAP device inside a
network namespace this script creates):

  * HelloHTTP requests/s under `wrk -t1 -cN` for N = 10 and 100, against busybox httpd in the Linux guest serving
    the same 29-byte body (Benchmarks/LinuxPeer, `peer.run=httpd`);
  * bulk TCP throughput each way: the NetBench image (port 5001 sends, 5002 receives; Tests/Images/NetBench)
    against the Linux guest's `tcpbulk` server (`peer.run=tcpbulk`, `-m send` / `-m recv`), with the same client
    (this script, in Python) for both guests;

and prints medians of several runs with the ratio unikernel / Linux. It also prints HelloHTTP's stripped image size
and the smallest `--memory` (MiB) with which HelloHTTP still boots and answers correctly (searched downward).

Numbers only: nothing here asserts anything about them. Result lines have the form `BENCH <name> <value> <unit>`;
lines starting with `#` are for people. The machine is shared and QEMU emulates the guests (TCG): compare the
ratios, measured in the same invocation, not absolute numbers from different days.

The Linux guest kit is Benchmarks/LinuxPeer (run.sh, build.sh), or the directory given with --peer-dir or
$LINUX_PEER_DIR. Without it (or with --no-peer) only the unikernel is measured.

Usage: Benchmarks/network.py [--runs 3] [--duration 10] [--backends user,tap] [--peer-dir DIR] [--quick]
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Scripts"))
from netns import Namespace, run  # noqa: E402  (shared with Scripts/reliability.py)
GUEST_IP, HOST_IP, PREFIX = "10.77.0.2", "10.77.0.1", 24
GREETING = "Hello from Unikernel! Path: "
PERIOD, CHUNK = 251, 251 * 256
PATTERN = bytes(i % PERIOD for i in range(CHUNK + PERIOD))


def say(text):
    print(text, flush=True)


def bench(name, value, unit):
    say(f"BENCH {name} {value:.2f} {unit}" if isinstance(value, float) else f"BENCH {name} {value} {unit}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Backend:
    """Where a guest's network goes and how clients reach a guest port."""

    def __init__(self, kind):
        self.kind = kind
        self.namespace = self.tap_namespace() if kind == "tap" else None
        self.forwards = {}

    @staticmethod
    def tap_namespace():
        """A namespace holding tap0 (HOST_IP/24), for the guest's TAP backend and its clients."""
        namespace = Namespace("netbench")
        namespace.add_tap("tap0", address=f"{HOST_IP}/{PREFIX}")
        return namespace

    def wrap(self, command):
        """A client command line, run where it can reach the guest."""
        return self.namespace.command(command) if self.namespace else command

    def address(self, guest_port):
        return (GUEST_IP, guest_port) if self.namespace else ("127.0.0.1", self.forwards[guest_port])

    def url(self, path="/"):
        host, port = self.address(8080)
        return f"http://{host}:{port}{path}"

    def guest_options(self, ports, unikernel):
        """Network options for `unikernel run` or LinuxPeer's run.sh (the same names)."""
        if self.namespace:
            words = (f"unikernel.ip={GUEST_IP}/{PREFIX} unikernel.gateway={HOST_IP}" if unikernel
                     else f"peer.ip={GUEST_IP}/{PREFIX} peer.gw={HOST_IP}")
            return ["--net", "tap:tap0", "--append", words]
        self.forwards = {p: free_port() for p in ports}
        options = []
        for guest_port, host_port in self.forwards.items():
            options += ["--forward", f"{host_port}:{guest_port}"]
        if unikernel:
            options += ["--append", "unikernel.ip=10.0.2.15/24 unikernel.gateway=10.0.2.2"]
        return options

    def close(self):
        if self.namespace:
            self.namespace.destroy()


class Guest:
    """A guest in the background (QEMU through `unikernel run` or run.sh), console in a file."""

    def __init__(self, command, backend, ready, log_path, timeout=120):
        self.backend = backend
        self.log_path = log_path
        self.logfile = open(log_path, "w")
        self.process = subprocess.Popen(backend.wrap(command), stdout=self.logfile, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while ready not in self.console():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"guest not ready ({' '.join(command)}):\n{self.console()[-1500:]}")
            time.sleep(0.1)

    def console(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait()
        self.logfile.close()
        namespace = self.backend.namespace
        if namespace:  # QEMU must have let go of the TAP before the next guest attaches to it
            for attempt in range(100):
                pids = namespace.pids()
                if not pids:
                    break
                if attempt == 50:
                    for pid in pids:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                time.sleep(0.1)


def http_get(backend, path, timeout=10):
    """curl from where the guest is reachable; returns the body or None."""
    r = run(backend.wrap(["curl", "-s", "-m", str(timeout), backend.url(path)]), check=False)
    return r.stdout if r.returncode == 0 else None


def wrk(backend, connections, duration):
    r = run(backend.wrap(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", backend.url("/")]),
            check=False, timeout=duration + 60)
    match = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", r.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    bad = (sum(int(x) for x in errors.groups()) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0)
    return (float(match.group(1)) if match else 0.0), bad


def bulk_client(backend, port, direction, size):
    """direction 'recv': read the pattern to end of stream; 'send': send `size` pattern bytes and read the guest's
    RECEIVED line. Runs this script's `_bulk` mode where the guest is reachable; returns MB/s (10^6 bytes/s)."""
    host, real_port = backend.address(port)
    r = run(backend.wrap([sys.executable, os.path.abspath(__file__), "_bulk", host, str(real_port), direction,
                          str(size)]), check=False, timeout=600)
    match = re.search(r"MBPS ([\d.]+) BYTES (\d+) OK (\w+)", r.stdout)
    if not match or match.group(3) != "True":
        raise RuntimeError(f"bulk {direction} failed: {r.stdout.strip()[-500:]}")
    return float(match.group(1))


def bulk_main(host, port, direction, size):
    s = socket.create_connection((host, int(port)), timeout=60)
    size = int(size)
    start = time.monotonic()
    ok = True
    if direction == "recv":
        received, buffer = 0, bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            n = s.recv_into(view, CHUNK)
            if n == 0:
                break
            offset = received % PERIOD
            if view[:n] != PATTERN[offset:offset + n]:
                ok = False
            received += n
        ok = ok and (size == 0 or received == size)
        total = received
    else:
        sent = 0
        while sent < size:
            n = min(CHUNK, size - sent)
            offset = sent % PERIOD
            s.sendall(PATTERN[offset:offset + n])
            sent += n
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while True:
            chunk = s.recv(200)
            if not chunk:
                break
            reply += chunk
        ok = reply.startswith(f"RECEIVED {size} ".encode())
        total = sent
    seconds = time.monotonic() - start
    s.close()
    print(f"MBPS {total / seconds / 1e6:.3f} BYTES {total} OK {ok}", flush=True)


def median(values):
    return statistics.median(values) if values else 0.0


class Benchmark:
    def __init__(self, args):
        self.args = args
        self.unikernel = None
        self.images = {}
        self.peer = None
        self.results = {}

    def prepare(self):
        run(["swift", "build", "--product", "unikernel"], cwd=ROOT, timeout=1800)
        bin_path = run(["swift", "build", "--show-bin-path"], cwd=ROOT).stdout.strip().splitlines()[-1]
        self.unikernel = os.path.join(bin_path, "unikernel")
        for product in ("HelloHTTP", "NetBench"):
            out = run([self.unikernel, "build", product, "--quiet"], cwd=ROOT, timeout=1800).stdout
            self.images[product] = out.strip().splitlines()[-1]
        if not self.args.no_peer:
            directory = self.args.peer_dir or os.environ.get("LINUX_PEER_DIR") or os.path.join(ROOT, "Benchmarks",
                                                                                             "LinuxPeer")
            if os.path.exists(os.path.join(directory, "run.sh")):
                self.peer = os.path.join(directory, "run.sh")
            else:
                say(f"# no Linux peer kit at {directory} (run.sh): measuring the unikernel only")

    def unikernel_guest(self, product, backend, ports, ready):
        command = [self.unikernel, "run", self.images[product], "--machine", self.args.machine, "--memory",
                   str(self.args.memory), "--timeout", "1800"] + backend.guest_options(ports, True)
        return Guest(command, backend, ready, os.path.join(self.args.logs, f"{product}-{backend.kind}.log"))

    def peer_guest(self, backend, ports, run_name, run_args=None):
        command = [self.peer, "--machine", self.args.machine, "--memory", str(self.args.memory), "--timeout", "1800",
                   "--run", run_name] + backend.guest_options(ports, False)
        if run_args:
            command += ["--args", run_args]
        return Guest(command, backend, "READY", os.path.join(self.args.logs, f"linux-{run_name}-{backend.kind}.log"),
                     timeout=180)

    def record(self, name, values, unit):
        value = median(values)
        self.results[name] = value
        bench(name, value, unit)
        say(f"#   {name}: runs {', '.join(f'{v:.1f}' for v in values)}")

    def http(self, backend):
        guests = [("unikernel", lambda: self.unikernel_guest("HelloHTTP", backend, [8080],
                                                             "HelloHTTP: listening on port 8080"))]
        if self.peer:
            guests.append(("linux", lambda: self.peer_guest(backend, [8080], "httpd")))
        for label, start in guests:
            guest = start()
            try:
                body = http_get(backend, "/")
                if body != GREETING + "/":
                    raise RuntimeError(f"{label} answered {body!r}")
                wrk(backend, 10, 2)  # warm-up: first executions are slow under TCG
                for connections in (10, 100):
                    values, bad = [], 0
                    for _ in range(self.args.runs):
                        rate, errors = wrk(backend, connections, self.args.duration)
                        values.append(rate)
                        bad += errors
                    self.record(f"http_{backend.kind}_c{connections}_{label}_rps", values, "requests/s")
                    if bad:
                        say(f"#   {label} c{connections}: {bad} socket errors or non-2xx responses in total")
            finally:
                guest.stop()
        for connections in (10, 100):
            self.ratio(f"http_{backend.kind}_c{connections}")

    def bulk(self, backend):
        size = self.args.bulk_bytes
        # NetBench reads its byte count for port 5001 from the command line (`bytes=N`).
        command = [self.unikernel, "run", self.images["NetBench"], "--machine", self.args.machine, "--memory",
                   str(self.args.memory), "--timeout", "1800"] + backend.guest_options([5001, 5002], True)
        i = command.index("--append")
        command[i + 1] += f" bytes={size}"
        guest = Guest(command, backend, "NetBench: ready", os.path.join(self.args.logs, f"NetBench-{backend.kind}.log"))
        try:
            for direction, port, name in (("recv", 5001, "guest_send"), ("send", 5002, "guest_recv")):
                values = [bulk_client(backend, port, direction, size) for _ in range(self.args.runs)]
                self.record(f"tcp_{backend.kind}_{name}_unikernel_MBps", values, "MB/s")
        finally:
            guest.stop()
        if self.peer:
            for direction, mode, name in (("recv", "send", "guest_send"), ("send", "recv", "guest_recv")):
                guest = self.peer_guest(backend, [5001], "tcpbulk", f"-m,{mode},-n,{size}")
                try:
                    values = [bulk_client(backend, 5001, direction, size) for _ in range(self.args.runs)]
                    self.record(f"tcp_{backend.kind}_{name}_linux_MBps", values, "MB/s")
                finally:
                    guest.stop()
            for name in ("guest_send", "guest_recv"):
                self.ratio(f"tcp_{backend.kind}_{name}", unit="MBps")

    def ratio(self, prefix, unit="rps"):
        ours = self.results.get(f"{prefix}_unikernel_{unit}")
        theirs = self.results.get(f"{prefix}_linux_{unit}")
        if ours and theirs:
            bench(f"{prefix}_ratio", ours / theirs, "unikernel/linux")

    def image_size(self):
        image = self.images["HelloHTTP"]
        stripped = os.path.join(self.args.logs, "HelloHTTP.stripped")
        run(["strip", "-o", stripped, image])
        bench("hellohttp_image_bytes", os.path.getsize(image), "bytes (with symbols)")
        bench("hellohttp_image_stripped_bytes", os.path.getsize(stripped), "bytes")

    def minimum_memory(self):
        """Boots HelloHTTP with less and less memory (user networking); the smallest size that still answers."""
        def serves(mib):
            backend = Backend("user")
            try:
                command = [self.unikernel, "run", self.images["HelloHTTP"], "--machine", self.args.machine,
                           "--memory", str(mib), "--timeout", "60"] + backend.guest_options([8080], True)
                guest = Guest(command, backend, "HelloHTTP: listening on port 8080",
                              os.path.join(self.args.logs, f"HelloHTTP-{mib}MiB.log"), timeout=30)
            except RuntimeError:
                return False
            try:
                return all(http_get(backend, f"/m{i}") == f"{GREETING}/m{i}" for i in range(3))
            finally:
                guest.stop()

        good, bad = None, None
        for mib in (128, 64, 32, 16, 8, 4, 2, 1):
            if serves(mib):
                good = mib
            else:
                bad = mib
                break
        if good is None:
            say("# HelloHTTP did not serve even with 128 MiB")
            return
        while bad is not None and good - bad > 1:
            middle = (good + bad) // 2
            if serves(middle):
                good = middle
            else:
                bad = middle
        bench("hellohttp_minimum_memory", good, "MiB")
        if bad is not None:
            say(f"#   with {bad} MiB it does not boot and serve (see {self.args.logs}/HelloHTTP-{bad}MiB.log)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_bulk":
        bulk_main(*sys.argv[2:6])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is reported)")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    p.add_argument("--bulk-bytes", type=int, default=32 << 20, help="bytes per bulk TCP run")
    p.add_argument("--backends", default="user,tap")
    p.add_argument("--parts", default="http,bulk,size,memory", help="http, bulk, size, memory")
    p.add_argument("--machine", default="microvm", choices=["microvm", "pc", "q35"])
    p.add_argument("--memory", type=int, default=128, help="guest MiB for both guests (default 128)")
    p.add_argument("--peer-dir", help="the LinuxPeer kit (default Benchmarks/LinuxPeer or $LINUX_PEER_DIR)")
    p.add_argument("--no-peer", action="store_true", help="measure the unikernel only")
    p.add_argument("--logs", default="/tmp/network-bench-logs")
    p.add_argument("--quick", action="store_true", help="1 run of 3 s, 8 MiB bulk")
    args = p.parse_args()
    if args.quick:
        args.runs, args.duration, args.bulk_bytes = 1, 3, 8 << 20
    if os.geteuid() != 0 and "tap" in args.backends:
        say("# the tap backend needs root (network namespaces); use --backends user")
        return 2
    os.makedirs(args.logs, exist_ok=True)
    b = Benchmark(args)
    parts = set(args.parts.split(","))
    try:
        b.prepare()
        say(f"# machine {args.machine}, {args.memory} MiB, TCG, one vCPU; wrk -t1, {args.runs} runs of "
            f"{args.duration} s; bulk {args.bulk_bytes:,} bytes per run; medians")
        if "size" in parts:
            b.image_size()
        for kind in args.backends.split(","):
            backend = Backend(kind)
            try:
                if "http" in parts:
                    b.http(backend)
                if "bulk" in parts:
                    b.bulk(backend)
            finally:
                backend.close()
        if "memory" in parts:
            b.minimum_memory()
    finally:
        Namespace.destroy_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
