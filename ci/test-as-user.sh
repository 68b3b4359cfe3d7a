#!/usr/bin/env bash
# Runs the workspace's test binaries (built by `cargo test --no-run`) as the unprivileged user
# `nobody`, as `cargo test --workspace` runs them, each in its package's folder: tests that need
# root must skip, and every other test must pass without it.
#
# Skipped, saying so, when `nobody` cannot reach the checkout (a clone under /root, 0700).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$PWD/Cargo.toml"; then
  echo "tests as a normal user: skipped (user nobody cannot read $PWD)"
  exit 0
fi

binaries=$(cargo test --workspace --locked --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]), m["executable"])
')

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=0
count=0
while read -r dir binary; do
  count=$((count + 1))
  if ! (cd "$dir" && setpriv --reuid=65534 --regid=65534 --clear-groups \
    env HOME=/nonexistent "$binary" --test-threads=2 >"$log" 2>&1); then
    echo "as user nobody: $(basename "$binary") FAILED:"
    grep -E "^test .* FAILED|panicked" "$log" | head -20 || true
    failed=$((failed + 1))
  fi
done <<<"$binaries"
echo "tests as a normal user: $count test binaries, $failed failed"
[ "$failed" = 0 ]
