# Named steps: each prints one pass/fail line with its duration, and the summary says where the
# time went. Sourced by ci/real-cluster.sh.

STEP_NAMES=()
STEP_RESULTS=()
STEP_SECONDS=()
STEP_FAILED=0

# step NAME COMMAND...: runs COMMAND, records its result; a failure does not stop the lane here.
step() {
  local name=$1
  shift
  local start end rc=0
  start=$(date +%s.%N)
  echo "== $name"
  # A subshell with errexit of its own: `(...) || rc=$?` would disable errexit inside.
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
  return $rc
}

steps_summary() {
  local i
  echo "== where the time went"
  for i in "${!STEP_NAMES[@]}"; do
    printf '  %-28s %-5s %8s s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}" "${STEP_SECONDS[$i]}"
  done
}
