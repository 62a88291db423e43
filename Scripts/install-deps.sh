#!/usr/bin/env bash
# Installs the Debian packages the project needs, if they are missing: QEMU (boots guests), libelf (the host
# tool reads and writes ELF images), gdb (the debugger boot test), curl/wrk/iproute2/python3 (network tests and
# benchmarks). Swift itself must already be on PATH (a swift.org toolchain with Embedded Swift).
set -euo pipefail

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
{ [ -f /usr/include/libelf.h ] && [ -f /usr/include/gelf.h ]; } || need+=(libelf-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v gdb >/dev/null || need+=(gdb)
command -v curl >/dev/null || need+=(curl)
command -v wrk >/dev/null || need+=(wrk)
command -v ip >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
command -v gcc >/dev/null || need+=(gcc)   # SwiftPM links guest images through the system's gcc driver
command -v ping >/dev/null || need+=(iputils-ping)

if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "error: swift is not on PATH (install a Swift 6 toolchain from swift.org)"; exit 1; }
