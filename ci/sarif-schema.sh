#!/usr/bin/env bash
# Fetches the official SARIF 2.1.0 JSON schema (OASIS, sarif-schema-2.1.0.json) into
# target/tools/sarif-schema-2.1.0/, unless it is there already, and prints its path. The tests
# validate netverdict's SARIF against it. It comes from crates.io, inside the serde-sarif crate
# (which ships the schema unchanged), pinned by the crate's SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh

crate=serde-sarif-0.8.0
sha256=a053c46f18a8043570d4e32fefc4c6377f82bf29ec310a33e93f273048e3b0be
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
dir=$target/tools/sarif-schema-2.1.0
schema=$dir/sarif-schema-2.1.0.json

official() {
  grep -q '"\$id": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"' \
    "$schema" 2>/dev/null
}
if ! official; then
  ensure_packages curl ca-certificates tar
  echo "fetching the SARIF 2.1.0 schema into $dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --retry 3 -o "$tmp/$crate.crate" "https://static.crates.io/crates/${crate%-*}/$crate.crate"
  echo "$sha256  $tmp/$crate.crate" | sha256sum --check --quiet
  tar -xzf "$tmp/$crate.crate" -C "$tmp" "$crate/src/schema.json"
  mkdir -p "$dir"
  mv "$tmp/$crate/src/schema.json" "$schema"
  official || { echo "$schema is not the SARIF 2.1.0 schema" >&2; exit 1; }
fi
echo "$schema"
