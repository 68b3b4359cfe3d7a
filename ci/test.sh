#!/usr/bin/env bash
# Runs netverdict's whole test suite: unit, property, snapshot and local-cluster tests, the same
# test binaries again as the unprivileged user nobody (ci/test-as-user.sh), then the
# real Kubernetes lane (ci/real-cluster.sh) and the fresh-machine check (ci/fresh-root.sh: the
# README's two commands in a fresh debootstrap root).
# Run as root on Debian (the local-cluster tests create network namespaces and nftables tables).
#
# Tests run the pinned kubectl that ci/kubectl.sh installs, named by NETVERDICT_KUBECTL, and
# check SARIF against the official schema that ci/sarif-schema.sh fetches (NETVERDICT_SARIF_SCHEMA)
# and the CI recipes (ci/recipes/) with the pinned actionlint of ci/actionlint.sh
# (NETVERDICT_ACTIONLINT) and GitLab's CI schema of ci/gitlab-ci-schema.sh
# (NETVERDICT_GITLAB_CI_SCHEMA); the runs as user nobody get the same variables.
# NETVERDICT_LANE=0 skips the lane and NETVERDICT_FRESH_ROOT=0 the fresh-machine check, saying so. Inside the fresh root
# NETVERDICT_IN_FRESH_ROOT=1 is set, which skips every check that cannot nest: the fresh-machine
# check itself and the real-Kubernetes lane.
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/install-deps.sh
NETVERDICT_KUBECTL=$(./ci/kubectl.sh)
NETVERDICT_SARIF_SCHEMA=$(./ci/sarif-schema.sh)
NETVERDICT_ACTIONLINT=$(./ci/actionlint.sh)
NETVERDICT_GITLAB_CI_SCHEMA=$(./ci/gitlab-ci-schema.sh)
export NETVERDICT_KUBECTL NETVERDICT_SARIF_SCHEMA NETVERDICT_ACTIONLINT NETVERDICT_GITLAB_CI_SCHEMA
cargo build --workspace --all-targets --locked
cargo test --workspace --locked --no-fail-fast -- --test-threads="${NETVERDICT_TEST_THREADS:-4}"
./ci/test-as-user.sh

if [ -n "${NETVERDICT_IN_FRESH_ROOT:-}" ]; then
  echo "real Kubernetes lane: skipped (this run is inside a fresh root)"
elif [ "${NETVERDICT_LANE:-1}" = 0 ]; then
  echo "real Kubernetes lane: skipped (NETVERDICT_LANE=0)"
else
  ./ci/real-cluster.sh
fi

if [ -n "${NETVERDICT_IN_FRESH_ROOT:-}" ]; then
  echo "fresh root: skipped (this run is inside one)"
elif [ "${NETVERDICT_FRESH_ROOT:-1}" = 0 ]; then
  echo "fresh root: skipped (NETVERDICT_FRESH_ROOT=0)"
else
  ./ci/fresh-root.sh
fi
