#!/bin/bash
# Boots the Linux-guest peer (built by build.sh) under QEMU with the options our `unikernel run` uses,
# serial console on standard output.
#
#   Benchmarks/LinuxPeer/run.sh [OPTIONS]
#
# Options (the first group mirrors `unikernel run`; defaults are the same):
#   --machine microvm|pc|q35   QEMU machine (default microvm: virtio-mmio; pc/q35: virtio-pci)
#   --memory MIB               guest memory (default 128)
#   --accel tcg|kvm            accelerator (default tcg; kvm uses -cpu host, else -cpu max)
#   --net user|tap:IF|none     backend of the virtio-net device (default none; --forward implies user)
#   --forward HOST:GUEST       forward 127.0.0.1:HOST to the guest's port GUEST (user networking); repeatable
#   --disk FILE                attach a raw image as a virtio-blk device (the first is /dev/vda); repeatable
#   --append TEXT              more kernel command line (peer.* words are read by /init; see README.md)
#   --timeout S                stop QEMU after S seconds; exit status 124
#   --rng                      attach a virtio-rng device
#   --legacy-virtio            legacy virtio (virtio-mmio version 1 / virtio-pci disable-modern=on)
#   --qemu-arg ARG             extra QEMU argument; repeatable
#   --print-command            print the QEMU command line before running it
# Peer-only options:
#   --run NAME                 what /init runs: httpd (default), tcpbulk, pingpong, createjoin, blockio,
#                              cmd (the command in --args) or shell (interactive)
#   --args A,B,C               arguments for that program (commas stand for spaces)
#   --cpus N                   virtual CPUs (default 1, as `unikernel run`)
#   --kernel pvh|bzimage       pvh (default): boot the uncompressed kernel ELF through its PVH note, the
#                              way our images boot; bzimage: boot Debian's vmlinuz as shipped, whose
#                              built-in xz decompressor then runs emulated first (seconds under TCG)
#   --out DIR                  where build.sh put the kernel and initramfs (default $LINUX_PEER_OUT or
#                              /tmp/linux-peer); build.sh runs first if they are missing
#
# Exit status: QEMU's (0 after the guest powers off), 124 if --timeout expired, 2 for bad options,
# 143 if run.sh itself was stopped by a signal (QEMU is stopped with it).
# The guest prints "PEER-EXIT <status>" with the benchmark's own status just before it powers off.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${LINUX_PEER_OUT:-/tmp/linux-peer}
MACHINE=microvm MEMORY=128 ACCEL=tcg NET=none CPUS=1 TIMEOUT="" RUN="" ARGS="" APPEND="" KERNEL=pvh
RNG=0 LEGACY=0 PRINT=0
FORWARDS=() DISKS=() EXTRA=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
bad() { echo "run.sh: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    option=$1
    value=""
    case "$option" in
        --*=*) value=${option#*=}; option=${option%%=*}; set -- "$option" "$value" "${@:2}" ;;
    esac
    case "$option" in
        --rng) RNG=1; shift; continue ;;
        --legacy-virtio) LEGACY=1; shift; continue ;;
        --print-command) PRINT=1; shift; continue ;;
        -h | --help) usage; exit 0 ;;
        --machine | --memory | --accel | --net | --forward | --disk | --append | --timeout | --qemu-arg | \
            --run | --args | --cpus | --out | --kernel)
            [ $# -ge 2 ] || bad "$option needs a value"
            value=$2; shift 2 ;;
        *) bad "unknown option '$option' (see --help)" ;;
    esac
    case "$option" in
        --machine) MACHINE=$value ;;
        --memory) MEMORY=$value ;;
        --accel) ACCEL=$value ;;
        --net) NET=$value ;;
        --forward) FORWARDS+=("$value") ;;
        --disk) DISKS+=("$value") ;;
        --append) APPEND="$APPEND $value" ;;
        --timeout) TIMEOUT=$value ;;
        --qemu-arg) EXTRA+=("$value") ;;
        --run) RUN=$value ;;
        --args) ARGS=$value ;;
        --cpus) CPUS=$value ;;
        --out) OUT=$value ;;
        --kernel) KERNEL=$value ;;
    esac
done

