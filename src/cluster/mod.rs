//! Operations on the cluster under test, through its API only: connect, create the run's
//! objects, wait for probe pods, exec in them, and clean up by label.

mod cleanup;
mod client;
mod death;
mod endpoints;
mod exec;
mod failure;
mod labels;
mod namespace;
mod objects;
mod permissions;
mod probe_pod;
mod results;
mod sharing;
mod stored;
#[cfg(test)]
mod testing;
mod wait;

pub(crate) use cleanup::{Cleaned, CleanupProblem, Limits, delete_leftovers, delete_run};
#[cfg(test)]
pub(crate) use cleanup::{Kind, Object, RequestProblem};
pub(crate) use client::{ClusterTarget, ConnectError, connect};
pub(crate) use death::{Death, fates};
pub(crate) use endpoints::{endpoint_source, has_ready_endpoint};
pub(crate) use exec::exec_lines;
pub(crate) use failure::Failure;
pub(crate) use labels::{RUN_KEY, RunId};
pub(crate) use namespace::{
    NamespaceError, NamespaceOrigin, Terminating, ensure_namespace, wait_all_gone,
};
pub(crate) use objects::{CreateError, create_pod, create_policy, create_service, owner};
pub(crate) use permissions::{Checked, check_run, degraded, missing, refusal};
pub(crate) use probe_pod::{
    ProbePodOptions, ProbePodSpec, needs_unprivileged_port_sysctl, protocol_name,
};
pub(crate) use results::{ResultsTarget, store as store_results};
pub(crate) use sharing::refuse_shared;
pub(crate) use wait::{PodKey, PodStartError, start_hint, wait_started};
