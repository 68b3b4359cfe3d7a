#!/usr/bin/env bash
# Benchmarks of netverdict's speed and memory targets, on a local cluster (root, Debian).
#
#   ci/bench.sh matrix      30x30 single-port matrix (900 probes, half denied, 1 s timeout):
#                           the runner's probing phase, and the upstream e2e method (one
#                           `kubectl exec` per probe, 3 workers) on the same pods and policies
#   ci/bench.sh matrix50    50x50 single-port matrix (2,500 probes, half denied, 1 s timeout):
#                           the runner's probing phase against its rounds x timeout
#   ci/bench.sh scale       100 pods, 10,000 probes: pod start-up and the runner's peak RSS
#   ci/bench.sh enforce     100 pods, 50 policies: policy change to enforcement, ruleset size,
#                           reconcile CPU; the local cluster's start, pod start-up and exec
#   ci/bench.sh main        the main job (the scenario library on a local cluster): wall time,
#                           each scenario's setup and probing times and when its first round ran
#   ci/bench.sh             all of them
#
# Prints one line per measurement; nothing here is a pass/fail test.
set -euo pipefail
cd "$(dirname "$0")/.."

./ci/install-deps.sh
. ci/apt.sh
ensure_packages time python3
NETVERDICT_KUBECTL=$(./ci/kubectl.sh)
export NETVERDICT_KUBECTL
kubectl() { "$NETVERDICT_KUBECTL" "$@"; }
cargo build --release --locked --bin netverdict >/dev/null
bin=$PWD/target/release/netverdict
work=$(mktemp -d)
name="bench$$"
trap '"$bin" local down --name "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# A scenario of N pods in one namespace, half labelled even and half odd, where each group
# accepts only its own: N*N probes on TCP 80, half of them denied.
scenario() {
  local pods=$1 file=$2
  {
    echo "apiVersion: netverdict.io/v1alpha1"
    echo "kind: Scenario"
    echo "metadata: {name: matrix-$pods}"
    echo "spec:"
    echo "  defaults: {timeout: 1s}"
    echo "  namespaces: [{name: bench}]"
    echo "  pods:"
    for i in $(seq 0 $((pods - 1))); do
      echo "    - {name: p$i, namespace: bench, labels: {group: g$((i % 2))}, ports: [{port: 80}]}"
    done
    echo "  policies:"
    for g in 0 1; do
      echo "    - {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: only-g$g, namespace: bench},"
      echo "       spec: {podSelector: {matchLabels: {group: g$g}}, ingress: [{from: [{podSelector: {matchLabels: {group: g$g}}}]}]}}"
    done
    echo "  probes:"
    local all
    all=$(seq -s, -f "bench/p%g" 0 $((pods - 1)))
    echo "    - matrix: {from: [$all], to: [$all], ports: [80]}"
    echo "      expect: auto"
  } >"$file"
}

up() {
  "$bin" local up --name "$name" --nodes 2 >/dev/null
  export KUBECONFIG=/run/netverdict/$name/kubeconfig
}

json_field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# Runs the N x N matrix scenario on a fresh local cluster and prints its probing phase: the
# rounds it took, the ratio to rounds x timeout, and when each round's probes started and
# ended (since the policies were applied). Leaves the cluster up; the results are in
# $work/matrix-N.json.
run_matrix() {
  local pods=$1
  scenario "$pods" "$work/matrix-$pods.yaml"
  up
  "$bin" run "$work/matrix-$pods.yaml" --kubeconfig "$KUBECONFIG" --json "$work/matrix-$pods.json" \
    --run-id bench --keep -q >/dev/null || true
  python3 - "$work/matrix-$pods.json" "$pods" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["scenarios"][0]
n = sys.argv[2]
rounds = {}
for p in s["probes"]:
    for a in p.get("history", []):
        r = rounds.setdefault(a["round"], [10**12, 0, 0])
        r[0] = min(r[0], a["atMs"])
        r[1] = max(r[1], a["atMs"] + a["elapsedMs"])
        r[2] += 1
statuses = ",".join(sorted({p["status"] for p in s["probes"]}))
count = len(rounds)
ratio = s["probingMs"] / max(count * 1000, 1)
print(f"matrix {n}x{n}: probing phase {s['probingMs']} ms, {count} rounds x 1 s timeout: "
      f"ratio {ratio:.2f} ({s['execCalls']} exec calls, statuses: {statuses}); setup {s['setupMs']} ms")
for number, (first, last, probes) in sorted(rounds.items()):
    print(f"matrix {n}x{n}: round {number}: {probes} probes, started {first}..ended {last} ms "
          f"after the policies")
PY
}

