# shellcheck shell=bash
# The real lane's checks against the real server. Each is a function `check_NAME` run as a named
# step; ci/lane/expectations.sh says which ones are known to fail today. Sourced by
# ci/real-cluster.sh.

# shellcheck disable=SC2034 # read by ci/real-cluster.sh
LANE_CHECKS=(
  pod-runs kubectl-exec no-default-route service-connects exec-protocol
  sa-token-auth missing-permission-creates-nothing namespaced-rbac-runs interrupt-leaves-nothing
  library-completes library-allows-pass library-denies-unenforced preflight-says-unenforced local-cni-none
  library-matches-local endport-setup-error back-to-back-runs cleanup-all
)

NS=lane-checks

lane_pod_yaml() {
  local name=$1 label=$2
  shift 2
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: $NS, labels: {app: $label}}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532}
  containers:
  - name: main
    image: $LANE_PROBE_IMAGE
    imagePullPolicy: Never
    args: [$*]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
YAML
}

check_pod-runs() {
  lane_kubectl create namespace "$NS" >/dev/null
  {
    lane_pod_yaml server server serve, --tcp, "'8080'"
    echo ---
    lane_pod_yaml client client serve, --tcp, "'8080'"
    echo ---
    cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: server, namespace: $NS}
spec:
  selector: {app: server}
  ports: [{port: 80, targetPort: 8080}]
YAML
  } | lane_kubectl apply -f - >/dev/null
  lane_kubectl -n "$NS" wait --for=condition=Ready pod/server pod/client --timeout=120s
}

check_kubectl-exec() {
  local out
  out=$(lane_kubectl -n "$NS" exec client -- netverdict --version)
  echo "exec: $out"
  [ -n "$out" ]
}

# Inside a pod: routes for the pod and Service ranges only.
check_no-default-route() {
  local pid routes
  pid=$(lane_ctr tasks ls | awk 'NR>1 && $3=="RUNNING" {print $2; exit}')
  routes=$(nsenter --net="/proc/$pid/ns/net" ip route)
  echo "ip route in a pod:"
  echo "$routes" | sed 's/^/  /'
  if echo "$routes" | grep -q '^default'; then echo "a pod has a default route"; return 1; fi
  [ "$(echo "$routes" | awk '{print $1}' | sort | tr '\n' ' ')" = "$LANE_POD_CIDR $LANE_SERVICE_CIDR " ]
  # The same seen by the pod's own process (the image has no ip tool): no 0.0.0.0 destination.
  local table
  table=$(lane_kubectl -n "$NS" exec client -- cat /proc/net/route)
  if echo "$table" | awk 'NR > 1 {print $2}' | grep -qx 00000000; then
    echo "the pod's /proc/net/route has a default route"
    return 1
  fi
}

check_service-connects() {
  local ip endpoints
  ip=$(lane_kubectl -n "$NS" get service server -o jsonpath='{.spec.clusterIP}')
  lane_wait "the Service's endpoint" 30 sh -c "'$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' -n $NS get endpoints server -o jsonpath='{.subsets[0].addresses[0].ip}' | grep -q ."
  endpoints=$(lane_kubectl -n "$NS" get endpoints server -o jsonpath='{.subsets[0].addresses[*].ip}')
  echo "service server: cluster IP $ip, endpoints $endpoints"
  # kube-proxy programs the Service a moment after its endpoints appear.
  lane_wait "a connection through the Service" 30 \
    "$LANE_CACHE/bin/kubectl" --kubeconfig "$LANE_WORK/admin.kubeconfig" -n "$NS" exec client -- nc -z -w 2 -n "$ip" 80
  lane_kubectl -n "$NS" exec client -- nc -vz -w 3 -n "$ip" 80
}

# Which exec subprotocol the server picks when offered v5 and v4.
check_exec-protocol() {
  local token answer
  token=$(awk -F, '$2=="admin" {print $1}' "$LANE_WORK/pki/tokens.csv")
  answer=$(curl -s --http1.1 --max-time 5 -o /dev/null -D - --cacert "$LANE_WORK/pki/ca.crt" \
    -H "Authorization: Bearer $token" -H "Connection: Upgrade" -H "Upgrade: websocket" \
    -H "Sec-WebSocket-Version: 13" -H "Sec-WebSocket-Key: bmV0dmVyZGljdGxhbmUxMg==" \
    -H "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io" \
    "https://$LANE_NODE_IP:$LANE_API_PORT/api/v1/namespaces/$NS/pods/client/exec?command=true&stdout=1" || true)
  local chosen
  chosen=$(echo "$answer" | tr -d '\r' | awk -F': ' 'tolower($1)=="sec-websocket-protocol" {print $2}')
  echo "offered v5.channel.k8s.io and v4.channel.k8s.io; the server chose: ${chosen:-nothing}"
  [ "$chosen" = v4.channel.k8s.io ]
}

