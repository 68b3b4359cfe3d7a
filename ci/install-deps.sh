#!/usr/bin/env bash
# Installs what netverdict's build, tests and local cluster need on a Debian machine, idempotently.
# Needs root (apt-get). Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(curl netcat-openbsd bind9-dnsutils nftables iproute2 procps ca-certificates libxml2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install a Rust toolchain (rustup) first" >&2
  exit 1
fi
