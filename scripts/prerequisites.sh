# shellcheck shell=bash
# Sourced by scripts/demo.sh, scripts/test.sh and scripts/bench/*.sh: what the namespace mesh
# and the tests need, and one way to install what is missing on a fresh Debian machine.

# command:package pairs the namespace mesh (tests/netns/mesh.sh) and babeld need: the demo,
# the handover benchmark and the end-to-end tests. With BABELD_BIN (mesh.sh runs that babeld)
# Debian's babeld is not needed.
# shellcheck disable=SC2034 # used by the scripts that source this file
MESH_TOOLS=(ip:iproute2 bridge:iproute2 ping:iputils-ping sysctl:procps stdbuf:coreutils
  flock:util-linux setsid:util-linux awk:mawk)
[ -n "${BABELD_BIN:-}" ] || MESH_TOOLS+=(babeld:babeld)
# What the rest of the test suite adds: mandoc and groff lint doc/l3roamd.8 (tests/cli.rs);
# busybox (OpenWrt's shell), socat and shellcheck run and check the OpenWrt init script
# (tests/openwrt_init.rs).
# shellcheck disable=SC2034
TEST_TOOLS=(mandoc:mandoc groff:groff-base busybox:busybox socat:socat shellcheck:shellcheck)

# install_missing PAIR...: install the packages of the commands not found. Returns 1 (after
# saying what is missing) when that is impossible: not root, or no apt-get. Debian's babeld
# package starts no daemon of its own while /etc/babeld.conf names no interface (its default).
install_missing() {
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  [ "${#need[@]}" -gt 0 ] || return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: ${need[*]} (install them as root)" >&2
    return 1
  fi
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