check_sa-token-auth() {
  lane_kubectl -n "$NS" create serviceaccount limited >/dev/null
  lane_wait "the ServiceAccount's token" 30 sh -c "'$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' -n $NS get serviceaccount limited -o jsonpath='{.secrets[0].name}' | grep -q ."
  lane_sa_kubeconfig limited "$LANE_WORK/limited.kubeconfig"
  local whoami
  whoami=$("$LANE_CACHE/bin/kubectl" --kubeconfig "$LANE_WORK/limited.kubeconfig" auth can-i list pods -n "$NS" 2>&1 || true)
  echo "limited ServiceAccount may list pods: $whoami"
  [ "$whoami" = no ]
}

lane_sa_kubeconfig() {
  local sa=$1 file=$2 secret token
  secret=$(lane_kubectl -n "$NS" get serviceaccount "$sa" -o jsonpath='{.secrets[0].name}')
  token=$(lane_kubectl -n "$NS" get secret "$secret" -o jsonpath='{.data.token}' | base64 -d)
  lane_kubeconfig "$file" "system:serviceaccount:$NS:$sa" "$token"
  chmod 0600 "$file"
}

lane_netverdict() { "$LANE_NETVERDICT" "$@"; }

# Objects any run of netverdict left in the cluster (namespaces that are going away excepted).
lane_leftovers() {
  lane_kubectl get pods,services,networkpolicies --all-namespaces -l app.kubernetes.io/managed-by=netverdict -o name
  lane_kubectl get namespaces -l app.kubernetes.io/managed-by=netverdict \
    -o jsonpath='{range .items[?(@.status.phase=="Active")]}{.metadata.name}{"\n"}{end}'
}

# A ServiceAccount without any permission: netverdict stops before creating anything, and says
# what the server answered.
check_missing-permission-creates-nothing() {
  local rc=0
  lane_netverdict run scenarios/allow-from-pod.yaml --kubeconfig "$LANE_WORK/limited.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" -q >"$LANE_RESULTS/limited.out" 2>&1 || rc=$?
  echo "exit $rc: $(head -c 300 "$LANE_RESULTS/limited.out")"
  # The real server's access reviews say what is missing before anything is created: each
  # permission named with the rule to add, never a Debug dump of a Status.
  [ $rc = 3 ] && [ -z "$(lane_leftovers)" ] \
    && grep -q 'nothing was created' "$LANE_RESULTS/limited.out" \
    && grep -q 'missing: create pods in namespace afp (create probe pods): add the rule' "$LANE_RESULTS/limited.out" \
    && ! grep -q 'Status {' "$LANE_RESULTS/limited.out"
}

# deploy/rbac/namespaced.yaml, bound in the scenario's existing namespace, is all a run needs.
check_namespaced-rbac-runs() {
  local rc=0 secret token
  lane_kubectl create namespace ddi >/dev/null
  sed 's/netverdict-probes/ddi/' deploy/rbac/namespaced.yaml | lane_kubectl apply -f - >/dev/null
  lane_wait "the netverdict ServiceAccount's token" 30 sh -c "'$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' -n netverdict get serviceaccount netverdict -o jsonpath='{.secrets[0].name}' | grep -q ."
  secret=$(lane_kubectl -n netverdict get serviceaccount netverdict -o jsonpath='{.secrets[0].name}')
  token=$(lane_kubectl -n netverdict get secret "$secret" -o jsonpath='{.data.token}' | base64 -d)
  lane_kubeconfig "$LANE_WORK/namespaced.kubeconfig" system:serviceaccount:netverdict:netverdict "$token"
  chmod 0600 "$LANE_WORK/namespaced.kubeconfig"
  lane_netverdict run scenarios/default-deny-ingress.yaml --kubeconfig "$LANE_WORK/namespaced.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" --pod-timeout 60s -q >"$LANE_RESULTS/namespaced.out" 2>&1 || rc=$?
  echo "run with the namespaced RBAC exited $rc (0 or 1: the run completed, no permission missing): $(tail -1 "$LANE_RESULTS/namespaced.out")"
  sed 's/netverdict-probes/ddi/' deploy/rbac/namespaced.yaml | lane_kubectl delete -f - --wait=false >/dev/null
  lane_kubectl delete namespace ddi --wait=false >/dev/null
  { [ $rc = 0 ] || [ $rc = 1 ]; } && ! grep -q 'missing: ' "$LANE_RESULTS/namespaced.out"
}

