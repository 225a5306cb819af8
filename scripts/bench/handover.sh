#!/usr/bin/env bash
# Benchmark 1 (BENCHMARKS.md "1. Handover"): roams of an active and of a passive client, in
# IPv6 and in IPv4, in the namespace mesh of the end-to-end tests (three babeld routers with
# l3roamd, tests/netns/mesh.sh). Prints what was run and, per series, roams, failures and the
# traffic cut (min / median / p95 / max) against issue 8's targets; plots the timelines of each
# series' median roam and of its slowest successful one, and the distribution of the cuts.
#
#   sudo ./scripts/bench/handover.sh [--roams N] [--timeout S] [--clients K] [--period S] [--quick]
#
#   --roams N     roams per series (default 50: 200 roams, about 7 minutes)
#   --timeout S   a roam whose traffic is not back after S seconds has failed (default 10)
#   --clients K   clients taking turns, 1 to 9 (default 8); moves are 2 s apart
#   --period S    a client moves at least S seconds after its own previous move (default 16:
#                 babeld holds a client's old routes 15 s, and a client coming back sooner
#                 is announced faster than one that roams minutes apart)
#   --quick       3 roams per series: about a minute once the release build exists
#
# L3ROAMD_BIN=PATH runs that l3roamd instead of cargo's build, BABELD_BIN=PATH that babeld
# instead of the one on PATH. Writes into BENCH_OUT (default target/bench): handover.md (the
# table as printed), handover.tsv (every roam), handover-timeline.tsv (each series' median
# roam), handover-timeline-longest.tsv (its successful roam with the longest cut),
# handover-cdf.tsv, and their plots (.png). The daemons' and babeld's logs of the last run,
# and the routers' state at each failed roam, stay in target/netns-logs/bench-handover/.
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/common.sh"

bench_help "$@"

bench_need_root "the handover benchmark"
install_missing "${MESH_TOOLS[@]}" || exit 1
plot=1
bench_need_plot || plot=0

bench_cargo handover "$@" | tee "$BENCH_OUT/handover.md"

[ "$plot" = 1 ] || exit 0

# timeline_plot TSV PNG WHICH: one panel per series, each the server's echo replies during
# one roam (WHICH says which), titled by its block's comment line. The data file holds the
# measured ping interval, then one block per series in the bench's order.
timeline_plot() {
  local tsv=$1 png=$2 which=$3 interval i
  local -a titles
  mapfile -t titles < <(sed -n 's/^# \([a-z]* IPv[46]\)\(.*\)$/\1\2/p' "$tsv")
  interval=$(sed -n 's/^# interval_ms\t//p' "$tsv")
  if [ "${#titles[@]}" != 4 ] || [ -z "$interval" ]; then
    echo "handover.sh: $tsv does not hold the ping interval and four series" >&2
    return 1
  fi
  {
    echo "set terminal pngcairo size 800,540 font ',9'"
    echo "set output '$png'"
    echo "set multiplot layout 2,2 title 'Echo replies at the server around a roam: $which' font ',10'"
    echo "set xlabel 'time from the start of the move (ms)'"
    echo "set ylabel 'echo sequence number (0: last reply before)' font ',8'"
    echo "set xrange [-300:*]"
    echo "set key bottom right font ',8'"
    echo "set arrow 1 from 0, graph 0 to 0, graph 1 nohead dashtype 2 linecolor rgb 'red'"
    echo "set label 1 'move' at 10, graph 0.92 textcolor rgb 'red' font ',8'"
    for i in 0 1 2 3; do
      echo "set title \"${titles[i]}\" font ',9'"
      echo "plot x / $interval with lines dashtype 2 linecolor rgb '#999999' title 'requests sent (one per $interval ms)', \\"
      echo "  '$tsv' index $i using 1:2 with points pointtype 7 pointsize 0.35 linecolor rgb '#1f77b4' title 'echo reply'"
    done
    echo "unset multiplot"
  } | gnuplot
}

timeline_plot "$BENCH_OUT/handover-timeline.tsv" "$BENCH_OUT/handover-timeline.png" \
  "the median roam of each series"
timeline_plot "$BENCH_OUT/handover-timeline-longest.tsv" "$BENCH_OUT/handover-timeline-longest.png" \
  "the successful roam with the longest cut of each series"

gnuplot <<EOF
set terminal pngcairo size 800,480 font ',9'
set output '$BENCH_OUT/handover-cdf.png'
set title 'Traffic cut per roam: share of roams with a cut up to x' font ',10'
set xlabel 'cut: longest gap between echo replies at the server (ms)'
set ylabel 'share of the series'' roams'
set yrange [0:1.05]
set xrange [0:*]
set grid
set key left top
set arrow 1 from 400, graph 0 to 400, graph 1 nohead dashtype 2 linecolor rgb '#444444'
set label 1 'active target: median < 400 ms' at 410, graph 0.97 font ',8'
set arrow 2 from 1000, graph 0 to 1000, graph 1 nohead dashtype 2 linecolor rgb '#444444'
set label 2 'passive target: median < 1 s' at 990, graph 0.97 right font ',8'
plot '$BENCH_OUT/handover-cdf.tsv' index 0 using 1:2 with steps linewidth 2 title 'active IPv6', \\
  '' index 1 using 1:2 with steps linewidth 2 title 'active IPv4', \\
  '' index 2 using 1:2 with steps linewidth 2 dashtype 2 title 'passive IPv6', \\
  '' index 3 using 1:2 with steps linewidth 2 dashtype 2 title 'passive IPv4'
EOF
echo "plots: $BENCH_OUT/handover-timeline.png, $BENCH_OUT/handover-timeline-longest.png," \
  "$BENCH_OUT/handover-cdf.png" >&2
