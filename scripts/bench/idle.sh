#!/usr/bin/env bash
# Benchmark 3 (BENCHMARKS.md "3. Idle cost"): wake-ups and CPU of the daemon on one router
# with no client, then with 1,000 quiet clients (learned, then silent), for a measured period
# each. Prints what was run and the table; plots the wake-ups per 10 s of both periods.
#
#   sudo ./scripts/bench/idle.sh [--minutes M] [--clients N] [--quick]
#
#   --minutes M   length of each measured period (default 3: about 7 minutes in all)
#   --clients N   quiet clients of the second period (default 1000)
#   --quick       15 s periods, 100 clients: about a minute once the release build exists
#
# A wake-up is one voluntary context switch of the daemon (its only blocking call is its
# poll), read from /proc once a second. Changes no host-wide setting. L3ROAMD_BIN=PATH runs
# that l3roamd. Writes into BENCH_OUT (default target/bench): idle.md (the table as printed),
# idle.tsv (per 10 s: wake-ups, involuntary switches, CPU, kernel neighbour notifications),
# idle.png. The daemon's log of the last run stays in target/netns-logs/bench-idle/.
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/common.sh"

bench_help "$@"

bench_need_root "the idle benchmark"
install_missing "${BENCH_ROUTER_TOOLS[@]}" || exit 1
plot=1
bench_need_plot || plot=0

bench_cargo idle "$@" | tee "$BENCH_OUT/idle.md"

[ "$plot" = 1 ] || exit 0
data=$BENCH_OUT/idle.tsv
mapfile -t names < <(sed -n 's/^# \([^p].*\)$/\1/p' "$data")
gnuplot <<GNUPLOT
set terminal pngcairo size 800,480 font ',9'
set output '$BENCH_OUT/idle.png'
set title 'l3roamd at idle: wake-ups per 10 s (voluntary context switches)'
set xlabel 'time since the period began (s)'
set ylabel 'per 10 s'
set key top right font ',8'
set grid
set yrange [0:*]
plot '$data' index 0 using 1:2 with steps lw 2 title 'wake-ups, ${names[0]}', \
     '' index 1 using 1:2 with steps lw 2 title 'wake-ups, ${names[1]}', \
     '' index 1 using 1:5 with impulses lw 1 dashtype 2 title 'kernel neighbour notifications, ${names[1]}'
GNUPLOT
echo "plot: $BENCH_OUT/idle.png"