# Ctrl-C while the run waits for its pods (kept Pending on a cordoned node) leaves nothing.
check_interrupt-leaves-nothing() {
  lane_kubectl cordon "$LANE_NODE" >/dev/null
  # Background jobs of a script start with SIGINT ignored: restore it, as a terminal would have it.
  env --default-signal=INT "$LANE_NETVERDICT" run scenarios/three-tier.yaml --kubeconfig "$LANE_WORK/admin.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" --pod-timeout 60s -q >"$LANE_RESULTS/interrupt.out" 2>&1 &
  local pid=$! rc=0
  lane_wait "the run's pods" 60 sh -c "'$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' get pods -A -l app.kubernetes.io/managed-by=netverdict -o name | grep -q ."
  kill -INT "$pid"
  wait "$pid" || rc=$?
  lane_kubectl uncordon "$LANE_NODE" >/dev/null
  echo "interrupted run exited $rc: $(head -1 "$LANE_RESULTS/interrupt.out")"
  grep -qi interrupt "$LANE_RESULTS/interrupt.out"
  lane_wait "the interrupted run's objects to go" 60 sh -c "[ -z \"\$('$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' get pods,services,networkpolicies -A -l app.kubernetes.io/managed-by=netverdict -o name)\" ]"
}

check_library-completes() {
  local rc=0
  lane_netverdict run scenarios/ --kubeconfig "$LANE_WORK/admin.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" --pod-timeout 2m --json "$LANE_RESULTS/real.json" \
    --junit "$LANE_RESULTS/real.xml" >"$LANE_RESULTS/real.out" 2>&1 || rc=$?
  echo "netverdict run exited $rc (0 or 1 = every probe judged); last lines:"
  tail -5 "$LANE_RESULTS/real.out" | sed 's/^/  /'
  [ $rc = 0 ] || [ $rc = 1 ]
}

# lane_probes FILE FILTER: count of probes matching a jq filter, in which $setup is the setup
# error of the probe's scenario ("" when its setup went well).
lane_probes() {
  jq "[.scenarios[] | (.setupError // \"\") as \$setup | .probes[] | select($2)] | length" "$1" \
    2>/dev/null || echo -1
}

# What the lane's cluster lacks, in jq: probes that need cluster DNS (DNS probes, targets by
# name), the emulated external hosts (their addresses), or NetworkPolicy endPort (which this
# v1.20 server drops: its scenario's setup fails naming the field; see endport-setup-error).
# shellcheck disable=SC2016 # jq variables, not the shell's
LANE_NEEDS_MISSING='(.via == "dns" or .to == "cluster-dns" or (.to | startswith("host:"))
  or (.to | test("^ip:(203[.]0[.]113|198[.]51[.]100)[.]")) or ($setup | test("endPort")))'
