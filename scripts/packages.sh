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
# test, a C compiler for the layout test, python3 for the reference
# formats.
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
  command -v python3 >/dev/null || echo python3
  # The open-session tests' real servers (each test starts its own on a test
  # port in a temp dir and stops it), and tmux for the --top view.
  { command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; } || echo redis-server
  { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null; } || echo postgresql
  command -v tmux >/dev/null || echo tmux
}

# apt_install WHO PACKAGE...: installs them (root only), saying so on stderr.
# Some packages (prometheus) start a service of their own on install: while
# apt runs, a policy-rc.d (invoke-rc.d(8)'s policy hook, which
# deb-systemd-invoke honours too) refuses every start, and afterwards the
# one that was there before, or none, is put back. So nothing starts that
# was not running, and nothing the user had is stopped, disabled or changed.
#
# The user's own policy (a container image often has one; it may be a
# symlink, even a dangling one) is never written through nor copied: it is
# renamed aside in its directory (POLICY.tcpstates-saved) and renamed back,
# so it returns exactly as it was, link or file, target untouched. Ours is
# written beside it and renamed into place.
apt_install() {
  local who="$1"
  shift
  [ "$#" -gt 0 ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: missing packages: $*; run as root (or: sudo apt-get install $*)" >&2
    return 1
  fi
  echo "$who: installing $*" >&2
  local policy="${TCPSTATES_POLICY_RC_D:-/usr/sbin/policy-rc.d}"
  local saved="$policy.tcpstates-saved" ours="$policy.tcpstates-new"
  # A run killed outright (SIGKILL) left things as they were during its
  # install: put them back before anything else.
  restore_policy "$policy"
  if [ -e "$policy" ] || [ -L "$policy" ]; then mv -fT -- "$policy" "$saved"; fi
  # shellcheck disable=SC2064 # the path is fixed now
  trap "restore_policy '$policy'" EXIT INT TERM
  rm -f -- "$ours"
  printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" >"$ours"
  chmod 755 "$ours"
  mv -fT -- "$ours" "$policy"
  local status=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } || status=$?
  restore_policy "$policy"
  trap - EXIT INT TERM
  return "$status"
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