case "$MACHINE" in microvm | pc | q35) ;; *) bad "--machine must be microvm, pc or q35, not '$MACHINE'" ;; esac
case "$KERNEL" in pvh | bzimage) ;; *) bad "--kernel must be pvh or bzimage, not '$KERNEL'" ;; esac
case "$ACCEL" in tcg) CPU=max ;; kvm) CPU=host ;; *) bad "--accel must be tcg or kvm, not '$ACCEL'" ;; esac
[[ "$MEMORY" =~ ^[0-9]+$ ]] && [ "$MEMORY" -ge 2 ] || bad "--memory must be a number of MiB, at least 2"
[[ "$CPUS" =~ ^[0-9]+$ ]] && [ "$CPUS" -ge 1 ] || bad "--cpus must be a positive number"
[ -z "$TIMEOUT" ] || [[ "$TIMEOUT" =~ ^[0-9]+(\.[0-9]+)?$ ]] || bad "--timeout must be a number of seconds"
case "$NET" in
    none | user) ;;
    tap:?*) [ ${#FORWARDS[@]} -eq 0 ] || bad "--forward needs user networking, not a TAP device" ;;
    *) bad "--net must be user, tap:IFNAME or none, not '$NET'" ;;
esac
[ "$NET" = none ] && [ ${#FORWARDS[@]} -gt 0 ] && NET=user
for f in "${FORWARDS[@]}"; do
    [[ "$f" =~ ^([0-9]+):([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 65535 ] &&
        [ "${BASH_REMATCH[2]}" -ge 1 ] && [ "${BASH_REMATCH[2]}" -le 65535 ] ||
        bad "--forward expects HOST:GUEST port numbers, not '$f'"
done
for d in "${DISKS[@]}"; do [ -f "$d" ] || [ -b "$d" ] || bad "no such disk image: $d"; done
[[ "$RUN" =~ ^[a-z]*$ ]] || bad "--run expects a program name, not '$RUN'"
[[ "$ARGS" != *" "* ]] || bad "--args separates arguments with commas, not spaces"

if [ ! -f "$OUT/vmlinuz" ] || [ ! -f "$OUT/initrd.img" ]; then
    "$HERE/build.sh" "$OUT" >&2
fi
KERNEL_FILE=$OUT/vmlinuz
if [ "$KERNEL" = pvh ]; then
    if [ -f "$OUT/vmlinux" ]; then
        KERNEL_FILE=$OUT/vmlinux
    else
        echo "run.sh: warning: no $OUT/vmlinux (see build.sh); booting the bzImage" >&2
    fi
fi

# panic=-1 with -no-reboot: a guest that cannot power off (or whose /init dies) still ends QEMU.
CMDLINE="console=ttyS0 panic=-1 quiet"
[ -z "$RUN" ] || CMDLINE="$CMDLINE peer.run=$RUN"
[ -z "$ARGS" ] || CMDLINE="$CMDLINE peer.args=$ARGS"
CMDLINE="$CMDLINE$APPEND"
# microvm has no HPET or ACPI PM timer, so Linux calibrates the TSC against the PIT alone; under TCG on a
# busy host that fails now and then and the boot hangs. Under TCG the guest's TSC is the host's, whose
# rate build.sh measured: tell the kernel (unless the caller already did).
if [ "$MACHINE" = microvm ] && [ "$ACCEL" = tcg ] && [ -s "$OUT/tsc-khz" ] && [[ "$CMDLINE" != *tsc_early_khz=* ]]; then
    CMDLINE="$CMDLINE tsc_early_khz=$(cat "$OUT/tsc-khz")"
fi

# shellcheck disable=SC2054 # commas inside QEMU arguments are QEMU's own syntax
QEMU=(qemu-system-x86_64 -accel "$ACCEL" -M "$MACHINE" -cpu "$CPU" -m "$MEMORY" -smp "$CPUS"
      -nodefaults -no-user-config -display none -no-reboot -serial stdio -monitor none
      -device isa-debug-exit,iobase=0xf4,iosize=0x04
      -kernel "$KERNEL_FILE" -initrd "$OUT/initrd.img" -append "$CMDLINE")
if [ "$MACHINE" = microvm ] && [ "$LEGACY" = 0 ]; then QEMU+=(-global virtio-mmio.force-legacy=false); fi
device() { # device KIND REST: the PCI or MMIO flavour of a virtio device for this machine
    if [ "$MACHINE" = microvm ]; then echo "$1-device,$2"
    elif [ "$LEGACY" = 1 ]; then echo "$1-pci,$2,disable-modern=on"
    else echo "$1-pci,$2"; fi
}
case "$NET" in
    user)
        netdev="user,id=net0"
        for f in "${FORWARDS[@]}"; do netdev="$netdev,hostfwd=tcp:127.0.0.1:${f%%:*}-:${f##*:}"; done
        QEMU+=(-netdev "$netdev" -device "$(device virtio-net netdev=net0)") ;;
    tap:*)
        QEMU+=(-netdev "tap,id=net0,ifname=${NET#tap:},script=no,downscript=no"
               -device "$(device virtio-net netdev=net0)") ;;
esac
for i in "${!DISKS[@]}"; do
    QEMU+=(-drive "file=${DISKS[$i]},if=none,id=disk$i,format=raw" -device "$(device virtio-blk drive=disk$i)")
done
if [ "$RNG" = 1 ]; then
    # shellcheck disable=SC2054
    QEMU+=(-object rng-random,id=rng0,filename=/dev/urandom -device "$(device virtio-rng rng=rng0)")
fi
QEMU+=("${EXTRA[@]}")

if [ "$PRINT" = 1 ]; then
    for word in "${QEMU[@]}"; do
        case "$word" in *[[:space:]]*) printf "'%s' " "$word" ;; *) printf '%s ' "$word" ;; esac
    done
    echo
fi
if [ -z "$TIMEOUT" ]; then
    exec "${QEMU[@]}"
fi
# QEMU runs under timeout(1) as a child of this script; a signal that stops the script stops QEMU too.
# (The explicit <&0 keeps the console's input: a background job would otherwise read /dev/null.)
timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" <&0 &
child=$!
signalled=0
trap 'signalled=1; kill -TERM "$child" 2>/dev/null' TERM INT HUP
status=0
while :; do
    wait "$child" && status=0 || status=$?
    kill -0 "$child" 2>/dev/null || break # wait returned early for a trapped signal
done
if [ "$signalled" = 1 ]; then
    exit 143
fi
[ "$status" -ne 124 ] || echo "run.sh: stopped the guest after ${TIMEOUT}s" >&2
exit "$status"
