#!/usr/bin/env bash
# Benchmark 4 (BENCHMARKS.md "4. Simulation at scale"): 1,000 nodes, 20,000 clients and
# 10,000 roams in the in-process simulator (tests/sim/mod.rs), in virtual time. No root needed.
#
#   scripts/bench/simulation.sh [--quick] [--nodes N] [--clients N] [--roams N] [--seeks N]
#                               [--seed N] [--roam-interval-ms N] [--loss-permille N]
#
# --quick: 200 nodes, 4,000 clients, 1,000 roams, 100 SEEK targets (seconds instead of about
# a minute). Prints the tables as Markdown and writes into $BENCH_OUT: simulation.md (the
# tables), simulation.tsv (one line per roam), simulation-packets.tsv, simulation-cpu.tsv,
# simulation-seeks.tsv, and the plots simulation-packets.png and simulation-cpu.png.
# shellcheck source=scripts/bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench_help "$@"

plot=0
if bench_need_plot >&2; then
  plot=1
fi

table=$(mktemp)
trap 'rm -f "$table"' EXIT
# The release build is what operators run; cargo's own chatter goes to stderr.
bench_cargo simulation --out "$BENCH_OUT" "$@" >"$table"

{
  echo "## Simulation at scale"
  echo
  echo "command: \`scripts/bench/simulation.sh${*:+ $*}\`; l3roamd $(git describe --always --dirty 2>/dev/null || echo '(no git)'), cargo bench (release profile)"
  echo "tools: $(rustc --version), $(gnuplot --version 2>/dev/null || echo 'no gnuplot'); $(uname -sr), $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1))"
  echo
  cat "$table"
} | tee "$BENCH_OUT/simulation.md"

[ "$plot" = 1 ] || exit 0

gnuplot <<EOF
set terminal pngcairo size 800,480 font "sans,10"
set datafile separator "\t"
set output "$BENCH_OUT/simulation-packets.png"
set title "Intercom datagrams per roam (CLAIM + INFO + ACK about the roaming client)"
set xlabel "datagrams in one roam"
set ylabel "roams (log scale)"
set logscale y
set yrange [0.8:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
plot "$BENCH_OUT/simulation-packets.tsv" using 2:xtic(1) title "active roams", \
     "" using 3 title "passive roams"
EOF

gnuplot <<EOF
set terminal pngcairo size 800,480 font "sans,10"
set datafile separator "\t"
set termoption noenhanced
set output "$BENCH_OUT/simulation-cpu.png"
set title "Engine CPU per event by kind: time inside handle_input/handle_timeout (labels: events)"
set ylabel "µs per event (log scale)"
set rmargin 8
set logscale y
set yrange [0.01:*]
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by -35 left
set bmargin 7
set key off
plot "$BENCH_OUT/simulation-cpu.tsv" using 0:(\$3/1000):xtic(1) with boxes, \
     "" using 0:(\$3/1000):(gprintf("%.1s%c", \$2)) with labels offset 0,0.8 font "sans,8"
EOF
echo "plots: $BENCH_OUT/simulation-packets.png $BENCH_OUT/simulation-cpu.png" >&2
