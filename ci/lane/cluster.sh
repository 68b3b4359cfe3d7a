# shellcheck shell=bash
# The real lane's single-node cluster: certificates, etcd, kube-apiserver, controller-manager,
# scheduler, containerd, kubelet, kube-proxy, the CNI bridge. Every process is started through
# `lane_start`, which records its PID; `lane_stop_all` stops exactly those. Sourced by
# ci/real-cluster.sh.

LANE_BRIDGE=nvrl0
LANE_NODE_IP=198.18.0.1
LANE_POD_CIDR=198.18.0.0/24
LANE_SERVICE_CIDR=198.19.0.0/24
LANE_API_PORT=16443
LANE_ETCD_PORT=32379
LANE_NODE=netverdict-lane
LANE_CGROUP=netverdict-lane

lane_kubectl() { "$LANE_CACHE/bin/kubectl" --kubeconfig "$LANE_WORK/admin.kubeconfig" "$@"; }

# lane_start NAME COMMAND...: runs COMMAND in the background in its own session, logs to
# logs/NAME.log, records its PID in pids/NAME.
lane_start() {
  local name=$1
  shift
  mkdir -p "$LANE_WORK/pids" "$LANE_WORK/logs"
  setsid "$@" >"$LANE_WORK/logs/$name.log" 2>&1 </dev/null &
  local order
  order=$(printf '%02d' "$(find "$LANE_WORK/pids" -type f | wc -l)")
  echo $! >"$LANE_WORK/pids/$order-$name"
  echo "started $name (pid $!)"
}

# lane_wait WHAT SECONDS COMMAND...: polls COMMAND until it succeeds.
lane_wait() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  echo "timed out after ${seconds} s waiting for $what" >&2
  return 1
}

