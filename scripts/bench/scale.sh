#!/usr/bin/env bash
# Benchmark 2 (BENCHMARKS.md "2. Scale on one router"): 5,000 clients with one IPv4 and two
# IPv6 addresses each appear on one router within a second (kernel neighbour entries and the
# frames they send), then leave. Prints what was run and the table: time until every host
# route and node-client IP is in the kernel, CPU, peak RSS, get_clients latency, the same for
# the leaving, and the daemon's counters; plots the routes in the kernel over time.
#
#   sudo ./scripts/bench/scale.sh [--clients N] [--spread-ms MS] [--max-clients M]
#                                 [--no-frames] [--no-leave] [--quick]
#
#   --clients N      clients (default 5000)
#   --spread-ms MS   they appear, and later leave, evenly spread over MS ms (default 1000)
#   --max-clients M  the daemon's --max-clients (default: N when above its own 4096)
#   --no-frames      clients appear through neighbour entries only
#   --no-leave       stop after the arrival
#   --quick          300 clients, no leaving: under a minute once the release build exists
#
# The full run takes about 3 minutes (the leaving waits for the daemon's 120 s removal
# delay). Changes no host-wide setting (benches/router/mod.rs says how). L3ROAMD_BIN=PATH runs
# that l3roamd. Writes into BENCH_OUT (default target/bench): scale.md (the table as
# printed), scale.tsv (routes and node-client IPs every 20 ms, arrival and leaving),
# scale-delays.tsv (per address), scale.png. The daemon's log of the last run stays in
# target/netns-logs/bench-scale/.
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/common.sh"

bench_help "$@"

bench_need_root "the scale benchmark"
install_missing "${BENCH_ROUTER_TOOLS[@]}" || exit 1
plot=1
bench_need_plot || plot=0

bench_cargo scale "$@" | tee "$BENCH_OUT/scale.md"

[ "$plot" = 1 ] || exit 0
data=$BENCH_OUT/scale.tsv
clients=$(sed -n 's/^clients\t//p' "$BENCH_OUT/scale-summary.tsv")
hold=$(sed -n 's/^removal_delay_s\t//p' "$BENCH_OUT/scale-summary.tsv")
blocks=$(grep -c '^# ms' "$data")
{
  echo "set terminal pngcairo size 800,480 font ',9'"
  echo "set output '$BENCH_OUT/scale.png'"
  echo "set key top left font ',8'"
  echo "set grid"
  echo "set ylabel 'objects in the kernel'"
  echo "set format y '%.0s%c'"
  if [ "$blocks" = 2 ]; then
    echo "set multiplot layout 1,2 title '$clients clients x 3 addresses on one router (sampled every 20 ms)'"
  else
    echo "set title '$clients clients x 3 addresses on one router (sampled every 20 ms)'"
  fi
  echo "set xlabel 'time since the first client appeared (ms)'"
  echo "plot '$data' index 0 using 1:2 with lines lw 2 title 'host routes (proto 158)', \\"
  echo "     '' index 0 using 1:4 with lines lw 2 title 'node-client IPs on lo'"
  if [ "$blocks" = 2 ]; then
    echo "set title 'leaving: entries FAILED, removal after ${hold} s' font ',9'"
    echo "set xlabel 'time since the first client failed (s)'"
    echo "set xrange [$((hold - 2)):*]"
    echo "plot '$data' index 1 using (\$1/1000):2 with lines lw 2 title 'host routes (proto 158)', \\"
    echo "     '' index 1 using (\$1/1000):3 with lines lw 2 title 'demoted routes (proto 159)', \\"
    echo "     '' index 1 using (\$1/1000):4 with lines lw 2 title 'node-client IPs on lo'"
    echo "unset multiplot"
  fi
} | gnuplot
echo "plot: $BENCH_OUT/scale.png"