# ... which can then only be reported as not judgeable, with the cause: DNS that does not
# answer, an address without a route, a DNS server nothing shows to listen, the dropped field.
LANE_UNJUDGED='((.status == "error" or .status == "inconclusive")
  and ((.message // "") | test("DNS|dns-|unreachable|listens|endPort")))'

# Every allow that needs nothing the lane lacks passes; every one that does is reported as not
# judgeable with the cause, never as a pass nor as a plain failure.
check_library-allows-pass() {
  local file=$LANE_RESULTS/real.json all passed unjudged bad
  all=$(lane_probes "$file" '.expect == "allow"')
  passed=$(lane_probes "$file" ".expect == \"allow\" and ($LANE_NEEDS_MISSING | not) and .status == \"pass\"")
  unjudged=$(lane_probes "$file" ".expect == \"allow\" and $LANE_NEEDS_MISSING and $LANE_UNJUDGED")
  bad=$((all - passed - unjudged))
  echo "allow probes: $all; passed: $passed (all that need neither cluster DNS, an external host nor endPort);"
  echo "  not judgeable for want of those, with the cause: $unjudged; anything else: $bad"
  [ "$all" -gt 0 ] && [ "$passed" -gt 0 ] && [ "$bad" = 0 ]
}

# The run found that the network does not enforce NetworkPolicy, and every deny that needs
# nothing the lane lacks fails as "policy not enforced", unless the cluster's policies allow it
# (the failure is then the expectation's, on this cluster: egress-cidr-except assumes pods in the
# private ranges, and the lane's are in 198.18.0.0/24); the others are not judgeable.
check_library-denies-unenforced() {
  local file=$LANE_RESULTS/real.json all unenforced allowed unjudged bad enforcement
  enforcement=$(jq -r '.enforcement // "not checked"' "$file")
  all=$(lane_probes "$file" '.expect == "deny"')
  unenforced=$(lane_probes "$file" ".expect == \"deny\" and ($LANE_NEEDS_MISSING | not) and .status == \"fail\" and (.message | test(\": policy not enforced: the network does not enforce NetworkPolicy\"))")
  allowed=$(lane_probes "$file" ".expect == \"deny\" and ($LANE_NEEDS_MISSING | not) and .status == \"fail\" and .prediction.agrees == false and (.message | test(\"policies allow this\"))")
  unjudged=$(lane_probes "$file" ".expect == \"deny\" and $LANE_NEEDS_MISSING and $LANE_UNJUDGED")
  bad=$((all - unenforced - allowed - unjudged))
  echo "enforcement: $enforcement ($(jq -r '.enforcementEvidence // ""' "$file"))"
  echo "deny probes: $all; failed as policy not enforced: $unenforced; failed as the cluster's policies"
  echo "  allow them: $allowed; not judgeable for want of cluster DNS, an external host or endPort,"
  echo "  with the cause: $unjudged; anything else: $bad"
  jq -r '.scenarios[].probes[] | select(.expect == "deny" and .status == "fail") | .message' "$file" | head -1 | sed 's/^/  e.g. /'
  [ "$enforcement" = not-enforced ] && [ "$unenforced" -gt 0 ] && [ "$bad" = 0 ]
}

# preflight's canary says so too.
check_preflight-says-unenforced() {
  local rc=0
  lane_netverdict preflight scenarios/ --kubeconfig "$LANE_WORK/admin.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" -o json >"$LANE_RESULTS/preflight.json" 2>"$LANE_RESULTS/preflight.err" || rc=$?
  local check
  check=$(jq -c '.checks[] | select(.check == "networkpolicy-enforcement")' "$LANE_RESULTS/preflight.json")
  echo "preflight exited $rc (3: a run could not go as wanted): $check"
  [ $rc = 3 ] && echo "$check" | jq -e '.status == "failed" and .enforced == false and (.message | startswith("NetworkPolicy is not enforced"))' >/dev/null
}

# The same files on a local cluster emulating the lane: no enforcement, v1.20's API and kubelet,
# exec v4 only, no cluster DNS, no external hosts.
check_local-cni-none() {
  local rc=0
  lane_netverdict run scenarios/ --local --cni none --emulate lane --json "$LANE_RESULTS/local.json" \
    --junit "$LANE_RESULTS/local.xml" >"$LANE_RESULTS/local.out" 2>&1 || rc=$?
  echo "netverdict run --local --cni none --emulate lane exited $rc (1 expected: denies are not enforced)"
  [ $rc = 1 ]
}

check_library-matches-local() {
  python3 ci/lane/compare.py "$LANE_RESULTS/real.json" "$LANE_RESULTS/local.json" \
    | tee "$LANE_RESULTS/comparison.txt"
}

check_endport-setup-error() {
  local rc=0
  lane_netverdict run scenarios/port-range.yaml --kubeconfig "$LANE_WORK/admin.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" --pod-timeout 2m >"$LANE_RESULTS/endport.out" 2>&1 || rc=$?
  echo "exit $rc: $(grep -m1 -i endport "$LANE_RESULTS/endport.out" || echo 'no mention of endPort')"
  [ $rc = 3 ] && grep -qi endport "$LANE_RESULTS/endport.out"
}

check_back-to-back-runs() {
  local first=0 second=0
  lane_netverdict run scenarios/allow-from-pod.yaml --kubeconfig "$LANE_WORK/admin.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" -q >"$LANE_RESULTS/first.out" 2>&1 || first=$?
  lane_netverdict run scenarios/allow-from-pod.yaml --kubeconfig "$LANE_WORK/admin.kubeconfig" \
    --probe-image "$LANE_PROBE_IMAGE" -q >"$LANE_RESULTS/second.out" 2>&1 || second=$?
  echo "first run exited $first, second $second; second: $(tail -2 "$LANE_RESULTS/second.out" | tr '\n' ' ' | cut -c1-300)"
  [ $first = 1 ] && [ $second = 1 ]
}

check_cleanup-all() {
  lane_netverdict cleanup --all --kubeconfig "$LANE_WORK/admin.kubeconfig"
  lane_wait "no netverdict objects" 90 sh -c "[ -z \"\$('$LANE_CACHE/bin/kubectl' --kubeconfig '$LANE_WORK/admin.kubeconfig' get pods,services,networkpolicies,namespaces -A -l app.kubernetes.io/managed-by=netverdict -o name)\" ]"
}
