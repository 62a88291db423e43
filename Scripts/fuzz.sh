#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ and runs each over its seed corpus, one target after another.
#
#   Scripts/fuzz.sh [--runs N] [--time S] [--timeout S] [--no-build] [--write-seeds] [TARGET...]
#
#   --runs N       inputs per target (libFuzzer -runs), default 1000000
#   --time S       stop each target after S seconds instead (libFuzzer -max_total_time); --runs still caps it
#   --timeout S    wall-clock limit per target (default: --time + 120, or 5400 with --runs alone); a target
#                  that hits it FAILs
#   --no-build     use the binaries already built
#   --write-seeds  regenerate Fuzz/Corpus/<target>/ from the seed lists in the harnesses, then stop
#   TARGET...      any of: ethernet arp ipv4 icmp udp tcp dhcp dns http tcpstate stack (default: all)
#
# Per target it prints the inputs executed, the time, coverage (edges "cov", features "ft") and PASS/FAIL,
# and it exits non-zero if any target crashed, violated an invariant or timed out. Crashing inputs are saved
# in Fuzz/Crashes/<target>/ (git-ignored); replay one with `Fuzz/.build/release/fuzz-<target> <file>`
# (add FUZZ_TRACE=1 to see what the harness does). New inputs found while fuzzing go to a scratch corpus in
# Fuzz/.build/fuzz-corpus/<target>/, so the committed corpus does not churn.
set -euo pipefail

ALL_TARGETS=(ethernet arp ipv4 icmp udp tcp dhcp dns http tcpstate stack)
runs=1000000
time_limit=""
timeout_limit=""
build=1
write_seeds=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --time) time_limit="$2"; shift 2 ;;
        --timeout) timeout_limit="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --write-seeds) write_seeds=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -eq 0 ] && targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    case " ${ALL_TARGETS[*]} " in *" $t "*) ;; *) echo "unknown target $t (targets: ${ALL_TARGETS[*]})" >&2; exit 2 ;; esac
done
if [ -z "$timeout_limit" ]; then
    if [ -n "$time_limit" ]; then timeout_limit=$((time_limit + 120)); else timeout_limit=5400; fi
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/Fuzz"
scratch="$fuzz/.build"
bin="$scratch/release"

# Largest input per target, and extra libFuzzer flags (structured targets start at full length).
max_len() {
    case "$1" in
        arp) echo 128 ;; dns) echo 1024 ;; tcpstate) echo 2048 ;; ipv4|http|stack) echo 4096 ;; *) echo 1600 ;;
    esac
}
extra_flags() {
    case "$1" in
        http|tcpstate|stack) echo "-len_control=0" ;; *) echo "" ;;
    esac
}

# SwiftPM names a path dependency after its directory; a checkout whose directory is itself called "fuzz"
# would clash with this package's own name, so such a checkout is mirrored under the scratch directory.
package="$fuzz"
if [ "$(basename "$root" | tr '[:upper:]' '[:lower:]')" = "fuzz" ]; then
    mirror="$scratch/mirror/swift-unikernel"
    mkdir -p "$mirror"
    excludes=(--exclude='./.build*' --exclude='./Fuzz/.build*' --exclude='./.git' --exclude='./Fuzz/Corpus'
              --exclude='./Fuzz/Crashes')
    # Copy with modification times kept (so builds stay incremental), then drop files deleted since.
    (cd "$root" && tar "${excludes[@]}" -cf - .) | (cd "$mirror" && tar xf -)
    comm -13 <(cd "$root" && tar "${excludes[@]}" -cf - . | tar tf - | grep -v '/$' | sort) \
             <(cd "$mirror" && find . -type f | grep -v '/Package.resolved$' | sort) | (cd "$mirror" && xargs -r rm -f)
    package="$mirror/Fuzz"
fi

if [ "$build" = 1 ]; then
    echo "== building fuzz targets (release, libFuzzer + AddressSanitizer, library modules instrumented)"
    # -Xswiftc reaches the root package's modules too; see Fuzz/Package.swift for why not --sanitize.
    swift build -c release --package-path "$package" --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address \
        2>&1 | grep -v "Cannot export local symbol" | tail -n 5
fi

export SWIFT_BACKTRACE=enable=no   # let libFuzzer, not the Swift backtracer, handle traps

if [ "$write_seeds" = 1 ]; then
    for t in "${targets[@]}"; do
        rm -rf "$fuzz/Corpus/$t"
        mkdir -p "$fuzz/Corpus/$t"
        FUZZ_WRITE_SEEDS="$fuzz/Corpus/$t" "$bin/fuzz-$t"
    done
    exit 0
fi

logs="$scratch/fuzz-logs"
mkdir -p "$logs"
failed=0
summary=()
for t in "${targets[@]}"; do
    corpus="$fuzz/Corpus/$t"
    work="$scratch/fuzz-corpus/$t"
    crashes="$fuzz/Crashes/$t"
    mkdir -p "$work" "$crashes" "$corpus"
    args=(-runs="$runs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$crashes/")
    [ -n "$time_limit" ] && args+=(-max_total_time="$time_limit")
    for f in $(extra_flags "$t"); do args+=("$f"); done
    echo "== $t: ${args[*]}"
    start=$(date +%s)
    set +e
    timeout --kill-after=30 "$timeout_limit" "$bin/fuzz-$t" "${args[@]}" "$work" "$corpus" > "$logs/$t.log" 2>&1
    rc=$?
    set -e
    seconds=$(( $(date +%s) - start ))
    executed=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || true)
    [ -z "$executed" ] && executed=$(grep -o '^#[0-9]*' "$logs/$t.log" | tail -n 1 | tr -d '#' || true)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$logs/$t.log" | tail -n 1 || true)
    rate=$(( ${executed:-0} / (seconds > 0 ? seconds : 1) ))
    if [ $rc -eq 0 ] && grep -q '^Done [0-9]* runs' "$logs/$t.log"; then
        verdict=PASS
    elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        verdict="FAIL (timeout after ${timeout_limit}s)"
        failed=1
    else
        verdict="FAIL (exit $rc)"
        failed=1
        grep -E 'INVARIANT VIOLATED|ERROR: |Fatal error|Test unit written' "$logs/$t.log" | head -n 5 || true
    fi
    line=$(printf '%-9s %10s inputs %6ss %7s exec/s  %-22s %s' "$t" "${executed:-?}" "$seconds" "${rate:-?}" \
        "${cov:-cov: ?}" "$verdict")
    echo "$line"
    summary+=("$line")
done
echo
echo "== summary (logs in $logs)"
for line in "${summary[@]}"; do echo "$line"; done
exit $failed
