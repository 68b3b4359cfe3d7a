# shellcheck shell=bash
# Named steps: each prints one pass/fail line with its duration, and the summary says where the
# time went. Sourced by ci/real-cluster.sh.

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
STEP_FAILED=0

# step NAME COMMAND...: runs COMMAND in a subshell with errexit, prints and records its result
# in STEP_RC, and always returns 0. Callers test STEP_RC (or `passed`) rather than step's status:
# bash ignores errexit in everything run inside a condition, subshells included.
step() {
  local name=$1
  shift
  local start end rc=0
  start=$(date +%s.%N)
  echo "== $name"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  end=$(date +%s.%N)
  local took
  took=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
  STEP_NAMES+=("$name")
  STEP_SECONDS+=("$took")
  if [ $rc = 0 ]; then
    STEP_RESULTS+=(pass)
    echo "PASS $name (${took} s)"
  else
    STEP_RESULTS+=(fail)
    STEP_FAILED=$((STEP_FAILED + 1))
    echo "FAIL $name (${took} s, exit $rc)"
  fi
  STEP_RC=$rc
  return 0
}

# Whether the last step passed.
passed() { [ "$STEP_RC" = 0 ]; }

steps_summary() {
  local i
  echo "== where the time went"
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-42s %-5s %8s s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
  done
}
