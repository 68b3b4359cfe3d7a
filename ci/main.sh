#!/usr/bin/env bash
# The main job: runs the scenario library against an embedded local cluster and writes JUnit
# (report.xml) and JSON (report.json). Run as root on Debian. Exits like `netverdict run`.
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/install-deps.sh
cargo build --release --locked --bin netverdict
./target/release/netverdict validate scenarios/
exec ./target/release/netverdict run scenarios/ --local --junit report.xml --json report.json "$@"
