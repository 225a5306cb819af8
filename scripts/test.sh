#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, vector, property, timeline and simulation
# tests. Installs what it needs on a fresh Debian machine (run as root there).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
# tests/sys_rtnl.rs sets up links and routes with iproute2 inside network namespaces.
if ! command -v ip >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null
  else
    echo "ip (iproute2) is missing: tests/sys_rtnl.rs needs it" >&2
    exit 1
  fi
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-fail-fast: one failing test binary (the namespace tests without root, say) must not
# hide the results of the others.
status=0
cargo test --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
summary=${CARGO_TARGET_DIR:-target}/tmp/simulation-summary.txt
if [ -f "$summary" ]; then
  cat "$summary"
fi
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
exit "$status"
