#!/usr/bin/env bash
# The whole test suite, as root: the host suite (every crate's unit, integration and doc
# tests against this kernel), then the VM suite (tests that need cgroup v2 controllers the
# host may not have), in one throw-away VM boot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace
# The optional spawn tracing (feature `tracing`), and the example's --debug timeline.
cargo test -p hutch --features tracing --test tracing
cargo test -p hutch --features tracing --test cli debug_prints_the_spawn_timeline
scripts/vm-tests.sh
