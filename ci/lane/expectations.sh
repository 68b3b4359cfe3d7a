# shellcheck shell=bash
# What the real lane expects of today's netverdict, in one place. Every check of the lane must
# pass, except those listed here with the reason they fail today; a listed check that passes is
# reported (and fails the lane) so that this list stays true. It is empty: the whole lane is a
# hard gate.
# shellcheck disable=SC2034 # read by ci/real-cluster.sh
declare -A LANE_KNOWN_BROKEN=()
