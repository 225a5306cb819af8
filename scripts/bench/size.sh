#!/usr/bin/env bash
# Benchmark 5: what l3roamd costs in a router's flash. Builds the static musl binaries and
# prints their sizes, stripped and compressed as firmware images store them (xz for the
# squashfs root, gzip for the .ipk package), as a Markdown table; writes size.md, size.tsv and
# size.png into BENCH_OUT.
#
#   ./scripts/bench/size.sh
#
# Rows:
# - x86_64-unknown-linux-musl, Cargo.toml's release profile on the stable toolchain (the
#   target's std is installed with rustup when missing);
# - mipsel-unknown-linux-musl, the router build of scripts/mipsel.sh (nightly -Z build-std,
#   immediate-abort panics, non-PIC); where nightly is missing the row says so;
# - x86_64-unknown-linux-gnu, the same release profile linked dynamically against glibc,
#   for comparison with what `cargo build --release` gives on a desktop.
# shellcheck source=scripts/bench/common.sh
. "$(dirname "$0")/common.sh"
bench_help "$@"

target_dir=${CARGO_TARGET_DIR:-target}
rows=()

# measure NAME LABEL BINARY STRIP: one row of stripped, xz -9e and gzip -9 sizes; NAME is
# the plot's short label.
measure() {
  local name=$1 label=$2 bin=$3 strip=$4 stripped="$BENCH_OUT/.size-$RANDOM"
  "$strip" -o "$stripped" "$bin"
  local size xz_size gz_size
  size=$(stat -c %s "$stripped")
  xz_size=$(xz -9e -c "$stripped" | wc -c)
  gz_size=$(gzip -9 -c "$stripped" | wc -c)
  rm -f "$stripped"
  rows+=("$name	$label	$size	$xz_size	$gz_size")
}

if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  echo "installing the x86_64-unknown-linux-musl standard library (rustup)" >&2
  rustup target add x86_64-unknown-linux-musl >&2 || true
fi
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  cargo build --release --locked --quiet --target x86_64-unknown-linux-musl
  measure x86_64-musl "x86_64-musl, release profile (stable)" \
    "$target_dir/x86_64-unknown-linux-musl/release/l3roamd" strip
else
  echo "x86_64-musl: skipped, rustup could not install its standard library" >&2
fi

mipsel_log=$(mktemp)
trap 'rm -f "$mipsel_log"' EXIT
if ./scripts/mipsel.sh --no-tests >"$mipsel_log" 2>&1; then
  mipsel_bin="$target_dir/mipsel-unknown-linux-musl/release/l3roamd"
  if [ -f "$mipsel_bin" ] && ! grep -q '^mipsel: skipped' "$mipsel_log"; then
    measure mipsel-musl "mipsel-musl, router build (nightly)" "$mipsel_bin" mipsel-linux-gnu-strip
  else
    grep '^mipsel:' "$mipsel_log" >&2
  fi
else
  tail -n 20 "$mipsel_log" >&2
  echo "mipsel: the router build failed" >&2
  exit 1
fi

cargo build --release --locked --quiet
measure x86_64-gnu "x86_64-gnu, release profile (dynamic glibc)" "$target_dir/release/l3roamd" strip

{
  echo "| binary | stripped | xz -9e | gzip -9 |"
  echo "| --- | ---: | ---: | ---: |"
  for row in "${rows[@]}"; do
    IFS=$'\t' read -r _ label size xz_size gz_size <<<"$row"
    printf '| %s | %s B (%s KiB) | %s B (%s KiB) | %s B (%s KiB) |\n' "$label" \
      "$size" "$((size / 1024))" "$xz_size" "$((xz_size / 1024))" "$gz_size" "$((gz_size / 1024))"
  done
} >"$BENCH_OUT/size.md"
printf '%s\n' "name	binary	stripped	xz	gzip" "${rows[@]}" >"$BENCH_OUT/size.tsv"

echo "# l3roamd $(git describe --always --dirty 2>/dev/null || echo '(no git)'), $(rustc --version)"
cat "$BENCH_OUT/size.md"

if bench_need_plot; then
  gnuplot <<EOF
set terminal pngcairo size 800,420 font "sans,10"
set output "$BENCH_OUT/size.png"
set title "l3roamd binary size"
set ylabel "KiB"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key below
set yrange [0:*]
set datafile separator "\t"
set xtics noenhanced
set key noenhanced
plot "$BENCH_OUT/size.tsv" every ::1 using (\$3/1024):xtic(1) title "stripped", \
     "" every ::1 using (\$4/1024) title "xz -9e", \
     "" every ::1 using (\$5/1024) title "gzip -9"
EOF
  echo
  echo "plot: $BENCH_OUT/size.png"
fi
