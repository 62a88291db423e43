#!/bin/bash
# Builds the Linux-guest peer: Debian's stock kernel plus a small busybox initramfs holding our /init,
# the virtio modules and the static benchmark programs.
#
#   Benchmarks/LinuxPeer/build.sh [OUT]        (OUT defaults to $LINUX_PEER_OUT or /tmp/linux-peer)
#
# Produces in OUT:
#   vmlinuz          the kernel from the current linux-image-amd64 package (fetched with apt-get download)
#   vmlinux          the same kernel, decompressed: an ELF with a PVH entry note (run.sh boots this one)
#   initrd.img       gzip'd newc cpio: busybox, /init, /lib/modules/*.ko (+ load order), /bin/<benchmarks>
#   bin/             the static benchmark programs (they run on the host too, e.g. `tcpbulk -c`),
#                    and tsc-khz, a host helper
#   kernel-version   the kernel's release string
#   tsc-khz          the host's TSC rate in kHz (run.sh hands it to a microvm guest under TCG)
# Safe to run again: the kernel package and the extracted files are cached in OUT/kernel; the programs are
# recompiled only when their sources change; the initramfs is re-packed every time (about a second).
# Needs root for apt-get when a tool is missing; installs busybox-static cpio kmod gcc libc6-dev xz-utils zstd.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:-${LINUX_PEER_OUT:-/tmp/linux-peer}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "linux-peer: $*" >&2; }
die() { echo "linux-peer: error: $*" >&2; exit 1; }

# The virtio drivers the peer needs, by module name (build.sh adds the modules they depend on).
WANTED_MODULES="virtio_mmio virtio_pci virtio_net virtio_blk virtio_rng"
PROGRAMS="pingpong createjoin blockio tcpbulk"

# --- 1. tools ----------------------------------------------------------------------------------------
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" = 0 ]; then
        log "apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
}
missing=()
for pkg in busybox-static cpio kmod gcc libc6-dev xz-utils zstd; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; then
        apt_update_once
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 || die "cannot install ${missing[*]}"
    fi
fi
BUSYBOX=/bin/busybox
# The initramfs has no shared libraries: busybox must be the static build (no program interpreter).
[ -x "$BUSYBOX" ] && ! readelf -l "$BUSYBOX" | grep -q 'program interpreter' || die "$BUSYBOX is not the static busybox"

# --- 2. kernel package -------------------------------------------------------------------------------
# linux-image-amd64 is a metapackage; its candidate version depends on exactly one versioned image
# package (linux-image-<release>), which holds the kernel and its modules.
resolve_kernel_package() {
    apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
        sed -n 's/^Depends: //p' | tr ',' '\n' | grep -o 'linux-image-[0-9][^ ]*' | head -n1
}
mkdir -p "$OUT/kernel"
KPKG=$(resolve_kernel_package || true)
if [ -z "$KPKG" ]; then
    apt_update_once
    KPKG=$(resolve_kernel_package || true)
