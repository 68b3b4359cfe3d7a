#!/usr/bin/env bash
# The real Kubernetes lane: a single-node cluster built from Debian's own packages (kube-apiserver,
# kubelet, kube-controller-manager, kube-scheduler, kube-proxy and kubectl from the `kubernetes`
# source package; etcd, containerd, runc and the CNI plugins as packaged), netverdict's checks
# against it, and the host left exactly as it was. Run as root on Debian bookworm.
#
#   ci/real-cluster.sh          build what is missing, start the cluster, run the checks, tear down
#   ci/real-cluster.sh build    only build (and cache) the binaries and images
#   ci/real-cluster.sh down     tear down and restore the host after a lane that was killed
#
# Every check is a named step with a PASS/FAIL line; ci/lane/expectations.sh lists the checks
# known to fail on today's netverdict. The lane fails when any other step fails, when a listed
# check passes, or when the host differs from its snapshot after teardown.
#
# NETVERDICT_LANE_CACHE  the build cache (default /var/cache/netverdict/lane-v1; rebuilt only
#                        when missing: delete it to rebuild)
# NETVERDICT_LANE_WORK   the cluster's state, removed at the end (default /var/lib/netverdict/lane)
# NETVERDICT_LANE_KEEP=1 leave the cluster running after the checks (tear down with Ctrl-C)
# NETVERDICT_LANE_ALLOWED_SYSCTLS  unsafe sysctls the kubelet allows, comma-separated (default
#                        none, as a stock kubelet)
set -euo pipefail
cd "$(dirname "$0")/.."

LANE_VERSION=v1
LANE_CACHE=${NETVERDICT_LANE_CACHE:-/var/cache/netverdict/lane-$LANE_VERSION}
LANE_WORK=${NETVERDICT_LANE_WORK:-/var/lib/netverdict/lane}
LANE_RESULTS=$PWD/target/lane
LANE_SNAPSHOT=$LANE_RESULTS/host-before
LANE_K8S_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
LANE_K8S_VERSION=v1.20.2
LANE_K8S_COMMANDS=(kube-apiserver kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)
LANE_PAUSE_IMAGE=localhost/netverdict-lane/pause:$LANE_K8S_VERSION
LANE_PROBE_IMAGE=localhost/netverdict/netverdict:lane
LANE_NETVERDICT=$PWD/target/debug/netverdict

. ci/lane/steps.sh
. ci/lane/build.sh
. ci/lane/safety.sh
. ci/lane/cluster.sh
. ci/lane/checks.sh
. ci/lane/expectations.sh
. ci/lib/oci.sh

[ "$(id -u)" = 0 ] || { echo "the real lane needs root" >&2; exit 1; }

BUILT=0
build() {
  step packages lane_install_packages; passed || return 0
  step fetch-source lane_fetch_source; passed || return 0
  step build-kubernetes lane_build_kubernetes; passed || return 0
  step pause-image lane_build_pause_image; passed || return 0
  BUILT=1
}

probe_image() {
  [ -x "$LANE_NETVERDICT" ] || cargo build --locked --bin netverdict
  ./ci/image.sh --binary "$LANE_NETVERDICT" --name "$LANE_PROBE_IMAGE" --output "$LANE_WORK/image" \
    --base-cache "$LANE_CACHE/image-base" >"$LANE_RESULTS/image.out" 2>&1 \
    || { tail -20 "$LANE_RESULTS/image.out"; return 1; }
  tail -9 "$LANE_RESULTS/image.out"
}

# The archive holds the binaries, user 65532 and the netverdict entrypoint.
check_image-archive() { ./ci/image.sh check "$LANE_WORK/image/netverdict.oci.tar"; }

# What the lane needs of the kernel; a missing feature is a failure that says which.
kernel_features() {
  local missing=() c
  [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/cpu ] && [ -d /sys/fs/cgroup/pids ] \
    || missing+=("cgroup v1 hierarchies memory, cpu and pids under /sys/fs/cgroup")
  grep -qw overlay /proc/filesystems || missing+=("overlay filesystem (containerd's snapshotter)")
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || missing+=("bridge netfilter (br_netfilter)")
  ip link add nvrl-probe0 type bridge 2>/dev/null && ip link delete nvrl-probe0 || missing+=("bridge links")
  ip link add nvrl-probe1 type veth peer name nvrl-probe2 2>/dev/null && ip link delete nvrl-probe1 || missing+=("veth links")
  iptables -t nat -S >/dev/null 2>&1 || missing+=("iptables nat table (nf_tables with xtables compat)")
  for c in unshare nsenter; do command -v $c >/dev/null || missing+=("$c"); done
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'this machine cannot run the real lane: missing %s\n' "${missing[@]}" >&2
    return 1
  fi
}

snapshot() {
  rm -rf "$LANE_SNAPSHOT"
  safety_snapshot "$LANE_SNAPSHOT"
  echo "host snapshot: $(wc -l <"$LANE_SNAPSHOT/sysctls") tunables, $(wc -l <"$LANE_SNAPSHOT/links") links, $(wc -l <"$LANE_SNAPSHOT/mounts") mounts"
}

STARTED=0
start_cluster() {
  local part
  for part in bridge cgroups certs etcd apiserver controller_manager scheduler containerd \
    import_images kubelet kube_proxy; do
    step "${part//_/-}" "lane_$part"
    passed || return 0
  done
  STARTED=1
}

