#!/usr/bin/env bash
# A static mipsel-musl l3roamd, the CPU of most Freifunk routers, built as
# ../shared/cross/mipsel.md describes (real router images come from the OpenWrt SDK, see
# openwrt/): builds it, runs `l3roamd -V` and `-h` and the unit tests under qemu-mipsel, and
# prints the stripped and xz-compressed sizes.
#
#   scripts/mipsel.sh            build, run under qemu, print sizes
#   scripts/mipsel.sh --no-tests build and sizes only
#   scripts/mipsel.sh [--no-tests] CARGO-ARGS...   e.g. --no-default-features
#
# The target is tier 3: its standard library is built from source by the nightly toolchain
# (`-Z build-std`), which needs rust-src. Where nightly or rust-src cannot be had, the script
# says so in one line and exits 0; anything that fails after that is a failure. As root on
# Debian it installs the mipsel musl, the cross gcc (used as linker only) and qemu-user.
#
# Environment: MIPSEL_MAX_BYTES (default 430000): a stripped binary larger than this fails,
# a guard against size regressions; the goal of 350 KiB is reported beside the size (see the
# README, "Size"). CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

run_tests=1
if [ "${1:-}" = "--no-tests" ]; then
  run_tests=0
  shift
fi

target=mipsel-unknown-linux-musl
max_bytes=${MIPSEL_MAX_BYTES:-430000}
goal_bytes=358400
musl=/usr/lib/mipsel-linux-musl

say() { echo "mipsel: $*"; }

if ! cargo +nightly --version >/dev/null 2>&1; then
  say "skipped: no nightly toolchain here; mipsel-unknown-linux-musl is tier 3 and its std is built with nightly's -Z build-std"
  exit 0
fi
if ! rustup component add rust-src --toolchain nightly >/dev/null 2>&1; then
  say "skipped: the nightly toolchain cannot install rust-src here, which -Z build-std needs"
  exit 0
fi

if [ ! -f "$musl/libc.a" ] || ! command -v mipsel-linux-gnu-gcc >/dev/null 2>&1 ||
  ! command -v qemu-mipsel-static >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing musl-dev:mipsel, gcc-mipsel-linux-gnu or qemu-user-static (install them as root)" >&2
    exit 1
  fi
  say "installing musl-dev:mipsel gcc-mipsel-linux-gnu qemu-user-static"
  dpkg --add-architecture mipsel
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    musl-dev:mipsel gcc-mipsel-linux-gnu binutils-mipsel-linux-gnu qemu-user-static xz-utils >/dev/null
fi

target_dir=${CARGO_TARGET_DIR:-target}
support="$target_dir/mipsel-support"
mkdir -p "$support"
support=$(cd "$support" && pwd)
# std links libunwind, and gcc's libgcc_eh.a serves under that name. It finds a frame's
# unwind tables through _dl_find_object, a glibc function musl lacks: this one answers from
# musl's dl_iterate_phdr (the release build never unwinds; the test build must, so that a
# failing test reports instead of aborting the run). The layout is glibc's on 32-bit MIPS.
cp "$(mipsel-linux-gnu-gcc -print-file-name=libgcc_eh.a)" "$support/libunwind.a"
cat >"$support/dlstub.c" <<'C'
#include <link.h>
#include <stdint.h>
struct dl_find_object {
  unsigned long long dlfo_flags;
  void *dlfo_map_start, *dlfo_map_end, *dlfo_link_map, *dlfo_eh_frame;
  unsigned long long reserved[7];
};
struct search { uintptr_t pc; struct dl_find_object *result; };
static int visit(struct dl_phdr_info *info, size_t size, void *data) {
  struct search *s = data;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  void *eh = 0;
  int inside = 0;
  (void)size;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
    if (ph->p_type == PT_LOAD) {
      if (start < lo) lo = start;
      if (end > hi) hi = end;
      if (s->pc >= start && s->pc < end) inside = 1;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh = (void *)start;
    }
  }
  if (!inside || !eh) return 0;
  s->result->dlfo_flags = 0;
  s->result->dlfo_map_start = (void *)lo;
  s->result->dlfo_map_end = (void *)hi;
  s->result->dlfo_link_map = 0;
  s->result->dlfo_eh_frame = eh;
  return 1;
}
int _dl_find_object(void *pc, struct dl_find_object *result) {
  struct search s = { (uintptr_t)pc, result };
  return dl_iterate_phdr(visit, &s) ? 0 : -1;
}
C
mipsel-linux-gnu-gcc -Os -nostdinc -isystem /usr/include/mipsel-linux-musl -isystem "$(mipsel-linux-gnu-gcc -print-file-name=include)" -c "$support/dlstub.c" -o "$support/dlstub.o"
rm -f "$support/libdlstub.a"
mipsel-linux-gnu-ar rcs "$support/libdlstub.a" "$support/dlstub.o"

