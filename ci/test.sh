#!/usr/bin/env bash
# Runs netverdict's whole test suite: unit, property, snapshot and local-cluster tests.
# Run as root on Debian (the local-cluster tests create network namespaces and nftables tables).
#
# Tests run the pinned kubectl that ci/kubectl.sh installs, named by NETVERDICT_KUBECTL.
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/install-deps.sh
NETVERDICT_KUBECTL=$(./ci/kubectl.sh)
export NETVERDICT_KUBECTL
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast -- --test-threads="${NETVERDICT_TEST_THREADS:-4}"
