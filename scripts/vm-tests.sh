#!/bin/bash
# vm-tests.sh - build the `vm` integration tests of every workspace package that has one
# (feature `vm-tests`) and run them all inside ONE throw-away QEMU VM with a full cgroup
# v2 hierarchy (scripts/run-in-vm.sh). Exits non-zero if any test binary fails.
#
#   scripts/vm-tests.sh [EXTRA LIBTEST ARGS...]     e.g. scripts/vm-tests.sh oom
#
# Needs root (the VM runner exports / over 9p) and installs, when missing:
#   qemu-system-x86 linux-image-amd64 busybox-static kmod iproute2 xz-utils cpio
# (about 90 s of apt on a fresh machine), and apparmor (apparmor_parser, for the AppArmor test:
# the VM's root file system is the host's). Environment: VM_* knobs of run-in-vm.sh;
# VM_TEST_THREADS (default 1) is passed as --test-threads.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
if ! command -v apparmor_parser >/dev/null; then
    echo "vm-tests: installing apparmor (apparmor_parser)" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends apparmor; } >&2
fi
command -v python3 >/dev/null || { echo "vm-tests: python3 is needed to read cargo's JSON" >&2; exit 2; }

# Test targets named `vm` or `vm_*` of every package (found through cargo metadata, not
# hard-coded), as "package target" lines.
mapfile -t TARGETS < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        if "test" in t["kind"] and (t["name"] == "vm" or t["name"].startswith("vm_")):
            print(p["name"], t["name"])')
if [[ ${#TARGETS[@]} -eq 0 ]]; then
    echo "vm-tests: no package has a \`vm\` test target" >&2
    exit 2
fi

OUT=$ROOT/target/vm-tests
mkdir -p "$OUT"
: >"$OUT/binaries"
for line in "${TARGETS[@]}"; do
    read -r pkg target <<<"$line"
    echo "vm-tests: building the $target tests of $pkg" >&2
    cargo test -p "$pkg" --features vm-tests --test "$target" --no-run --message-format=json \
        | T="$target" python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == os.environ["T"] and "test" in m["target"]["kind"]:
        print(m["executable"])' >>"$OUT/binaries"
done
mapfile -t BINS <"$OUT/binaries"
if [[ ${#BINS[@]} -ne ${#TARGETS[@]} ]]; then
    echo "vm-tests: expected ${#TARGETS[@]} test binaries, got ${#BINS[@]}: ${BINS[*]}" >&2
    exit 2
fi

# The script that runs inside the VM: every binary in turn, then one summary line.
cat >"$OUT/guest.sh" <<'GUEST'
#!/bin/bash
threads=${VM_TEST_THREADS:-1}
passed=0 failed=0 bad=0
while read -r bin; do
    echo "==== $bin"
    log=$(mktemp)
    "$bin" --test-threads="$threads" --show-output "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [[ $(grep -E '^test result:' "$log" | tail -1) =~ ([0-9]+)\ passed\;\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
    fi
    [[ $rc == 0 ]] || bad=$((bad + 1))
    rm -f "$log"
done <"$VM_TESTS_LIST"
echo "vm: $passed passed, $failed failed"
[[ $bad == 0 && $failed == 0 ]]
GUEST
chmod +x "$OUT/guest.sh"

# The guest's /tmp is a fresh tmpfs: a checkout under the host's /tmp (CI clones may live
# there) must be shared explicitly to be visible inside.
case "$ROOT/" in
/tmp/*) export VM_SHARE_RW="${VM_SHARE_RW:+$VM_SHARE_RW }$ROOT" ;;
esac

export VM_TESTS_LIST=$OUT/binaries
export VM_MODULES="${VM_MODULES:-loop}"
exec "$ROOT/scripts/run-in-vm.sh" "$OUT/guest.sh" "$@"
