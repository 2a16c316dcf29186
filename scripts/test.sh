#!/usr/bin/env bash
# The whole test suite, as root: the host suite (every crate's unit, integration and doc
# tests against this kernel), then the VM suite (tests that need cgroup v2 controllers the
# host may not have), in one throw-away VM boot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --workspace
# The optional spawn tracing (feature `tracing`).
cargo test -p hutch --features tracing --test tracing
scripts/vm-tests.sh