matrix() {
  run_matrix 30
  local probing
  probing=$(json_field "$work/matrix-30.json" 'd["scenarios"][0]["probingMs"]')

  # The upstream e2e method on the same pods and policies: one exec per probe, 3 workers.
  kubectl get pods -n bench -o jsonpath='{range .items[*]}{.metadata.name} {.status.podIP}{"\n"}{end}' >"$work/ips"
  while read -r from _; do
    while read -r _ ip; do
      echo "$from $ip"
    done <"$work/ips"
  done <"$work/ips" >"$work/pairs"
  local start end
  start=$(date +%s.%N)
  xargs -P 3 -L 1 sh -c '"$NETVERDICT_KUBECTL" exec -n bench "$0" -- nc -vz -w 1 -n "$1" 80 >/dev/null 2>&1 || true' <"$work/pairs"
  end=$(date +%s.%N)
  local baseline
  baseline=$(python3 -c "print(round(($end - $start) * 1000))")
  echo "matrix 30x30: one exec per probe with 3 workers: ${baseline} ms ($(wc -l <"$work/pairs") execs)"
  python3 -c "print(f'matrix 30x30: speed-up {${baseline} / max(${probing}, 1):.1f}x')"
  "$bin" cleanup --run-id bench --kubeconfig "$KUBECONFIG" >/dev/null
  "$bin" local down --name "$name" >/dev/null
}

matrix50() {
  run_matrix 50
  "$bin" cleanup --run-id bench --kubeconfig "$KUBECONFIG" >/dev/null
  "$bin" local down --name "$name" >/dev/null
}

scale() {
  scenario 100 "$work/scale.yaml"
  up
  /usr/bin/time -f "%e %M" -o "$work/time" \
    "$bin" run "$work/scale.yaml" --kubeconfig "$KUBECONFIG" --json "$work/scale.json" -q >/dev/null || true
  local rss setup probing probes
  read -r _ rss <"$work/time"
  setup=$(json_field "$work/scale.json" 'd["scenarios"][0]["setupMs"]')
  probing=$(json_field "$work/scale.json" 'd["scenarios"][0]["probingMs"]')
  probes=$(json_field "$work/scale.json" 'len(d["scenarios"][0]["probes"])')
  status=$(json_field "$work/scale.json" '",".join(sorted({p["status"] for p in d["scenarios"][0]["probes"]}))')
  echo "scale: ${probes} probes (statuses: ${status}); runner peak RSS $((rss / 1024)) MB; 100 pods created and started in ${setup} ms; probing ${probing} ms"
  local cluster_rss
  cluster_rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$(awk '{print $1}' /run/netverdict/$name/pid)/status" 2>/dev/null || echo "?")
  echo "scale: local cluster peak RSS ${cluster_rss} MB"
  "$bin" local down --name "$name" >/dev/null
}

main_job() {
  local start end
  start=$(date +%s.%N)
  "$bin" run scenarios/ --local --json "$work/main.json" -q >/dev/null || true
  end=$(date +%s.%N)
  python3 - "$work/main.json" "$start" "$end" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
scenarios = results["scenarios"]
probes = sum(len(s["probes"]) for s in scenarios)
print(f"main job: {len(scenarios)} scenarios, {probes} probes, wall time {wall:.1f} s")
latest = 0
for s in scenarios:
    first = [p["history"][0]["atMs"] for p in s["probes"] if p.get("history")]
    first_round = min(first) if first else 0
    latest = max(latest, first_round)
    phases = ", ".join(f"{k[:-2]} {v}" for k, v in s.get("setupPhases", {}).items())
    print(f"main job: {s['name']}: setup {s['setupMs']} ms ({phases}), probing {s['probingMs']} ms, "
          f"first round {first_round} ms after its policies")
print(f"main job: latest first round {latest} ms after its policies")
PY
}

enforce() {
  cargo run --release --locked -q -p netverdict-enforce --example compile
  cargo run --release --locked -q -p netverdict-localcluster --example enforce
  cargo run --release --locked -q -p netverdict-localcluster --example bench
}

case "${1:-all}" in
  matrix) matrix ;;
  matrix50) matrix50 ;;
  scale) scale ;;
  enforce) enforce ;;
  main) main_job ;;
  all) main_job; matrix; matrix50; scale; enforce ;;
  *) echo "usage: $0 [main|matrix|matrix50|scale|enforce]" >&2; exit 2 ;;
esac
