#!/usr/bin/env bash
# netverdict in any CI: runs the scenarios against the cluster that KUBECONFIG names and writes
# every report into one folder, then exits with netverdict's exit code, saying what it means.
#
#   KUBECONFIG=/path/to/kubeconfig ./run.sh [SCENARIOS] [OUTPUT] [-- MORE RUN FLAGS]
#
# SCENARIOS defaults to scenarios/, OUTPUT to netverdict-reports/; it gets junit.xml (for the CI's
# test report), results.json, summary.md and report.html. netverdict must be on PATH. Flags after
# `--` go to `netverdict run` (for example `--probe-image REGISTRY/netverdict:TAG`).
#
# Exit codes: 0 every probe met its expectation; 1 at least one did not (1 wins over everything
# else); 2 invalid input or usage, nothing was created; 3 some probes could not be judged or
# were not run, or the run could not complete.
set -uo pipefail

scenarios=scenarios/
output=netverdict-reports
if [ $# -gt 0 ] && [ "$1" != -- ]; then scenarios=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != -- ]; then output=$1; shift; fi
if [ $# -gt 0 ]; then
  if [ "$1" != -- ]; then
    echo "usage: $0 [SCENARIOS] [OUTPUT] [-- MORE RUN FLAGS]" >&2
    exit 2
  fi
  shift
fi

if [ -z "${KUBECONFIG:-}" ]; then
  echo "KUBECONFIG is not set: name the kubeconfig of the cluster to probe" >&2
  exit 2
fi
if ! command -v netverdict >/dev/null 2>&1; then
  echo "netverdict is not on PATH" >&2
  exit 2
fi
mkdir -p "$output" || exit 2

netverdict run "$scenarios" \
  --junit "$output/junit.xml" \
  --json "$output/results.json" \
  --summary "$output/summary.md" \
  --html "$output/report.html" \
  --wait-cleanup \
  "$@"
code=$?

case $code in
  0) meaning="every probe met its expectation" ;;
  1) meaning="at least one probe did not meet its expectation" ;;
  2) meaning="invalid input or usage: nothing was created" ;;
  3) meaning="some probes could not be judged or were not run, or the run could not complete" ;;
  *) meaning="netverdict ended abnormally" ;;
esac
echo "netverdict: exit $code: $meaning (reports in $output/)" >&2
exit "$code"
