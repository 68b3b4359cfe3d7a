//! Operations on the cluster under test, through its API only: connect, create the run's
//! objects, wait for probe pods, exec in them, and clean up by label.

mod cleanup;
mod client;
mod death;
mod endpoints;
mod exec;
mod failure;
mod labels;
mod live;
mod namespace;
mod objects;
mod permissions;
mod probe_pod;
mod results;
mod sharing;
mod stored;
#[cfg(test)]
pub(crate) mod testing;
mod wait;

pub(crate) use cleanup::{Cleaned, CleanupProblem, Limits, delete_leftovers, delete_run};
#[cfg(test)]
pub(crate) use cleanup::{Kind, Object, RequestProblem};
pub(crate) use client::{ClusterTarget, ConnectError, connect};
pub(crate) use death::{Death, fates, live_fates};
pub(crate) use endpoints::{EndpointsError, wait_ready_endpoints};
#[cfg(test)]
pub(crate) use exec::ExitStatusError;
pub(crate) use exec::{ExecError, exec_lines, stderr_suffix};
pub(crate) use failure::Failure;
pub(crate) use labels::{RUN_KEY, RunId};
pub(crate) use live::{LiveQuery, ReadError, live_pod, read_live};
pub(crate) use namespace::{
    NamespaceError, NamespaceOrigin, Terminating, ensure_namespace, wait_all_gone,
};
pub(crate) use objects::{
    CreateError, create_owner, create_pod, create_policy, create_service, owner, owner_name,
};
pub(crate) use permissions::{
    Checked, LiveUse, Need, PermissionError, canary_allowed, canary_needs, check_needs, check_run,
    degraded, missing,
};
pub(crate) use probe_pod::{
    MimicIdentity, NEVER_READY, ProbePodOptions, ProbePodSpec, needs_unprivileged_port_sysctl,
    protocol_name,
};
pub(crate) use results::{ResultsTarget, StoreError, store as store_results};
pub(crate) use sharing::{SharingError, refuse_shared, run_of};
pub(crate) use wait::{PodKey, PodStartError, start_hint, wait_started};