fi
DEB=""
if [ -n "$KPKG" ]; then
    DEB=$(ls "$OUT/kernel/${KPKG}_"*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$DEB" ]; then
        log "downloading $KPKG (apt-get download; nothing is installed)"
        # apt-get download writes into the current directory.
        if ! (cd "$OUT/kernel" && apt-get download -qq "$KPKG" >&2); then
            apt_update_once
            KPKG=$(resolve_kernel_package || true)
            if [ -n "$KPKG" ]; then
                (cd "$OUT/kernel" && apt-get download -qq "$KPKG" >&2) || true
            fi
        fi
        DEB=$(ls "$OUT/kernel/${KPKG}_"*.deb 2>/dev/null | head -n1 || true)
    fi
fi
if [ -z "$DEB" ]; then
    # Offline with a cache from an earlier run: use the newest package we already have.
    DEB=$(ls -t "$OUT/kernel/"linux-image-*.deb 2>/dev/null | head -n1 || true)
    [ -n "$DEB" ] || die "could not resolve or download the linux-image-amd64 kernel package"
    log "warning: using the cached $(basename "$DEB")"
fi
DEB_NAME=$(basename "$DEB" .deb)

# --- 3. kernel image and modules, extracted from the package without installing it -------------------
# Only what we use is unpacked (the package holds about 400 MB of modules). The package ships no
# modules.dep (depmod writes it at install time), so dependencies come from each module's own
# "depends" field (modinfo), resolved in rounds: unpack the modules named so far, read what they need,
# repeat. Modules listed in modules.builtin are part of the kernel image and are skipped.
EXTRACT="$OUT/kernel/$DEB_NAME"
if [ ! -f "$EXTRACT/.complete" ]; then
    rm -rf "$EXTRACT" && mkdir -p "$EXTRACT/modules"
    log "extracting the kernel and the virtio modules from $DEB_NAME.deb"
    dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$EXTRACT" --wildcards './boot/vmlinuz-*' '*/modules.builtin'
    BUILTIN=$(find "$EXTRACT" -name modules.builtin | head -n1)
    [ -n "$BUILTIN" ] || die "no modules.builtin in $DEB_NAME"
    KVER=$(basename "$(dirname "$BUILTIN")")
    # A module's name is its file name without .ko[.xz|.zst|.gz], dashes read as underscores (as the
    # kernel does).
    # "name path" for every module file in the package, and the names of the built-in modules.
    dpkg-deb --contents "$DEB" | awk '$NF ~ /\.ko(\.[a-z]+)?$/ { n = $NF; sub(/.*\//, "", n);
        sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); print n, $NF }' > "$EXTRACT/module-paths"
    sed -E 's/\.ko(\.[a-z]+)?$//; s/.*\///; s/-/_/g' "$BUILTIN" > "$EXTRACT/builtin-names"
    declare -A depends=()
    pending=$WANTED_MODULES
    while [ -n "$pending" ]; do
        members=() names=()
        for m in $pending; do
            [ -n "${depends[$m]+x}" ] && continue
            if grep -qx "$m" "$EXTRACT/builtin-names"; then
                depends[$m]=builtin
                continue
            fi
            path=$(awk -v m="$m" '$1 == m { print $2; exit }' "$EXTRACT/module-paths")
            [ -n "$path" ] || die "module $m is neither in $DEB_NAME nor built into its kernel"
            members+=("$path") names+=("$m")
            depends[$m]=""
        done
        pending=""
        [ ${#members[@]} -gt 0 ] || break
        dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$EXTRACT" "${members[@]}"
        for i in "${!members[@]}"; do
            m=${names[$i]} path="$EXTRACT/${members[$i]#./}"
            case "$path" in
                *.ko.xz) xz -dc "$path" > "$EXTRACT/modules/$m.ko" ;;
                *.ko.zst) zstd -qdc "$path" > "$EXTRACT/modules/$m.ko" ;;
                *.ko.gz) gzip -dc "$path" > "$EXTRACT/modules/$m.ko" ;;
                *.ko) cp "$path" "$EXTRACT/modules/$m.ko" ;;
            esac
            needs=$(modinfo -F depends "$EXTRACT/modules/$m.ko" | tr ',' ' ')
            depends[$m]=$needs
            pending="$pending $needs"
        done
    done
    # Load order: every module after the modules it depends on (depth-first).
    declare -A placed=()
    : > "$EXTRACT/modules/load-order"
    place() {
        [ -n "${placed[$1]+x}" ] && return 0
        placed[$1]=1
        [ "${depends[$1]}" = builtin ] && return 0
        local d
        for d in ${depends[$1]}; do place "$d"; done
        echo "$1.ko" >> "$EXTRACT/modules/load-order"
    }
    for m in $WANTED_MODULES; do place "$m"; done
    echo "$KVER" > "$EXTRACT/kernel-version"
    rm -rf "${EXTRACT:?}/lib" "${EXTRACT:?}/usr"
    touch "$EXTRACT/.complete"
fi
cp -p "$EXTRACT"/boot/vmlinuz-* "$OUT/vmlinuz"
cp -p "$EXTRACT/kernel-version" "$OUT/kernel-version"