lane_alive() {
  local file
  for file in "$LANE_WORK"/pids/*-"$1"; do [ -f "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null && return 0; done
  return 1
}

# Stops the recorded processes in reverse start order: TERM, then KILL after 10 s.
lane_stop_all() {
  local pidfile pid name i
  [ -d "$LANE_WORK/pids" ] || return 0
  for pidfile in $(ls -1 "$LANE_WORK/pids" | sort -r); do
    pid=$(cat "$LANE_WORK/pids/$pidfile")
    name=${pidfile#*-}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "$name (pid $pid) did not stop on TERM: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$LANE_WORK/pids/$pidfile"
  done
}

lane_certs() {
  local pki=$LANE_WORK/pki
  mkdir -p "$pki"
  (
    cd "$pki" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=netverdict-lane-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    cat >apiserver.ext <<EXT
subjectAltName = IP:$LANE_NODE_IP, IP:127.0.0.1, IP:${LANE_SERVICE_CIDR%.0/24}.1, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage = serverAuth
EXT
    echo "extendedKeyUsage = clientAuth" >client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
      -keyout kubelet-client.key -out kubelet-client.csr 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile client.ext -out kubelet-client.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 0600 ./*.key
  )
  # One bearer token per identity; the RBAC defaults bind the components' users.
  local tokens=$LANE_WORK/pki/tokens.csv who
  : >"$tokens"
  for who in "admin,admin,system:masters" "kube-controller-manager,system:kube-controller-manager," \
    "kube-scheduler,system:kube-scheduler," "kube-proxy,system:kube-proxy," \
    "kubelet,system:node:$LANE_NODE,system:nodes"; do
    local id=${who%%,*} rest=${who#*,} user group token
    user=${rest%%,*}
    group=${rest#*,}
    token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    echo "$token,$user,$user${group:+,\"$group\"}" >>"$tokens"
    lane_kubeconfig "$LANE_WORK/$id.kubeconfig" "$user" "$token"
  done
  chmod 0600 "$tokens" "$LANE_WORK"/*.kubeconfig
}

lane_kubeconfig() {
  local file=$1 user=$2 token=$3
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: netverdict-lane
  cluster:
    server: https://$LANE_NODE_IP:$LANE_API_PORT
    certificate-authority: $LANE_WORK/pki/ca.crt
users:
- name: $user
  user:
    token: $token
contexts:
- name: netverdict-lane
  context: {cluster: netverdict-lane, user: $user}
current-context: netverdict-lane
KC
}

lane_bridge() {
  ip link add "$LANE_BRIDGE" type bridge
  ip addr add "$LANE_NODE_IP/24" dev "$LANE_BRIDGE"
  ip link set "$LANE_BRIDGE" up
}

lane_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy" ] && mkdir -p "$hierarchy$LANE_CGROUP"
  done
  return 0
}

lane_etcd() {
  lane_start etcd etcd --name lane --data-dir "$LANE_WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$LANE_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$LANE_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((LANE_ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((LANE_ETCD_PORT + 1))" \
    --initial-cluster "lane=http://127.0.0.1:$((LANE_ETCD_PORT + 1))" --listen-metrics-urls ""
  lane_wait "etcd" 30 curl -sf "http://127.0.0.1:$LANE_ETCD_PORT/health"
}

lane_apiserver() {
  local pki=$LANE_WORK/pki
  lane_start kube-apiserver "$LANE_CACHE/bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$LANE_ETCD_PORT" \
    --bind-address "$LANE_NODE_IP" --advertise-address "$LANE_NODE_IP" \
    --secure-port "$LANE_API_PORT" --insecure-port 0 \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --service-cluster-ip-range "$LANE_SERVICE_CIDR" --service-node-port-range 30000-30100 \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --kubelet-client-certificate "$pki/kubelet-client.crt" --kubelet-client-key "$pki/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP --profiling=false --v 1
  lane_wait "kube-apiserver /readyz" 90 lane_kubectl get --raw /readyz
}

lane_controller_manager() {
  local pki=$LANE_WORK/pki
  lane_start kube-controller-manager "$LANE_CACHE/bin/kube-controller-manager" \
    --kubeconfig "$LANE_WORK/kube-controller-manager.kubeconfig" \
    --port 0 --secure-port 0 --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --controllers '*,-nodeipam,-cloud-node-lifecycle' --profiling=false --v 1
  # The token controller writes the default ServiceAccount's token: SA tokens work.
  lane_wait "the default ServiceAccount's token" 90 \
    sh -c "'$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' get serviceaccount default -o jsonpath='{.secrets[0].name}' | grep -q ."
}

lane_scheduler() {
  lane_start kube-scheduler "$LANE_CACHE/bin/kube-scheduler" \
    --kubeconfig "$LANE_WORK/kube-scheduler.kubeconfig" \
    --port 0 --secure-port 0 --leader-elect=false --profiling=false --v 1
}

lane_containerd() {
  local c=$LANE_WORK/containerd
  mkdir -p "$c" "$LANE_WORK/cni/net.d" "$LANE_WORK/cni/ipam"
  cat >"$c/config.toml" <<TOML
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$LANE_PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  max_concurrent_downloads = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$LANE_WORK/cni/net.d"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = ""
TOML
  # Pods get routes for the pod and Service ranges only: no default route, nothing leaves.
  cat >"$LANE_WORK/cni/net.d/10-netverdict-lane.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "netverdict-lane",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$LANE_BRIDGE",
      "isGateway": true,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$LANE_WORK/cni/ipam",
        "ranges": [[{"subnet": "$LANE_POD_CIDR", "rangeStart": "${LANE_POD_CIDR%.0/24}.10", "gateway": "$LANE_NODE_IP"}]],
        "routes": [{"dst": "$LANE_SERVICE_CIDR"}]
      }
    }
  ]
}
JSON
  lane_start containerd containerd --config "$c/config.toml"
  lane_wait "containerd" 30 ctr --address "$c/containerd.sock" version
}

lane_ctr() { ctr --address "$LANE_WORK/containerd/containerd.sock" -n k8s.io "$@"; }

lane_import_images() {
  lane_ctr images import "$LANE_CACHE/images/pause.tar" >/dev/null
  lane_ctr images import "$LANE_WORK/image/netverdict.docker.tar" >/dev/null
  lane_ctr images ls -q | grep -qx "$LANE_PAUSE_IMAGE"
  lane_ctr images ls -q | grep -qx "$LANE_PROBE_IMAGE"
}

lane_kubelet() {
  local k=$LANE_WORK/kubelet
  mkdir -p "$k"
  echo "nameserver $LANE_NODE_IP" >"$LANE_WORK/resolv.conf"
  cat >"$LANE_WORK/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $LANE_NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
cgroupRoot: /$LANE_CGROUP
allowedUnsafeSysctls: [${NETVERDICT_LANE_ALLOWED_SYSCTLS:-}]
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $LANE_WORK/pki/ca.crt}
authorization: {mode: AlwaysAllow}
clusterDomain: cluster.local
clusterDNS: [$LANE_NODE_IP]
resolvConf: $LANE_WORK/resolv.conf
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
YAML
  # AWS_EC2_METADATA_DISABLED: the in-tree cloud credential code would try the metadata address.
  lane_start kubelet env AWS_EC2_METADATA_DISABLED=true "$LANE_CACHE/bin/kubelet" \
    --config "$LANE_WORK/kubelet-config.yaml" --kubeconfig "$LANE_WORK/kubelet.kubeconfig" \
    --container-runtime remote --runtime-request-timeout 5m \
    --container-runtime-endpoint "unix://$LANE_WORK/containerd/containerd.sock" \
    --image-service-endpoint "unix://$LANE_WORK/containerd/containerd.sock" \
    --pod-infra-container-image "$LANE_PAUSE_IMAGE" \
    --node-ip "$LANE_NODE_IP" --hostname-override "$LANE_NODE" --root-dir "$k" \
    --cert-dir "$k/pki" --v 1
  lane_wait "node $LANE_NODE Ready" 120 \
    sh -c "'$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' get node $LANE_NODE -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
}

lane_kube_proxy() {
  lane_start kube-proxy "$LANE_CACHE/bin/kube-proxy" \
    --kubeconfig "$LANE_WORK/kube-proxy.kubeconfig" --hostname-override "$LANE_NODE" \
    --bind-address "$LANE_NODE_IP" --healthz-bind-address 127.0.0.1:10256 \
    --metrics-bind-address 127.0.0.1:10249 --cluster-cidr "$LANE_POD_CIDR" \
    --proxy-mode iptables --masquerade-all --nodeport-addresses "$LANE_NODE_IP/32" --v 1
  lane_wait "kube-proxy healthz" 60 curl -sf http://127.0.0.1:10256/healthz
}

# Everything the components leave: pods deleted through the API while the kubelet runs, then
# the processes by PID, the runtime's leftovers (shims of this containerd, netns, mounts under
# the work directory), the bridge and the cgroups.
lane_teardown() {
  # Best effort: every part runs even when an earlier one failed; the host comparison judges.
  set +e
  if lane_alive kubelet && lane_alive kube-apiserver; then
    lane_kubectl delete namespaces -l app.kubernetes.io/managed-by=netverdict --wait=false >/dev/null 2>&1 || true
    lane_kubectl delete pods --all --all-namespaces --grace-period=1 --timeout=60s >/dev/null 2>&1 || true
  fi
  if lane_alive containerd; then
    local sandbox
    for sandbox in $(lane_ctr tasks ls -q 2>/dev/null); do
      lane_ctr tasks kill -s KILL "$sandbox" >/dev/null 2>&1 || true
    done
    sleep 1
    for sandbox in $(lane_ctr tasks ls -q 2>/dev/null); do
      lane_ctr tasks delete -f "$sandbox" >/dev/null 2>&1 || true
    done
  fi
  lane_stop_all
  # Shims of this containerd (their command line names its socket) outlive it by design.
  local pid
  for pid in $(lane_own_processes); do
    echo "stopping leftover runtime process $pid: $(tr '\0' ' ' </proc/$pid/cmdline | cut -c1-120)" >&2
    kill -KILL "$pid" 2>/dev/null || true
  done
  sleep 0.5
  lane_unmount_all
  local ns
  for ns in $(comm -13 "$LANE_SNAPSHOT/netns" <(safety_netns)); do
    case $ns in cni-*) umount "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns" ;; esac
  done
  ip link show "$LANE_BRIDGE" >/dev/null 2>&1 && ip link delete "$LANE_BRIDGE"
  local link
  for link in $(ip -o link show type veth | awk -F': ' '{print $2}' | sed 's/@.*//'); do
    grep -qx "$link" "$LANE_SNAPSHOT/links" || [[ $link == "$SAFETY_OTHERS"* ]] \
      || { [[ $link == veth* ]] && ip link delete "$link" 2>/dev/null; } || true
  done
  lane_remove_cgroups
  local path
  for path in "${SAFETY_PATHS[@]}"; do
    [ -e "$path" ] && ! grep -qx "$path" "$LANE_SNAPSHOT/paths" && rm -rf "$path"
  done
  return 0
}

# Processes whose command line names the lane's work directory or cache.
lane_own_processes() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" = $$ ] && continue
    tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -qE "($LANE_WORK|$LANE_CACHE/bin)" && echo "$pid"
  done
  return 0
}

lane_unmount_all() {
  local target i
  for ((i = 0; i < 3; i++)); do
    awk '{print $5}' /proc/self/mountinfo | grep -E "^($LANE_WORK|/run/containerd)(/|$)" | sort -r \
      | while read -r target; do umount "$target" 2>/dev/null || umount -l "$target" 2>/dev/null || true; done
  done
}

lane_remove_cgroups() {
  local hierarchy
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy$LANE_CGROUP" ] || continue
    find "$hierarchy$LANE_CGROUP" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
