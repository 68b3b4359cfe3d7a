#!/usr/bin/env bash
# Unpacks the wheel pinned in ci/gitlab-ci-schema-requirements.txt into
# target/tools/check-jsonschema-<version>/, unless it is there already, and prints the path of
# the GitLab CI schema it vendors. The schema is checked against the SHA-256 the wheel records
# for it. Needs Debian's python3 and python3-venv (installed when missing: root) and PyPI. The
# tests check ci/recipes/gitlab-ci.yml against it (NETVERDICT_GITLAB_CI_SCHEMA).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh

requirements=ci/gitlab-ci-schema-requirements.txt
version=$(sed -n 's/^check-jsonschema==\([0-9.]*\).*/\1/p' "$requirements")
target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
dir=$target/tools/check-jsonschema-$version
vendor=$dir/check_jsonschema/builtin_schemas/vendor
schema=$vendor/gitlab-ci.json

intact() {
  [ -f "$schema" ] && [ -f "$vendor/sha256/gitlab-ci.sha256" ] &&
    [ "$(sha256sum <"$schema" | cut -d' ' -f1)" = "$(tr -d '[:space:]' <"$vendor/sha256/gitlab-ci.sha256")" ]
}
if ! intact; then
  ensure_packages python3 python3-venv ca-certificates
  export PIP_CERT=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
  echo "unpacking check-jsonschema $version's GitLab CI schema into $dir" >&2
  rm -rf "$dir"
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  # Debian's python3 has no pip: a throwaway virtual environment brings one.
  /usr/bin/python3 -m venv "$download/venv"
  "$download/venv/bin/pip" download --quiet --disable-pip-version-check --no-input --no-deps \
    --only-binary :all: --require-hashes -r "$requirements" -d "$download/wheel" >&2
  /usr/bin/python3 -m zipfile -e "$download"/wheel/check_jsonschema-"$version"-*.whl "$dir"
  intact || { echo "$schema does not match the SHA-256 its wheel records" >&2; exit 1; }
fi
echo "$schema"
