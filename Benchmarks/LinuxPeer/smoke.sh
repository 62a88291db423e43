#!/bin/bash
# Smoke check of the Linux peer (not part of `swift test`): builds it, boots every program once with
# small parameters, checks what the guest printed, and prints the numbers it saw.
#
#   Benchmarks/LinuxPeer/smoke.sh [--machine microvm|pc|q35] [--out DIR]
#
# Checks: pingpong and createjoin end with PEER-EXIT 0 and a BENCH line; httpd prints READY and answers
# GET / through a port forward with exactly "Hello from Unikernel! Path: /" (then, if wrk is installed,
# a 5-second wrk run reports requests/s); blockio runs on a scratch disk image; tcpbulk serves one
# connection to the host-side client in each direction.
# Everything it starts is bounded by run.sh --timeout. Exit status 0 when every check passed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${LINUX_PEER_OUT:-/tmp/linux-peer}
MACHINE=microvm
while [ $# -gt 0 ]; do
    case "$1" in
        --machine) MACHINE=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        *) echo "usage: smoke.sh [--machine microvm|pc|q35] [--out DIR]" >&2; exit 2 ;;
    esac
done

"$HERE/build.sh" "$OUT" || { echo "smoke: build failed"; exit 1; }
WORK=$(mktemp -d /tmp/linux-peer-smoke.XXXXXX)
vm="" # the run.sh started in the background, if any
cleanup() {
    [ -z "$vm" ] || kill "$vm" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "smoke: ok   $*"; }
fail() { failed=$((failed + 1)); echo "smoke: FAIL $*"; }
# The run.sh command line; called directly (not through a function) so that `$!` of a background run is
# run.sh itself, and stopping it stops QEMU.
RUN=("$HERE/run.sh" --out "$OUT" --machine "$MACHINE")
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local p
    for p in $(seq "$1" $(($1 + 200))); do
        [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return; }
    done
    return 1
}

# wait_line FILE TEXT SECONDS PID: until FILE has a line containing TEXT, or PID ended, or time is up.
wait_line() {
    local deadline=$(($(now_ms) + $3 * 1000))
    until grep -q "$2" "$1" 2>/dev/null; do
        kill -0 "$4" 2>/dev/null || return 1
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

show() { grep -E '^(BENCH|# )' "$1" | sed "s/^/    [$MACHINE] /"; }

one_shot() { # one_shot NAME ARGS... : a benchmark that powers off by itself
    local name=$1 log="$WORK/$1.log" start
    shift
    start=$(now_ms)
    "${RUN[@]}" --run "$name" --timeout 300 "$@" > "$log" 2>&1
    local status=$? elapsed=$(($(now_ms) - start))
    if [ $status -eq 0 ] && grep -q '^PEER-EXIT 0' "$log" && grep -q '^BENCH ' "$log"; then
        pass "$name (QEMU start to exit ${elapsed} ms)"
        show "$log"
    else
        fail "$name (run.sh status $status); last lines:"
        tail -n 15 "$log" | sed 's/^/    /'
    fi
}

# 1. scheduler peers
one_shot pingpong
one_shot createjoin

# 2. httpd through a port forward
port=$(free_port 18080) || { fail "httpd: no free port"; port=""; }
if [ -n "$port" ]; then
    log="$WORK/httpd.log"
    start=$(now_ms)
    "${RUN[@]}" --forward "$port:8080" --timeout 300 > "$log" 2>&1 &
    vm=$!
    if wait_line "$log" '^READY' 240 "$vm"; then
        ready=$(($(now_ms) - start))
        body=$(curl -s --max-time 20 "http://127.0.0.1:$port/")
        served=$(($(now_ms) - start))
        if [ "$body" = "Hello from Unikernel! Path: /" ]; then
            pass "httpd (READY after ${ready} ms, first response after ${served} ms)"
            curl -s --max-time 20 -o /dev/null -w "    [$MACHINE] GET / -> HTTP %{http_code}, %{size_download} body bytes, %{time_total} s\n" \
                "http://127.0.0.1:$port/"
            if command -v wrk > /dev/null; then # a short load run, if wrk is installed (bounded: 5 s)
                timeout 30 wrk -t1 -c10 -d5s "http://127.0.0.1:$port/" > "$WORK/wrk.txt" 2>&1
                awk -v m="$MACHINE" '/Requests\/sec/ { print "    [" m "] wrk -t1 -c10 -d5s: " $2 " requests/s" }
                    /Non-2xx|Socket errors/ { print "    [" m "] wrk: " $0 }' "$WORK/wrk.txt"
            fi
        else
            fail "httpd answered '$body'"
        fi
    else
        fail "httpd never printed READY; last lines:"
        tail -n 15 "$log" | sed 's/^/    /'
    fi
    kill "$vm" 2>/dev/null
    wait "$vm" 2>/dev/null
fi

# 3. block I/O on a scratch image (the write pass overwrites it)
truncate -s 64M "$WORK/disk.img"
one_shot blockio --disk "$WORK/disk.img" --args -s,16m,-r,3

# 4. bulk TCP, both directions, against the host-side client
for direction in send recv; do
    port=$(free_port 15001) || { fail "tcpbulk: no free port"; continue; }
    client_mode=$([ "$direction" = send ] && echo recv || echo send)
    log="$WORK/tcpbulk-$direction.log"
    "${RUN[@]}" --run tcpbulk --args "-m,$direction,-n,16m,-k,1" --forward "$port:5001" --timeout 300 > "$log" 2>&1 &
    vm=$!
    if wait_line "$log" '^READY' 240 "$vm" &&
        timeout 120 "$OUT/bin/tcpbulk" -c 127.0.0.1 -p "$port" -m "$client_mode" -n 16m > "$WORK/client.log" 2>&1 &&
        wait "$vm" && grep -q '^PEER-EXIT 0' "$log"; then
        pass "tcpbulk server $direction"
        show "$log"
        sed "s/^/    [host]   /" "$WORK/client.log"
    else
        fail "tcpbulk server $direction; last lines:"
        tail -n 15 "$log" "$WORK/client.log" 2>/dev/null | sed 's/^/    /'
        kill "$vm" 2>/dev/null
        wait "$vm" 2>/dev/null
    fi
done

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