# gcc is the linker only: musl's start files by hand, none of gcc's, nothing of glibc.
export CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_MUSL_LINKER=mipsel-linux-gnu-gcc
export CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_MUSL_RUNNER=qemu-mipsel-static
link_flags="-C target-feature=+crt-static -C link-self-contained=no -L $musl -L $support \
 -Z pre-link-arg=-nostartfiles -Z pre-link-arg=$musl/crt1.o -Z pre-link-arg=$musl/crti.o \
 -C link-arg=$musl/crtn.o -C link-arg=-lgcc -C link-arg=-ldlstub"
# The unwinder runs its one-time set-up through a weak pthread_once, which nothing else
# pulls out of the static libc: without this the test build jumps to address 0 on a panic.
test_flags="-C link-arg=-Wl,-u,pthread_once"
# The router profile is Cargo.toml's release profile (opt-level z, LTO, one codegen unit,
# stripped) with, for a static binary that never unwinds:
# - panics that abort on the spot instead of formatting a message: std's panic and
#   backtrace machinery is most of a small binary (../shared/cross/mipsel.md);
# - std itself built for size (smaller sorts and formatting);
# - non-PIC code: a static executable needs no GOT, and MIPS PIC calls cost three
#   instructions and a GOT entry each (-66 KB);
# - no unwind tables (-55 KB), and 4 KiB rather than 64 KiB segment alignment in the file.
size_flags="-C relocation-model=static -C force-unwind-tables=no \
 -C link-arg=-Wl,--no-eh-frame-hdr -C link-arg=-Wl,-z,max-page-size=4096"
build=(cargo +nightly build --release --locked --target "$target"
  -Z "build-std=std,panic_abort" -Z build-std-features=optimize_for_size -Z panic-immediate-abort
  --config 'profile.release.panic="immediate-abort"' "$@")
say "${build[*]}"
CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_MUSL_RUSTFLAGS="$link_flags $size_flags" "${build[@]}"
bin="$target_dir/$target/release/l3roamd"

file "$bin" | sed 's/^/mipsel: /'
say "$(qemu-mipsel-static "$bin" -V)"
qemu-mipsel-static "$bin" -h >"$support/help.txt"
grep -q -- '--key-file' "$support/help.txt" || {
  say "l3roamd -h under qemu printed no flag table" >&2
  exit 1
}
say "l3roamd -h: $(wc -l <"$support/help.txt") lines"

if [ "$run_tests" = 1 ]; then
  # Unit tests and the pure (no kernel) test files, in the default test profile: panics
  # unwind there so that a failing assertion reports instead of killing the run. qemu-user
  # translates only part of netlink: no generic netlink (nl80211), and neighbour and bridge
  # FDB dump requests fail with EOPNOTSUPP, so the two unit tests that send those to the
  # kernel are left out (the kernel tests under tests/ cover them natively). The `binary_`
  # tests of tests/cli.rs start the daemon binary, which a process inside qemu-user cannot
  # exec without binfmt_misc: the script runs the binary under qemu itself, above.
  say "unit tests under qemu-mipsel"
  CARGO_TARGET_MIPSEL_UNKNOWN_LINUX_MUSL_RUSTFLAGS="$link_flags $test_flags" \
    cargo +nightly test --locked --no-fail-fast --target "$target" -Z build-std \
    --lib --test wire_vectors --test wire_props --test control_vectors --test cli \
    --test engine_timeline --test engine_auth --test sans_io \
    -- --skip sys::nl80211::tests::resolve_against_the_kernel \
    --skip sys::rtnl::tests::a_dump_batch_runs_its_steps_one_at_a_time_and_ends_once \
    --skip binary_ 2>&1 |
    tee "$support/tests.log" | grep -E '^(test result|error|failures|---- )' || true
  if grep -qE '^test result: FAILED|^error' "$support/tests.log" ||
    ! grep -q '^test result: ok' "$support/tests.log"; then
    say "tests under qemu failed: $support/tests.log" >&2
    exit 1
  fi
  say "tests: $(awk '/^test result:/ { p += $4 } END { print p }' "$support/tests.log") passed under qemu-mipsel"
fi

stripped="$support/l3roamd.stripped"
mipsel-linux-gnu-strip -o "$stripped" "$bin"
size=$(stat -c %s "$stripped")
xz_size=$(xz -9e -c "$stripped" | wc -c)
say "stripped: $size bytes ($((size / 1024)) KiB), xz -9e: $xz_size bytes ($((xz_size / 1024)) KiB)"
if [ "$size" -gt "$goal_bytes" ]; then
  say "goal 350 KiB: $(((size - goal_bytes) / 1024)) KiB over"
else
  say "goal 350 KiB: met, $(((goal_bytes - size) / 1024)) KiB to spare"
fi
if [ "$size" -gt "$max_bytes" ]; then
  say "stripped binary is larger than $max_bytes bytes" >&2
  exit 1
fi