CHECK_FAILED=0
CHECKS_PASSED=0
CHECKS_FAILED=0
CHECKS_KNOWN_BROKEN=0
# Runs one check: known-broken checks may fail (and must not pass).
run_check() {
  local name=$1 reason=${LANE_KNOWN_BROKEN[$1]:-}
  step "check $name" "check_$name"
  if passed; then
    if [ -n "$reason" ]; then
      echo "UNEXPECTED PASS $name: remove it from LANE_KNOWN_BROKEN in ci/lane/expectations.sh"
      CHECK_FAILED=1
      CHECKS_FAILED=$((CHECKS_FAILED + 1))
    else
      CHECKS_PASSED=$((CHECKS_PASSED + 1))
    fi
  elif [ -n "$reason" ]; then
    echo "KNOWN-BROKEN $name: $reason"
    CHECKS_KNOWN_BROKEN=$((CHECKS_KNOWN_BROKEN + 1))
  else
    CHECK_FAILED=1
    CHECKS_FAILED=$((CHECKS_FAILED + 1))
  fi
}

TORN_DOWN=0
teardown() {
  [ $TORN_DOWN = 1 ] && return 0
  TORN_DOWN=1
  trap '' INT TERM
  [ -d "$LANE_SNAPSHOT" ] || return 0
  for name in kube-apiserver kubelet containerd kube-proxy; do
    [ -f "$LANE_WORK/logs/$name.log" ] && cp "$LANE_WORK/logs/$name.log" "$LANE_RESULTS/$name.log"
  done
  step teardown lane_teardown
  step restore-host safety_restore "$LANE_SNAPSHOT"
  step remove-work-dir rm -rf "$LANE_WORK"
  step host-as-before host_as_before
  passed || HOST_DIFFERS=1
  step no-leftover-processes no_leftover_processes
  passed || HOST_DIFFERS=1
}

host_as_before() {
  rm -rf "$LANE_RESULTS/host-after"
  mkdir -p "$LANE_RESULTS/host-after"
  local aspect
  for aspect in "${SAFETY_ASPECTS[@]}"; do "safety_$aspect" >"$LANE_RESULTS/host-after/$aspect" || true; done
  safety_compare "$LANE_SNAPSHOT" "$LANE_RESULTS/host-after"
}

no_leftover_processes() {
  local left
  left=$(lane_own_processes)
  [ -z "$left" ] && return 0
  echo "processes of the lane still running: $left"
  return 1
}

all() {
  local start
  start=$(date +%s)
  build
  [ $BUILT = 1 ] || { steps_summary; return 1; }
  mkdir -p "$LANE_RESULTS"
  step kernel-features kernel_features
  passed || { steps_summary; return 1; }
  if [ -d "$LANE_WORK" ]; then
    echo "$LANE_WORK exists: a previous lane did not finish; \`$0 down\` tears it down and restores the host" >&2
    return 1
  fi
  mkdir -p "$LANE_WORK"
  chmod 0700 "$LANE_WORK"
  step probe-image probe_image
  passed || { rm -rf "$LANE_WORK"; steps_summary; return 1; }
  run_check image-archive
  HOST_DIFFERS=0
  step snapshot snapshot
  passed || { rm -rf "$LANE_WORK"; steps_summary; return 1; }
  trap 'teardown' EXIT
  trap 'echo "interrupted: tearing down" >&2; exit 130' INT TERM
  start_cluster
  if [ $STARTED = 1 ]; then
    local c
    for c in "${LANE_CHECKS[@]}"; do run_check "$c"; done
    if [ "${NETVERDICT_LANE_KEEP:-0}" = 1 ]; then
      echo "cluster kept: export KUBECONFIG=$LANE_WORK/admin.kubeconfig; Ctrl-C tears it down"
      while :; do sleep 60; done
    fi
  else
    CHECK_FAILED=1
    CHECKS_FAILED=$((CHECKS_FAILED + 1))
    local log
    for log in "$LANE_WORK"/logs/*.log; do
      [ -f "$log" ] || continue
      echo "--- last lines of $(basename "$log")"
      tail -15 "$log"
    done
  fi
  teardown
  trap - EXIT INT TERM
  steps_summary
  echo "lane total: $(($(date +%s) - start)) s; results in $LANE_RESULTS"
  echo "checks known to fail today (skipped as failures, listed in ci/lane/expectations.sh): $CHECKS_KNOWN_BROKEN"
  echo "real-lane: $CHECKS_PASSED passed, $CHECKS_FAILED failed, $CHECKS_KNOWN_BROKEN skipped"
  [ -f "$LANE_RESULTS/comparison.txt" ] && echo "comparison with --local --cni none --emulate lane: $LANE_RESULTS/comparison.txt"
  if [ $CHECK_FAILED = 0 ] && [ $HOST_DIFFERS = 0 ]; then
    echo "real lane: PASS"
  else
    echo "real lane: FAIL (checks failed: $CHECK_FAILED, host differs: $HOST_DIFFERS)"
    return 1
  fi
}

mkdir -p "$LANE_CACHE"
trap 'echo "real lane: aborted at ${BASH_SOURCE[0]}:$LINENO ($BASH_COMMAND)" >&2' ERR
case "${1:-all}" in
  build) build; steps_summary; [ $BUILT = 1 ] ;;
  all) all || exit 1 ;;
  down)
    [ -d "$LANE_WORK" ] && [ -d "$LANE_SNAPSHOT" ] || { echo "no unfinished lane to tear down"; exit 0; }
    HOST_DIFFERS=0
    teardown
    steps_summary
    [ $HOST_DIFFERS = 0 ] ;;
  *) echo "usage: $0 [all|build|down]" >&2; exit 2 ;;
esac
