#!/usr/bin/env bash
# Measures the local cluster's network fabric (needs root): 100 pods, a 1000-rule filter,
# 100 Services, teardown. Prints times; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p netverdict-netns --example fabric_bench "$@"
