#!/usr/bin/env bash
# Benchmarks the batch agent: N probes from one process, half of them silently dropped (1 s
# timeouts), half answered. Reports the agent's wall time, its own peak RSS, and the outcomes.
#
#   sudo probes/bench/agent.sh [N ...]        # default: 100 1000
#
# Runs as root on Linux. Everything happens inside two network namespaces created here (the agent
# in one, `serve` in the other, an nft drop rule for the denied ports) and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)

cargo build --release -q -p netverdict-probes --example nvp
bin="$PWD/target/release/examples/nvp"

tag="nvp-bench-$$"
client="$tag-c"
server="$tag-s"
work="$(mktemp -d)"
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  ip netns del "$client" 2>/dev/null || true
  ip netns del "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$client"
ip netns add "$server"
ip -n "$client" link add eth0 type veth peer name eth0 netns "$server"
ip -n "$client" addr add 10.250.0.1/30 dev eth0
ip -n "$server" addr add 10.250.0.2/30 dev eth0
for ns in "$client" "$server"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
ip netns exec "$server" nft -f - <<'NFT'
table inet nvp {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 81 drop
    udp dport 54 drop
  }
}
NFT

ip netns exec "$server" env POD_NAME=bench-server RUST_LOG=warn "$bin" serve --tcp 80,81 --udp 53,54 &
serve_pid=$!
for _ in $(seq 100); do
  ip netns exec "$client" nc -z -w 1 -n 10.250.0.2 80 2>/dev/null && break
  sleep 0.05
done

# Probe i: even ones are dropped (tcp 81 / udp 54), odd ones answered (tcp, http, udp on 80/53).
request() {
  local n=$1 i sep="" kind
  printf '{"version":2,"probes":['
  for ((i = 0; i < n; i++)); do
    case $((i % 6)) in
      0) kind='"kind":"tcp","host":"10.250.0.2","port":81' ;;
      1) kind='"kind":"tcp","host":"10.250.0.2","port":80' ;;
      2) kind='"kind":"udp","host":"10.250.0.2","port":54' ;;
      3) kind='"kind":"http","scheme":"http","host":"10.250.0.2","port":80,"path":"/"' ;;
      4) kind='"kind":"tcp","host":"10.250.0.2","port":81' ;;
      5) kind='"kind":"udp","host":"10.250.0.2","port":53' ;;
    esac
    printf '%s{"id":"p%d","timeout_ms":1000,"probe":{%s}}' "$sep" "$i" "$kind"
    sep=","
  done
  printf ']}\n'
}

echo "agent: $bin (release), concurrency 256, timeouts 1 s, $(nproc) CPUs"
printf '%8s %10s %12s %14s %s\n' probes "wall [s]" "agent RSS" "timed out" "other outcomes"
for n in "${sizes[@]}"; do
  request "$n" > "$work/request.json"
  start=$(date +%s.%N)
  ip netns exec "$client" env NVP_REPORT_RSS=1 "$bin" probe-batch \
    < "$work/request.json" > "$work/out.jsonl" 2> "$work/err"
  end=$(date +%s.%N)
  wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }')
  rss=$(sed -n 's/^agent peak RSS: //p' "$work/err")
  records=$(grep -c '"type":"record"' "$work/out.jsonl" || true)
  timeouts=$(grep -c '"outcome":{"kind":"timeout"}' "$work/out.jsonl" || true)
  others=$(grep -o '"outcome":{[^}]*}' "$work/out.jsonl" | grep -v '"timeout"' \
    | sed -E 's/.*"kind":"([a-z-]+)"(,"code":([0-9]+))?.*/\1 \3/' | sort | uniq -c \
    | awk '{ printf "%s%s=%s ", $2, ($3 != "" ? ":" $3 : ""), $1 }')
  [ "$records" -eq "$n" ] || { echo "only $records records for $n probes" >&2; exit 1; }
  printf '%8d %10s %12s %14s %s\n' "$n" "$wall" "$rss" "$timeouts/$((n / 2))" "$others"
done
