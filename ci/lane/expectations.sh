# shellcheck shell=bash
# What the real lane expects of today's netverdict, in one place. Every check of the lane must
# pass, except those listed here with the reason they fail today; a listed check that passes is
# reported (and fails the lane) so that this list stays true. Emptying it makes the whole lane a
# hard gate.
# shellcheck disable=SC2034 # read by ci/real-cluster.sh
declare -A LANE_KNOWN_BROKEN=(
  [library-completes]="probe pods ask for the sysctl net.ipv4.ip_unprivileged_port_start, which kubelets before 1.22 forbid (SysctlForbidden); with it allowed, exec fails next: this v1.20 server offers v4.channel.k8s.io only, netverdict shuts stdin down after the batch request, under v4 kube-rs can only close the whole WebSocket, and every probe ends 'exec in POD failed: the API sent no exit status'"
  [library-allows-pass]="needs exec on v4-only servers and probe pods without the forbidden sysctl (see library-completes)"
  [library-denies-unenforced]="the lane's network (Debian has no NetworkPolicy enforcer) does not enforce policies; netverdict must detect that and report every deny as 'policy not enforced' (and preflight must say so)"
  [library-matches-local]="the real run cannot judge probes yet (see library-completes); external hosts (external.test, 198.51.100.10) and cluster DNS exist only in the local cluster"
  [endport-setup-error]="a v1.20 server drops spec.ingress[].ports[].endPort silently; netverdict must compare what was stored with what was sent and report a setup error naming the field"
  [back-to-back-runs]="needs exec on v4-only servers (see library-completes); the second run must also wait for the first run's Terminating namespaces"
)
