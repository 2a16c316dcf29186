#!/usr/bin/env bash
# Installs the Debian packages the test suite uses on the host, when they are missing:
#   iproute2  `ip netns` / `ip link` (netns persistence tests)
#   uidmap    newuidmap/newgidmap (multi-range user-namespace maps)
#   util-linux setpriv/unshare (running the suite's unprivileged checks)
#   python3   reads CLOCK_MONOTONIC inside a time namespace; makes raw system calls in the
#             escape and confinement tests
#   libcap2-bin getcap/setcap, the oracle for hutch-caps' file capabilities
#   nftables  nft, the oracle for hutch-netns' nf_tables rules
#   passt     pasta, rootless networking
#   libseccomp-dev the test oracle of hutch-seccomp's compiler (a dev-dependency only)
# The VM runner (scripts/run-in-vm.sh) installs its own packages.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v setpriv >/dev/null || need+=(util-linux)
[[ -x /usr/bin/python3 ]] || need+=(python3)
command -v setcap >/dev/null || need+=(libcap2-bin)
command -v nft >/dev/null || need+=(nftables)
command -v pasta >/dev/null || need+=(passt)
[[ -e /usr/include/seccomp.h ]] || need+=(libseccomp-dev)
if ((${#need[@]})); then
    echo "install-deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
