#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit, vector, property, timeline, simulation, kernel
# and namespace end-to-end tests. Installs what it needs on a fresh Debian machine (as root).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is missing: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
# The kernel tests (tests/sys_rtnl.rs) and the namespace end-to-end tests (tests/netns_e2e.rs)
# need root, iproute2 and babeld, and fail (never skip) without them: on a fresh Debian
# machine, as root, install what is missing.
# shellcheck source=scripts/prerequisites.sh
. scripts/prerequisites.sh
install_missing "${MESH_TOOLS[@]}" "${TEST_TOOLS[@]}" || echo "the kernel and namespace tests will fail" >&2

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
# A short fuzz run of every parser (FUZZ_SECONDS per target, 0 to skip). It needs nightly and
# cargo-fuzz (installed from source once, a few minutes): where nightly cannot build the
# targets it says so in one line and does not fail the suite; a finding does.
fuzz_status=0
./scripts/fuzz.sh "${FUZZ_SECONDS:-10}" || fuzz_status=$?
if [ "$status" -eq 0 ]; then
  status=$fuzz_status
fi
# The router build: static mipsel-musl, -V, -h and the unit tests under qemu-mipsel, sizes.
# Like the fuzz run it needs nightly (with rust-src) and says so in one line without it;
# MIPSEL=0 skips it.
if [ "${MIPSEL:-1}" != 0 ]; then
  mipsel_log=$(mktemp)
  if ./scripts/mipsel.sh >"$mipsel_log" 2>&1; then
    grep '^mipsel:' "$mipsel_log"
  else
    tail -n 60 "$mipsel_log"
    [ "$status" -ne 0 ] || status=1
  fi
  rm -f "$mipsel_log"
fi
exit "$status"
