#!/usr/bin/env bash
# Installs what netverdict's build, tests and local cluster need on a Debian machine, idempotently
# (only what is missing). Needs root (apt-get) and a Rust toolchain (rustup) on PATH.
#
#   gcc, libc6-dev                     the C compiler and libc headers: ring's build and the link
#   curl, netcat-openbsd, bind9-dnsutils  the probe tools pods run (curl, nc, nslookup)
#   nftables, iproute2                 the local cluster's fabric (nft, ip)
#   procps                             ps, kill, used by tests
#   ca-certificates                    TLS roots for the package registries
#   libxml2-utils                      xmllint, which checks the JUnit report against its schema
#   shellcheck                         checks the shell of the CI recipes (ci/recipes/)
#   chromium, fonts-dejavu-core        headless Chromium and a font, which render the HTML report in its test
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not on PATH: install a Rust toolchain with rustup first (https://rustup.rs)" >&2
  exit 1
fi
ensure_packages gcc libc6-dev curl netcat-openbsd bind9-dnsutils nftables iproute2 procps \
  ca-certificates libxml2-utils shellcheck chromium fonts-dejavu-core
