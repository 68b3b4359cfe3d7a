#!/bin/sh
# Regenerates deploy/job.yaml and deploy/library/namespaces.yaml from deploy/job.yaml.in,
# deploy/rbac/namespaced.yaml, deploy/rbac/results.yaml and the scenario library (scenarios/): the library as a ConfigMap
# (with the Job's volume items that mount it back), a Role and RoleBinding per namespace of the
# library, and those namespaces with their labels. The test suite fails when they are stale.
set -eu
cd "$(dirname "$0")/.."
NETVERDICT_UPDATE_DEPLOY=1 exec cargo test --quiet --test deploy -- --exact generated_manifests_are_up_to_date
