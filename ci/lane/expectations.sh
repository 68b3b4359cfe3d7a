# shellcheck shell=bash
# What the real lane expects of today's netverdict, in one place. Every check of the lane must
# pass, except those listed here with the reason they fail today; a listed check that passes is
# reported (and fails the lane) so that this list stays true. Emptying it makes the whole lane a
# hard gate.
# shellcheck disable=SC2034 # read by ci/real-cluster.sh
declare -A LANE_KNOWN_BROKEN=(
  [library-allows-pass]="the lane has no cluster DNS (Debian packages no CoreDNS) and no emulated external hosts (external.test, 198.51.100.10): the allows of DNS and of external hosts cannot pass there"
  [library-denies-unenforced]="the lane's network (Debian has no NetworkPolicy enforcer) does not enforce policies; netverdict must detect that and report every deny as 'policy not enforced' (and preflight must say so)"
  [library-matches-local]="cluster DNS and external hosts (external.test, 198.51.100.10) exist only in the local cluster, and this v1.20 server stops port-range with the setup error of its dropped endPort"
)
