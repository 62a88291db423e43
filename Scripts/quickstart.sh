#!/usr/bin/env bash
# Quick start: installs what is missing, builds the main example (HelloHTTP) as a guest image and boots it in
# QEMU with host port 8080 forwarded to it. Point curl or a browser at http://127.0.0.1:8080/ ; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-deps.sh
image=$(swift run -q unikernel build HelloHTTP --quiet | tail -1)
echo "== image: $image ($(stat -c %s "$image") bytes with symbols)"
port=${PORT:-8080}
echo "== booting in QEMU (microvm, TCG); try:  curl http://127.0.0.1:$port/hello"
exec swift run -q unikernel run "$image" --forward "$port:8080" ${TIMEOUT:+--timeout $TIMEOUT}