# The same kernel as an uncompressed ELF, for a PVH boot (run.sh --kernel pvh, the default). vmlinuz is a
# bzImage whose own decompressor unpacks the compressed kernel at boot; under TCG that unpacking alone
# takes seconds (xz, emulated), a cost a real hypervisor barely sees and our images do not have. Debian
# builds with CONFIG_PVH=y, so the ELF inside carries the PVH entry note that QEMU boots directly, as it
# boots our images. The payload is found by its compression magic (xz, zstd or gzip).
extract_elf() { # extract_elf BZIMAGE OUTPUT: 0 when OUTPUT is the kernel ELF with a PVH note
    local magic tool offset
    for magic in xz zstd gzip; do
        case $magic in
            xz) bytes=$'\xfd7zXZ' tool="xz -dc --single-stream" ;;
            zstd) bytes=$'\x28\xb5\x2f\xfd' tool="zstd -qdc" ;;
            gzip) bytes=$'\x1f\x8b\x08' tool="gzip -dc" ;;
        esac
        for offset in $(LC_ALL=C grep -obUaF "$bytes" "$1" 2>/dev/null | cut -d: -f1 | head -n 4); do
            # A trailing-data complaint from the decompressor is expected; the ELF check below decides.
            tail -c +$((offset + 1)) "$1" | $tool > "$2.tmp" 2>/dev/null || true
            if readelf -h "$2.tmp" >/dev/null 2>&1 &&
                readelf -nW "$2.tmp" 2>/dev/null | grep -Eq 'Xen.*(0x00000012|PHYS32)'; then
                mv "$2.tmp" "$2"
                return 0
            fi
        done
    done
    rm -f "$2.tmp"
    return 1
}
if [ ! -f "$OUT/vmlinux" ] || [ "$OUT/vmlinuz" -nt "$OUT/vmlinux" ]; then
    rm -f "$OUT/vmlinux"
    if extract_elf "$OUT/vmlinuz" "$OUT/vmlinux"; then
        log "extracted vmlinux (PVH-bootable ELF, $(stat -c%s "$OUT/vmlinux") bytes)"
    else
        log "warning: no PVH-bootable ELF inside vmlinuz; run.sh will boot the bzImage"
    fi
fi

# --- 4. benchmark programs -----------------------------------------------------------------------------
mkdir -p "$OUT/bin"
for p in $PROGRAMS; do
    src="$HERE/src/$p.c"
    if [ ! -x "$OUT/bin/$p" ] || [ "$src" -nt "$OUT/bin/$p" ] || [ "$HERE/src/bench.h" -nt "$OUT/bin/$p" ]; then
        log "compiling $p"
        gcc -static -O2 -pthread -Wall -Wextra -s -o "$OUT/bin/$p" "$src"
    fi
done

# The host's TSC rate, for run.sh (see src/tsc-khz.c); measured on every build, it takes 0.1 s.
if [ ! -x "$OUT/bin/tsc-khz" ] || [ "$HERE/src/tsc-khz.c" -nt "$OUT/bin/tsc-khz" ]; then
    gcc -static -O2 -Wall -Wextra -s -o "$OUT/bin/tsc-khz" "$HERE/src/tsc-khz.c"
fi
"$OUT/bin/tsc-khz" > "$OUT/tsc-khz"

# --- 5. initramfs ----------------------------------------------------------------------------------------
ROOT="$OUT/initramfs"
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc,www,lib/modules}
cp "$BUSYBOX" "$ROOT/bin/busybox"
# One symlink per applet, at the path busybox itself reports (bin/sh, sbin/poweroff, usr/bin/...).
for applet in $("$BUSYBOX" --list-full); do
    [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$ROOT/$applet"
done
cp "$EXTRACT"/modules/*.ko "$EXTRACT/modules/load-order" "$ROOT/lib/modules/"
for p in $PROGRAMS; do cp "$OUT/bin/$p" "$ROOT/bin/$p"; done
install -m 0755 "$HERE/init" "$ROOT/init"
# The page busybox httpd serves at /: the same bytes as the HelloHTTP example's answer body, no newline.
printf 'Hello from Unikernel! Path: /' > "$ROOT/www/index.html"
echo 'root:x:0:0:root:/:/bin/sh' > "$ROOT/etc/passwd"
echo 'root:x:0:' > "$ROOT/etc/group"
# Fixed owners and times, sorted names: the same inputs give the same archive bytes.
find "$ROOT" -exec touch -h -d @0 {} +
(cd "$ROOT" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) | gzip -9 -n > "$OUT/initrd.img"

kernel_bytes=$(stat -c%s "$OUT/vmlinuz")
initrd_bytes=$(stat -c%s "$OUT/initrd.img")
log "kernel $(cat "$OUT/kernel-version") from $DEB_NAME.deb"
log "modules: $(tr '\n' ' ' < "$ROOT/lib/modules/load-order")"
echo "vmlinuz     $kernel_bytes bytes  $OUT/vmlinuz"
echo "initrd.img  $initrd_bytes bytes  $OUT/initrd.img"
echo "image size  $((kernel_bytes + initrd_bytes)) bytes (kernel + initramfs)"
[ ! -f "$OUT/vmlinux" ] || echo "vmlinux     $(stat -c%s "$OUT/vmlinux") bytes  $OUT/vmlinux (the same kernel uncompressed, booted through PVH)"
