# shellcheck shell=bash
# Sourced by every scripts/bench/*.sh: where results go, and the tools the figures need.
#
#   BENCH_OUT   directory of the tables, data and plots (default target/bench, or
#               $CARGO_TARGET_DIR/bench); BENCHMARKS.md's figures come from BENCH_OUT=doc/bench
set -euo pipefail
bench_script=$(readlink -f "$0")
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=scripts/prerequisites.sh
. scripts/prerequisites.sh

BENCH_OUT=${BENCH_OUT:-${CARGO_TARGET_DIR:-target}/bench}
mkdir -p "$BENCH_OUT"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
export BENCH_OUT

# What the one-router benchmarks (scale, idle; benches/router/mod.rs) run: command:package.
# shellcheck disable=SC2034 # used by the scripts that source this file
BENCH_ROUTER_TOOLS=(ip:iproute2 bridge:iproute2 sysctl:procps flock:util-linux setsid:util-linux
  getconf:libc-bin)

# bench_help ARGS...: with -h or --help among ARGS, prints the script's header comment (up
# to its shellcheck line) and exits.
bench_help() {
  case " $* " in
  *" -h "* | *" --help "*)
    awk 'NR > 1 && /^# shellcheck/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$bench_script"
    exit 0
    ;;
  esac
}

# bench_need_root WHAT: namespaces and packet sockets need root; say so and stop without it.
bench_need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "$1 needs root (network namespaces): run it with sudo" >&2
    exit 1
  fi
}

# bench_need_plot: gnuplot (pngcairo) draws every PNG; installed when missing and root.
bench_need_plot() {
  install_missing gnuplot:gnuplot-nox || {
    echo "gnuplot is missing: the tables are printed, the plots are not drawn" >&2
    return 1
  }
}

# bench_cargo BENCH ARGS...: builds the release binary and runs one benchmark target
# (benches/BENCH.rs, harness = false) with ARGS; its stdout is the table.
bench_cargo() {
  local bench=$1
  shift
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install a Rust toolchain (rustup) first" >&2
    exit 1
  fi
  cargo bench --locked --quiet --bench "$bench" -- "$@"
}
