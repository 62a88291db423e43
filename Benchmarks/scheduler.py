#!/usr/bin/env python3
"""Thread benchmarks (issue 3): context-switch cost and thread create+join cost inside the guest, beside the same
ping-pong in a Linux guest under the same QEMU configuration, as ratios. Prints numbers; asserts nothing.

The guest side is SchedulerCheck's `bench` scenario (TSC-timed medians of 9 batches):
  context_switch_ns  two threads ping-ponging through two channels (one-way switch = round trip / 2)
  semaphore_switch_ns the same through two semaphores (what the Linux peer does with POSIX semaphores)
  yield_switch_ns    two threads yielding to each other
  create_join_ns     spawn a thread that does nothing and join it
The Linux side is Benchmarks/LinuxPeer (`peer.run=pingpong` and `peer.run=createjoin`: POSIX threads, semaphores,
clock_gettime; `BENCH context_switch_ns` and `BENCH thread_create_join_ns`), booted with the same machine, memory
and accelerator.

Usage: Benchmarks/scheduler.py [--runs N] [--machine microvm|pc|q35] [--no-linux]
"""
import argparse, os, re, statistics, subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--machine", default="microvm")
ap.add_argument("--memory", type=int, default=256)
ap.add_argument("--no-linux", action="store_true")
args = ap.parse_args()

def bench_lines(text):
    values = {}
    for m in re.finditer(r"^BENCH (\S+) ([0-9.]+)", text, re.M):
        values[m.group(1)] = float(m.group(2))
    return values

image = subprocess.run(["swift", "run", "-q", "unikernel", "build", "SchedulerCheck", "--quiet"], cwd=ROOT,
                       check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
ours = {}
for _ in range(args.runs):
    out = subprocess.run(["swift", "run", "-q", "unikernel", "run", image, "--machine", args.machine,
                          "--memory", str(args.memory), "--append", "bench", "--timeout", "300"],
                         cwd=ROOT, capture_output=True, text=True).stdout
    for k, v in bench_lines(out).items():
        ours.setdefault(k, []).append(v)
print(f"== Swift unikernel ({args.machine}, TCG, median of {args.runs} boots, each a median of 9 batches)")
for k, v in sorted(ours.items()):
    print(f"  {k:20} {statistics.median(v):>10.0f} ns")

if not args.no_linux:
    peer = os.path.join(ROOT, "Benchmarks/LinuxPeer")
    subprocess.run([os.path.join(peer, "build.sh")], check=True, stdout=subprocess.DEVNULL)
    theirs = {}
    for mode in ["pingpong", "createjoin"]:
        for _ in range(args.runs):
            out = subprocess.run([os.path.join(peer, "run.sh"), "--machine", args.machine, "--memory",
                                  str(max(args.memory, 128)), "--net", "none", "--run", mode,
                                  "--timeout", "300"], capture_output=True, text=True).stdout
            for k, v in bench_lines(out).items():
                theirs.setdefault(k, []).append(v)
    print(f"== Linux guest ({args.machine}, TCG, median of {args.runs} boots)")
    for k, v in sorted(theirs.items()):
        print(f"  {k:20} {statistics.median(v):>10.0f}")
    linux_switch = statistics.median(theirs.get("context_switch_ns", [float("nan")]))
    linux_create = statistics.median(theirs.get("thread_create_join_ns", [float("nan")]))
    print("== ratios (Linux guest / Swift unikernel; above 1 means the unikernel is cheaper)")
    print(f"  context switch (semaphores, like the peer) {linux_switch / statistics.median(ours['semaphore_switch_ns']):6.1f}x")
    print(f"  context switch (channels)  {linux_switch / statistics.median(ours['context_switch_ns']):6.1f}x")
    print(f"  context switch (yield)     {linux_switch / statistics.median(ours['yield_switch_ns']):6.1f}x")
    print(f"  thread create + join       {linux_create / statistics.median(ours['create_join_ns']):6.1f}x")
