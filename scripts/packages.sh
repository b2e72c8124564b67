# Sourced by scripts/setup and scripts/setup-tests: what each needs, and
# one way to install what is missing (Debian/Ubuntu's apt). Not run alone.

# The callers run under `set -o pipefail`, so no check pipes a command into
# `grep -q`: grep exits at the first match, the writer still writing gets
# SIGPIPE (exit 141), and the pipeline fails although the match was found
# (ldconfig -p's 45 kB did so in about 1% of runs). Outputs are captured
# whole, then matched.

# dpkg_installed PACKAGE: whether dpkg has it installed (for packages
# known by their files rather than by a command).
dpkg_installed() {
  case "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" in
    *' ok installed') return 0 ;;
    *) return 1 ;;
  esac
}

# has_library SONAME: whether the dynamic linker's cache has it.
has_library() {
  case "$(ldconfig -p 2>/dev/null)" in
    *"$1 "*) return 0 ;;
    *) return 1 ;;
  esac
}

# What building and running the tools needs: clang, llvm-strip and bpftool
# build the BPF object (bpftool for vmlinux.h), libbpf's headers and
# library, make; node and npm are the user's.
run_packages_missing() {
  command -v clang >/dev/null || echo clang
  command -v llvm-strip >/dev/null || echo llvm
  command -v bpftool >/dev/null || echo bpftool
  command -v make >/dev/null || echo make
  dpkg_installed libbpf-dev || echo libbpf-dev
  has_library libbpf.so.1 || echo libbpf1
}

# What only the tests need: libbpf-tools for the differential tests and the
# name-clash test (its /usr/sbin/tcpstates), sudo for that test, groff and
# man-db for the man pages' test, a real Prometheus and promtool, ip (netns)
# and iptables for the container tests, systemd-analyze for the unit's
# test, a C compiler and the C library's headers (gcc only recommends them)
# for the layout test, python3 for the reference formats, ps for the tmux
# harness.
test_packages_missing() {
  dpkg_installed libbpf-tools || echo libbpf-tools
  command -v sudo >/dev/null || echo sudo
  command -v groff >/dev/null || echo groff-base
  command -v man >/dev/null || echo man-db
  { command -v prometheus >/dev/null && command -v promtool >/dev/null; } || echo prometheus
  command -v ip >/dev/null || echo iproute2
  command -v iptables >/dev/null || echo iptables
  command -v systemd-analyze >/dev/null || echo systemd
  command -v cc >/dev/null || echo gcc
  dpkg_installed libc6-dev || echo libc6-dev
  command -v python3 >/dev/null || echo python3
  # The open-session tests' real servers (each test starts its own on a test
  # port in a temp dir and stops it), and tmux for the --top view.
  { command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; } || echo redis-server
  { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null; } || echo postgresql
  command -v tmux >/dev/null || echo tmux
  command -v ps >/dev/null || echo procps
}

# apt_install WHO PACKAGE...: installs them (root only), saying so on stderr:
# the packages named and what they depend on, nothing they only recommend
# (--no-install-recommends: prometheus would bring prometheus-node-exporter
# and its timers, systemd a time daemon). Then what the install did to the
# machine's services is undone, and nothing else is touched:
#
# - Started: none. Some packages (prometheus, redis-server, postgresql)
#   start their service on install: while apt runs, a policy-rc.d
#   (invoke-rc.d(8)'s policy hook, which deb-systemd-invoke honours too)
#   refuses every start, and afterwards the one that was there before, or
#   none, is put back. The user's own policy (a container image often has
#   one; it may be a symlink, even a dangling one) is never written through
#   nor copied: it is renamed aside in its directory
#   (POLICY.tcpstates-saved) and renamed back, so it returns exactly as it
#   was. Ours is written beside it and renamed into place.
# - Enabled at boot: none. Debian enables a new package's units (the
#   links in /etc/systemd/system and its *.wants/ *.requires/ *.upholds/
#   directories, made by deb-systemd-helper, with or without a running
#   systemd). Every such link that the install added is undone with
#   `systemctl disable`, which works without a running systemd (it then
#   edits the links itself) and also disables the SysV rc links; a link
#   still there after it (no systemctl, say) is removed. The units are named
#   on stderr. Without /etc/systemd/system there is nothing to do.
#
# Units that were enabled before, and services that were running, are left
# as they were. TCPSTATES_ROOT (tests only): a directory standing for /,
# for policy-rc.d, /etc/systemd/system and systemctl --root.
apt_install() {
  local who="$1"
  shift
  [ "$#" -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: missing packages: $*; run as root (or: sudo apt-get install --no-install-recommends $*)" >&2
    return 1
  fi
  echo "$who: installing $*" >&2
  APT_WHO="$who"
  APT_ROOT="${TCPSTATES_ROOT:-}"
  APT_POLICY="$APT_ROOT/usr/sbin/policy-rc.d"
  APT_UNITS="$APT_ROOT/etc/systemd/system"
  # A run killed outright (SIGKILL) left things as they were during its
  # install: put them back before anything else.
  restore_policy "$APT_POLICY"
  mapfile -t APT_LINKS_BEFORE < <(enablement_links "$APT_UNITS")
  if [ -e "$APT_POLICY" ] || [ -L "$APT_POLICY" ]; then mv -fT -- "$APT_POLICY" "$APT_POLICY.tcpstates-saved"; fi
  trap after_install EXIT INT TERM
  rm -f -- "$APT_POLICY.tcpstates-new"
  printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" >"$APT_POLICY.tcpstates-new"
  chmod 755 "$APT_POLICY.tcpstates-new"
  mv -fT -- "$APT_POLICY.tcpstates-new" "$APT_POLICY"
  local status=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; } || status=$?
  after_install
  trap - EXIT INT TERM
  return "$status"
}

