#!/usr/bin/env bash
# The main job: runs the scenario library against an embedded local cluster and writes JUnit.
# Run as root on Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/install-deps.sh
cargo build --release --locked --bin netverdict
./target/release/netverdict validate scenarios/
