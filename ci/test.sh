#!/usr/bin/env bash
# Runs netverdict's whole test suite: unit, property, snapshot and local-cluster tests, then the
# real Kubernetes lane (ci/real-cluster.sh; NETVERDICT_LANE=0 skips it, saying so).
# Run as root on Debian (the local-cluster tests create network namespaces and nftables tables).
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/install-deps.sh
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast -- --test-threads="${NETVERDICT_TEST_THREADS:-4}"

if [ "${NETVERDICT_LANE:-1}" = 0 ]; then
  echo "real Kubernetes lane skipped: NETVERDICT_LANE=0"
else
  ./ci/real-cluster.sh
fi