# after_install: the user's policy back, and the units the install enabled
# disabled. Also the trap's, so it may run twice: the second does nothing.
after_install() {
  restore_policy "$APT_POLICY"
  disable_new_units
}

# enablement_links DIR: the symlinks in DIR and in its *.wants, *.requires
# and *.upholds directories (what enabling a unit makes), masks aside.
enablement_links() {
  local link
  for link in "$1"/* "$1"/*.wants/* "$1"/*.requires/* "$1"/*.upholds/*; do
    if [ -L "$link" ] && [ "$(readlink -- "$link")" != /dev/null ]; then printf '%s\n' "$link"; fi
  done
}

# unit_of LINK: the unit an enablement link stands for. A dependency link
# is named after its unit; an alias points to it.
unit_of() {
  local target
  case "${1%/*}" in
    *.wants | *.requires | *.upholds) target="$1" ;;
    *) target="$(readlink -- "$1")" ;;
  esac
  printf '%s\n' "${target##*/}"
}

# disable_new_units: undoes the links that appeared since APT_LINKS_BEFORE
# was taken (see apt_install): the units that had none before are disabled
# with systemctl; of a unit enabled before (an upgrade may add a link to
# it), only the new links go, so that it stays enabled as it was.
disable_new_units() {
  local -A had=() enabled=() named=()
  local link unit
  local -a new=() units=()
  for link in "${APT_LINKS_BEFORE[@]}"; do
    had["$link"]=1
    enabled["$(unit_of "$link")"]=1
  done
  while IFS= read -r link; do
    [ -z "${had["$link"]:-}" ] || continue
    new+=("$link")
    unit="$(unit_of "$link")"
    if [ -z "${enabled["$unit"]:-}" ] && [ -z "${named["$unit"]:-}" ]; then
      named["$unit"]=1
      units+=("$unit")
    fi
  done < <(enablement_links "$APT_UNITS")
  [ "${#new[@]}" -gt 0 ] || return 0
  if [ "${#units[@]}" -gt 0 ]; then
    echo "$APT_WHO: disabling at boot what the install enabled (Debian enables a new package's units; none was started): ${units[*]}" >&2
    if command -v systemctl >/dev/null; then
      systemctl ${APT_ROOT:+"--root=$APT_ROOT"} disable --quiet -- "${units[@]}" >&2 || true
    fi
  fi
  for link in "${new[@]}"; do
    if [ -L "$link" ]; then rm -f -- "$link"; fi
  done
}

# The second line of the policy apt_install puts in place: a policy-rc.d
# with it is ours.
POLICY_MARK='# scripts/packages.sh: no service starts while packages install (exit 101: action forbidden)'

# restore_policy POLICY: the user's policy back from POLICY.tcpstates-saved
# (a rename, replacing ours), or, when there was none, ours removed. Does
# nothing when neither is there, so running it twice is harmless.
restore_policy() {
  local policy="$1"
  rm -f -- "$policy.tcpstates-new"
  if [ -e "$policy.tcpstates-saved" ] || [ -L "$policy.tcpstates-saved" ]; then
    mv -fT -- "$policy.tcpstates-saved" "$policy"
  elif [ -f "$policy" ] && [ ! -L "$policy" ] && grep -qxF -- "$POLICY_MARK" "$policy"; then
    rm -f -- "$policy"
  fi
}
