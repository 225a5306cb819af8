#!/usr/bin/env bash
# Runs every cargo-fuzz target under fuzz/ for SECONDS_PER_TARGET (default 60), one after
# another, and prints one line per target: executions, executions per second, findings.
# Exits 1 if any target found a crash, hang or memory blow-up (the inputs are left in
# fuzz/artifacts/<target>/: each one must become a regression test in the normal suite).
#
# Fuzzing needs the nightly toolchain and cargo-fuzz. Without nightly, or when the targets
# cannot be built here for a reason outside the code (no network for the crates, no C++
# compiler for libFuzzer, a platform without sanitizer coverage), it prints one line saying
# fuzzing is skipped and why, and exits 0. cargo-fuzz, if missing, is installed with
# `cargo install cargo-fuzz --locked`: a build from source that takes a few minutes, once.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

skip() {
  echo "fuzz: skipped: $*"
  exit 0
}

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi
if [ "$seconds" -eq 0 ]; then
  skip "0 seconds per target asked for"
fi

if ! command -v cargo >/dev/null 2>&1; then
  skip "no cargo"
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  skip "no nightly toolchain (rustup toolchain install nightly)"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz missing: installing it (cargo install cargo-fuzz --locked, a few minutes)"
  if ! cargo +nightly install cargo-fuzz --locked >/dev/null 2>&1; then
    skip "cargo-fuzz could not be installed (no network?)"
  fi
fi

log=$(mktemp)
stamp=$(mktemp)
trap 'rm -f "$log" "$stamp"' EXIT

if ! cargo +nightly fetch >"$log" 2>&1; then
  skip "the fuzz crate's dependencies could not be fetched ($(grep -m1 -i error "$log" || tail -n1 "$log"))"
fi
# No sanitizer: the fuzzed code has no `unsafe` (src/wire and src/engine forbid it, the
# netlink codec avoids it), so AddressSanitizer would only halve the executions. Debug
# assertions and overflow checks stay on (cargo-fuzz's default).
build=(--sanitizer none)
if ! cargo +nightly fuzz build "${build[@]}" >"$log" 2>&1; then
  # A compiler diagnostic with an error code is a mistake in our code, not the machine's.
  if grep -q '^error\[E' "$log"; then
    cat "$log" >&2
    echo "fuzz: the fuzz targets do not compile" >&2
    exit 1
  fi
  skip "nightly cannot build the fuzz targets here ($(grep -m1 '^error' "$log" || tail -n1 "$log"))"
fi

mapfile -t targets < <(cargo +nightly fuzz list)
status=0
total=0
printf 'fuzz: %-14s %12s %9s %9s\n' target executions exec/s findings
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  corpora=("corpus/$target")
  if [ -d "seeds/$target" ]; then
    corpora+=("seeds/$target")
  fi
  touch "$stamp"
  # -timeout: an input that takes 10 s is a hang (libFuzzer's default is 20 minutes).
  cargo +nightly fuzz run "${build[@]}" "$target" "${corpora[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  findings=$(find "artifacts/$target" -newer "$stamp" -type f \
    \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  if [ -z "$execs" ] && [ "$findings" -eq 0 ]; then
    # No statistics and no artifact: the run itself broke; show why.
    tail -n 20 "$log" >&2
    findings=1
  fi
  printf 'fuzz: %-14s %12s %9s %9s\n' "$target" "${execs:-?}" "${rate:-?}" "$findings"
  if [ "$findings" -ne 0 ]; then
    status=1
    find "artifacts/$target" -newer "$stamp" -type f -printf '      %p\n'
  fi
  total=$((total + findings))
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, $total findings"
exit "$status"
